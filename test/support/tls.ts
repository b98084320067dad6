// TLS for the tests: a certificate authority and server and client certificates made with openssl
// at test time (RSA 2048 and ECDSA P-256) in a fresh temporary directory, and the C ucspi-ssl
// (sslserver/sslclient 0.95b) to compare against, found in shared/peers/ucspi-ssl next to the
// repository or a directory above it.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { cBinary, ROOT } from './programs';
import { tempDir } from './tmp';

const run = promisify(execFile);

export const NEED_OPENSSL: string | false = cBinary('openssl') ? false : 'openssl not installed: apt-get install openssl';

/** shared/peers/ucspi-ssl in the repository's parent directory or one of its ancestors, or null. */
function findPeer(): string | null {
  for (let dir = dirname(ROOT); ; dir = dirname(dir)) {
    const p = join(dir, 'shared', 'peers', 'ucspi-ssl');
    if (existsSync(join(p, 'bin', 'sslserver'))) return p;
    if (dirname(dir) === dir) return null;
  }
}

export const UCSPI_SSL = findPeer();
/** Skip reason for a test against the C ucspi-ssl, or false. */
export const NEED_UCSPI_SSL: string | false = UCSPI_SSL
  ? false
  : 'the C ucspi-ssl is not in ../shared/peers/ucspi-ssl (nor above): differential test skipped';

export function cSsl(name: 'sslserver' | 'sslclient'): string {
  return join(UCSPI_SSL as string, 'bin', name);
}

/** What the C sslserver needs besides the certificate (OpenSSL 3 refuses its compiled-in DH file). */
export function cSslserverEnv(): Record<string, string> {
  return { DHFILE: join(UCSPI_SSL as string, 'dh2048.pem') };
}

export interface Credentials {
  readonly cert: string;
  readonly key: string;
  /** key then certificate, one file (tcpserver -s -n) */
  readonly combined: string;
}

export interface TestPki {
  readonly dir: string;
  /** the CA's certificate: what clients trust */
  readonly ca: string;
  /** RSA 2048 server certificate for localhost, 127.0.0.1 and ::1 */
  readonly rsa: Credentials;
  /** ECDSA P-256 server certificate, same names */
  readonly ecdsa: Credentials;
  /** the RSA key encrypted with `password` */
  readonly encryptedKey: string;
  readonly password: string;
  /** a client certificate signed by the CA */
  readonly client: Credentials;
  /** a server certificate signed by the CA for other.example only */
  readonly other: Credentials;
  /** a self-signed certificate nobody trusts, and its key */
  readonly stranger: Credentials;
}

const EC_P256 = ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

async function signed(
  dir: string,
  name: string,
  keyArgs: string[],
  subject: string,
  ext: string,
  how: { days?: string; ca?: string; caDir?: string } = {},
): Promise<Credentials> {
  await openssl(dir, 'req', '-newkey', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  writeFileSync(join(dir, `${name}.ext`), ext);
  // a serial each (one serial file shared by certificates signed at once would be a race)
  const serial = `0x${randomBytes(15).toString('hex')}`;
  const ca = join(how.caDir ?? dir, how.ca ?? 'ca');
  // -days -1: expired since yesterday
  await openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    serial,
    '-out',
    `${name}.pem`,
    '-days',
    how.days ?? '2',
    '-extfile',
    `${name}.ext`,
  );
  return credentials(dir, name);
}

function credentials(dir: string, name: string): Credentials {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const combined = join(dir, `${name}.combined.pem`);
  writeFileSync(combined, readFileSync(key, 'latin1') + readFileSync(cert, 'latin1'), 'latin1');
  return { cert, key, combined };
}

/**
 * A self-signed ECDSA P-256 certificate for `subject`, valid two days, as `<name>.pem` and
 * `<name>.key` in `dir`; `extra`: more options for `openssl req` (`-utf8`).
 */
export async function selfSigned(dir: string, name: string, subject: string, ...extra: string[]): Promise<Credentials> {
  await openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    ...EC_P256,
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    ...extra,
    '-subj',
    subject,
  );
  return credentials(dir, name);
}

const SERVER_EXT = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n';

/**
 * A fresh CA and certificates under a temporary directory removed after the test file. Call it at
 * the top level of the file (the directory's removal is registered where it is called).
 */
export function makeTestPki(): Promise<TestPki> {
  return makePki(tempDir('ucspi-ts-pki-'));
}

/** A fresh CA and certificates in `dir` (the benchmarks' too). */
export async function makePki(dir: string): Promise<TestPki> {
  await openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=ucspi-ts test CA',
  );
  const [rsa, ecdsa, client, other] = await Promise.all([
    signed(dir, 'rsa', ['rsa:2048'], '/C=DE/ST=Berlin/O=ucspi-ts tests/OU=TLS/CN=localhost', SERVER_EXT),
    signed(dir, 'ecdsa', EC_P256, '/C=DE/O=ucspi-ts tests/CN=localhost', SERVER_EXT),
    signed(dir, 'client', EC_P256, '/O=ucspi-ts tests/CN=client.example', 'extendedKeyUsage=clientAuth\n'),
    signed(dir, 'other', EC_P256, '/CN=other.example', 'subjectAltName=DNS:other.example\n'),
  ]);
  const stranger = await selfSigned(dir, 'stranger', '/CN=localhost');
  const password = 'correct horse';
  const encryptedKey = join(dir, 'rsa.encrypted.key');
  await openssl(dir, 'pkey', '-in', 'rsa.key', '-aes256', '-passout', `pass:${password}`, '-out', encryptedKey);
  return { dir, ca: join(dir, 'ca.pem'), rsa, ecdsa, encryptedKey, password, client, other, stranger };
}

/**
 * A server certificate the test CA signs for `names` (DNS names; the first is also the CN), ECDSA
 * P-256, in `dir` as `<file>.pem` and `<file>.key` (an existing pair is replaced: a renewal).
 */
export function makeServerCertificate(pki: TestPki, file: string, names: readonly string[], dir = pki.dir): Promise<Credentials> {
  const ext = `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`;
  return signed(dir, file, EC_P256, `/CN=${names[0]}`, ext, { caDir: pki.dir });
}

/** Client certificates for sslserver's -m and -z, beyond TestPki's `client` (all ECDSA P-256). */
export interface ClientPki {
  /** signed by the test CA, dNSName client.example and honest.example, CN someone.example */
  readonly named: Credentials;
  /** signed by the test CA, expired yesterday */
  readonly expired: Credentials;
  /** signed by a CA nobody trusts */
  readonly foreign: Credentials;
  /** signed by an intermediate CA the test CA signed; the file holds the intermediate after it */
  readonly intermediate: Credentials;
}

/** The client certificates of ClientPki, in the directory of `pki` (its CA signing). */
export async function makeClientPki(pki: TestPki): Promise<ClientPki> {
  const dir = pki.dir;
  const clientExt = 'extendedKeyUsage=clientAuth\n';
  await selfSigned(dir, 'foreign-ca', '/CN=foreign CA');
  await openssl(
    dir,
    'req',
    '-newkey',
    ...EC_P256,
    '-nodes',
    '-keyout',
    'sub-ca.key',
    '-out',
    'sub-ca.csr',
    '-subj',
    '/CN=ucspi-ts test sub CA',
  );
  writeFileSync(join(dir, 'sub-ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n');
  await openssl(
    dir,
    'x509',
    '-req',
    '-in',
    'sub-ca.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '0x51',
    '-out',
    'sub-ca.pem',
    '-days',
    '2',
    '-extfile',
    'sub-ca.ext',
  );
  const [named, expired, foreign, intermediate] = await Promise.all([
    signed(dir, 'named', EC_P256, '/CN=someone.example', `${clientExt}subjectAltName=DNS:client.example,DNS:Honest.Example\n`),
    signed(dir, 'expired', EC_P256, '/CN=client.example', clientExt, { days: '-1' }),
    signed(dir, 'foreign', EC_P256, '/CN=client.example', clientExt, { ca: 'foreign-ca' }),
    signed(dir, 'intermediate', EC_P256, '/CN=client.example', clientExt, { ca: 'sub-ca' }),
  ]);
  writeFileSync(intermediate.cert, readFileSync(intermediate.cert, 'latin1') + readFileSync(join(dir, 'sub-ca.pem'), 'latin1'), 'latin1');
  return { named, expired, foreign, intermediate };
}

export interface TlsExchangeOptions {
  readonly host?: string;
  /** the name sent by SNI (default localhost; null: none) */
  readonly servername?: string | null;
  /** a client certificate to present */
  readonly cert?: Credentials;
  readonly localAddress?: string;
  readonly send?: string | Buffer;
  /**
   * end our side after sending (close_notify); default true. Not with TLS 1.2 where an answer is
   * awaited that does not depend on our end: there a close_notify closes both ways, and OpenSSL
   * drops application data that arrives after it has sent one (a race the server cannot win)
   */
  readonly end?: boolean;
  /** trust this CA file (default: accept any certificate) */
  readonly ca?: string;
  readonly version?: 'TLSv1.2' | 'TLSv1.3';
  readonly timeoutMs?: number;
}

export interface TlsExchange {
  /** everything the server sent until it closed */
  readonly data: Buffer;
  readonly protocol: string | null;
  readonly cipher: string | null;
  /** the server's certificate's subject CN */
  readonly serverName: string | null;
  /** how it ended: a clean close, or the error's code */
  readonly ending: string;
}

/** Connect with Node's TLS client, send, and read until the server closes. */
export function tlsExchange(port: number, o: TlsExchangeOptions = {}): Promise<TlsExchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const ca = o.ca ? readFileSync(o.ca) : undefined;
    const s = tlsConnect({
      port,
      host: o.host ?? '127.0.0.1',
      // passed on to net.connect (ConnectionOptions does not declare them)
      ...({ localAddress: o.localAddress, allowHalfOpen: true } as object),
      ca,
      rejectUnauthorized: ca !== undefined,
      servername: o.servername === null ? undefined : (o.servername ?? 'localhost'),
      cert: o.cert ? readFileSync(o.cert.cert) : undefined,
      key: o.cert ? readFileSync(o.cert.key) : undefined,
      minVersion: o.version,
      maxVersion: o.version,
    });
    let protocol: string | null = null;
    let cipher: string | null = null;
    let serverName: string | null = null;
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new Error(
          `no close from the server within ${o.timeoutMs ?? 15_000} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`,
        ),
      );
    }, o.timeoutMs ?? 15_000);
    s.on('secureConnect', () => {
      protocol = s.getProtocol();
      cipher = s.getCipher()?.name ?? null;
      serverName = String(s.getPeerCertificate()?.subject?.CN ?? '') || null;
      if (o.send !== undefined) s.write(o.send);
      if (o.end ?? true) s.end();
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    // the server is done: so are we (half-open only so far, to read its last words)
    s.on('end', () => s.end());
    let ending = 'close';
    s.on('error', (e: NodeJS.ErrnoException) => (ending = e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), protocol, cipher, serverName, ending });
    });
  });
}

/**
 * openssl s_server for one connection (its stdin kept open: at its end of file s_server hangs up);
 * resolves with its port, and `done` with its output when it ends.
 */
export async function sServer(args: string[]): Promise<{ port: number; done: Promise<string> }> {
  const p = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-naccept', '1', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('latin1');
  p.stderr.setEncoding('latin1');
  p.stderr.on('data', (d: string) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    p.stdout.on('data', (d: string) => {
      out += d;
      const m = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    p.on('exit', () => reject(new Error(`s_server exited: ${out}`)));
  });
  const timer = setTimeout(() => p.kill(), 20_000);
  const done = once(p, 'exit').then(() => {
    clearTimeout(timer);
    return out;
  });
  return { port, done };
}

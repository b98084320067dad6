// A TLS context made once at start-up from the files the originals name (sslserver: CERTFILE,
// KEYFILE, CERTCHAINFILE, CAFILE, DHFILE, CIPHERS from its environment; sslclient: -c, -k, -a, -A,
// -z; tcpserver -s: the one PEM file of -n), each failure told apart as the originals tell it.
import { createPrivateKey, KeyObject, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, SecureContext, SecureContextOptions } from 'node:tls';
import { children, readTlv } from './der';
import type { ContextFailure } from './messages';

export interface ContextSettings {
  /** CERTCHAINFILE: the certificate then its chain, in one PEM file; wins over certFile */
  readonly chainFile?: string | null;
  readonly certFile?: string | null;
  /** null: the key is in the certificate's own file */
  readonly keyFile?: string | null;
  /** the key's password (-3) */
  readonly password?: Buffer | null;
  /** certificates to trust (a client's server check; a server's client-certificate check) */
  readonly caFile?: string | null;
  /** a directory of them, every PEM file in it read */
  readonly caDir?: string | null;
  readonly dhFile?: string | null;
  /** an OpenSSL cipher list for TLS 1.2 and below; TLS 1.3 suites stay OpenSSL's unless named */
  readonly ciphers?: string | null;
}

export type ContextResult = { readonly context: SecureContext } | { readonly failure: ContextFailure };

const PEM_CERTIFICATE = /-----BEGIN (?:TRUSTED |X509 )?CERTIFICATE-----[\s\S]*?-----END (?:TRUSTED |X509 )?CERTIFICATE-----/g;

/** The certificates of a PEM text, each checked; null when there is none or one does not parse. */
export function pemCertificates(text: string): X509Certificate[] | null {
  const blocks = text.match(PEM_CERTIFICATE);
  if (!blocks) return null;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    return null;
  }
}

/** A file's text (latin1), or null when it cannot be read. */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

function loadKey(path: string, password: Buffer | null | undefined): KeyObject | null {
  const pem = readText(path);
  if (pem === null) return null;
  try {
    // never a prompt: an encrypted key without a password fails
    return createPrivateKey({ key: pem, format: 'pem', passphrase: password ?? '' });
  } catch {
    return null;
  }
}

/** Every certificate in the PEM files of a directory (others are passed over, as OpenSSL's lookup does). */
function directoryCertificates(dir: string): X509Certificate[] | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null;
  }
  const out: X509Certificate[] = [];
  for (const name of names.sort()) {
    const text = readText(join(dir, name));
    const certs = text === null ? null : pemCertificates(text);
    if (certs) out.push(...certs);
  }
  return out;
}

const PEM_DH = /-----BEGIN (?:X9\.42 )?DH PARAMETERS-----([\s\S]*?)-----END/;
/** OpenSSL 3's floor at its default security level (Node only warns below it; ucspi-ssl fails). */
const MIN_DH_BITS = 2048;

/** DH parameters (Node takes any PEM without a word), with a prime of at least MIN_DH_BITS. */
function strongDhParameters(text: string): boolean {
  const m = PEM_DH.exec(text);
  if (!m) return false;
  try {
    const [prime] = children(readTlv(Buffer.from(m[1], 'base64')).value);
    const p = prime.value[0] === 0 ? prime.value.subarray(1) : prime.value;
    return p.length * 8 - Math.clz32(p[0]) + 24 >= MIN_DH_BITS;
  } catch {
    return false;
  }
}

function accepted(options: SecureContextOptions): boolean {
  try {
    createSecureContext(options);
    return true;
  } catch {
    return false;
  }
}

export function makeContext(s: ContextSettings): ContextResult {
  const options: SecureContextOptions = {};
  const certPath = s.chainFile ?? s.certFile ?? null;
  if (certPath !== null) {
    const failure: ContextFailure = s.chainFile ? 'chain' : 'cert';
    const text = readText(certPath);
    const certs = text === null ? null : pemCertificates(text);
    if (!certs) return { failure };
    const key = loadKey(s.keyFile ?? certPath, s.password);
    if (!key) return { failure: 'key' };
    if (!certs[0].checkPrivateKey(key)) return { failure: 'mismatch' };
    options.cert = certs.map((c) => c.toString()).join('');
    // the key goes in decrypted: the password's bytes were used as they are
    options.key = key.export({ format: 'pem', type: 'pkcs8' }) as string;
  }
  const ca: string[] = [];
  if (s.caFile) {
    const text = readText(s.caFile);
    const certs = text === null ? null : pemCertificates(text);
    if (!certs) return { failure: 'ca' };
    ca.push(...certs.map((c) => c.toString()));
  }
  if (s.caDir) {
    const certs = directoryCertificates(s.caDir);
    if (!certs) return { failure: 'ca' };
    ca.push(...certs.map((c) => c.toString()));
  }
  // none given: Node's built-in roots (Mozilla's list, as Debian's ca-certificates)
  if (ca.length > 0) options.ca = ca;
  if (s.dhFile) {
    const dh = readText(s.dhFile);
    if (dh === null || !strongDhParameters(dh) || !accepted({ dhparam: dh })) return { failure: 'dh' };
    options.dhparam = dh;
  } else {
    // well-known groups for DHE, where ucspi-ssl needs a DHFILE
    options.dhparam = 'auto';
  }
  if (s.ciphers) {
    if (!accepted({ ciphers: s.ciphers })) return { failure: 'ciphers' };
    options.ciphers = s.ciphers;
  }
  try {
    return { context: createSecureContext(options) };
  } catch {
    return { failure: 'context' };
  }
}

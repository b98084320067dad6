// What looking at the certificates' files before each handshake costs (src/tls/server-certificates.ts:
// a stat of the certificate and of the key, so that a renewed certificate counts from the next
// connection with no restart), and handshakes per second with SNI certificates, side by side in one
// run: our sslserver with a default and three named certificates (the client asking for one of
// them), our sslserver with the default only, and the C sslserver (ucspi-ssl 0.95b, which has no SNI:
// one certificate), alternating. Loopback only, bounded.
//
//   npm run build && node dist/bench/sni.js [seconds-per-point] [rounds]
//
// - µs per look: ServedCertificate.current() with files unchanged (what every handshake pays per
//   certificate it touches: the default one, and the named one when the client asks for a name),
//   next to a bare statSync of one file;
// - handshakes/s: CLIENTS Node TLS clients in this process, each connecting, reading the program's
//   `ok`, hanging up, in a loop (TLS 1.3, ECDSA P-256, full handshakes).
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { ServedCertificate } from '../src/tls/server-certificates';
import { cSslserverEnv, makePki, makeServerCertificate, UCSPI_SSL } from '../test/support/tls';

const ROOT = join(__dirname, '..', '..');
const SECONDS = Number(process.argv[2] ?? 3);
const ROUNDS = Number(process.argv[3] ?? 2);
const CLIENTS = 4;
const LOOKS = 200_000;

const DIR = mkdtempSync(join(tmpdir(), 'ucspi-ts-bench-sni-'));
process.on('exit', () => rmSync(DIR, { recursive: true, force: true }));

function microseconds(n: number, f: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

interface Server {
  readonly port: number;
  readonly proc: ChildProcess;
}

function start(file: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const proc = spawn(file, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'echo ok'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ port: Number(out.slice(0, nl)), proc });
    });
    proc.on('exit', () => reject(new Error(`${file} exited before listening`)));
  });
}

function stop(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.proc.once('exit', () => resolve());
    s.proc.kill('SIGTERM');
  });
}

function oneConnection(port: number, servername: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    tls.on('data', () => {});
    tls.on('end', () => tls.end());
    tls.on('error', reject);
    tls.on('close', () => resolve());
  });
}

async function handshakesPerSecond(port: number, servername: string): Promise<number> {
  const until = Date.now() + SECONDS * 1000;
  let count = 0;
  const loop = async () => {
    while (Date.now() < until) {
      await oneConnection(port, servername);
      count++;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CLIENTS }, loop));
  return count / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function main(): Promise<void> {
  const pki = await makePki(DIR);
  const names = ['mail.example.org', 'www.example.net', '*.example.com'];
  const named = await Promise.all(names.map((n, i) => makeServerCertificate(pki, `named${i}`, [n])));

  const report = { reloaded: () => {}, failed: () => {} };
  const served = ServedCertificate.load(null, { certFile: pki.ecdsa.cert, keyFile: pki.ecdsa.key }, {}, report);
  if ('failure' in served) throw new Error(`the certificate does not load: ${served.failure}`);
  microseconds(LOOKS / 10, () => served.current());
  const look = microseconds(LOOKS, () => served.current());
  const stat = microseconds(LOOKS, () => statSync(pki.ecdsa.cert, { bigint: true }));
  console.log(`looking at a certificate's files (2 stats): ${look.toFixed(2)} µs; one statSync: ${stat.toFixed(2)} µs (${LOOKS} each)`);

  const base = { CERTFILE: pki.ecdsa.cert, KEYFILE: pki.ecdsa.key };
  const withNames: NodeJS.ProcessEnv = { ...base };
  names.forEach((n, i) => {
    withNames[`CERTFILE:${n}`] = named[i].cert;
    withNames[`KEYFILE:${n}`] = named[i].key;
  });
  const ours = join(ROOT, 'bin', 'sslserver');
  const kinds: Array<[string, string, NodeJS.ProcessEnv]> = [
    ['ours, 3 names + default (asks www.example.net)', ours, withNames],
    ['ours, default only', ours, base],
  ];
  // the C sslserver loads RSA keys only
  if (UCSPI_SSL)
    kinds.push([
      'C sslserver (no SNI, RSA)',
      join(UCSPI_SSL, 'bin', 'sslserver'),
      { CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key, ...cSslserverEnv() },
    ]);
  else console.log('the C sslserver is not in shared/peers/ucspi-ssl: its column is missing');
  kinds.push(['ours, default only, RSA', ours, { CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key }]);

  const results = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [kind, file, env] of kinds) {
      const s = await start(file, env);
      try {
        await oneConnection(s.port, 'www.example.net');
        results.get(kind)!.push(await handshakesPerSecond(s.port, 'www.example.net'));
      } finally {
        await stop(s);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`handshakes/s, ${CLIENTS} clients, ${SECONDS} s a point, ${ROUNDS} rounds alternating (median; all)`);
  for (const [kind, xs] of results) console.log(`  ${kind}: ${median(xs).toFixed(0)} (${xs.map((x) => x.toFixed(0)).join(', ')})`);
  const c = results.get('C sslserver (no SNI, RSA)');
  if (c) {
    const rsa = median(results.get('ours, default only, RSA')!) / median(c);
    console.log(`  ratio ours/C, RSA, default only: ${rsa.toFixed(2)}`);
  }
  const sni = median(results.get(kinds[0][0])!) / median(results.get(kinds[1][0])!);
  console.log(`  ratio with names / without (ECDSA): ${sni.toFixed(2)}`);
  console.log(`load average: ${readFileSync('/proc/loadavg', 'latin1').trim()}`);
}

void main();

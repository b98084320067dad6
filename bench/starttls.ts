// STARTTLS sessions per second: our sslserver -n against the C sslserver -n (ucspi-ssl 0.95b from
// shared/peers), side by side in one run, alternating, with the same certificate (RSA 2048, ECDSA
// P-256 for ours only: 0.95b loads RSA keys only) and the same UCSPI-TLS program, a few lines of sh:
// greet, offer STARTTLS, answer it, write `y` on SSLCTLFD, switch to SSLREADFD/SSLWRITEFD, answer
// EHLO and QUIT. A session, from a Node client in this process: connect, greeting, EHLO, STARTTLS,
// 220, a full TLS 1.3 handshake on the same socket, EHLO and QUIT inside TLS, close. Loopback only,
// bounded by time.
//
//   npm run build && node dist/bench/starttls.js [seconds-per-point] [rounds]
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { ReplyReader } from '../test/support/smtp-client';
import { makePki, UCSPI_SSL } from '../test/support/tls';

const ROOT = join(__dirname, '..', '..');
const SECONDS = Number(process.argv[2] ?? 3);
const ROUNDS = Number(process.argv[3] ?? 2);
const CONCURRENCY = [1, 10];

const DIR = mkdtempSync(join(tmpdir(), 'ucspi-ts-bench-starttls-'));
process.on('exit', () => rmSync(DIR, { recursive: true, force: true }));

// dash's read takes a byte at a time: nothing past the line is read from the socket
const PROGRAM = `#!/bin/sh
printf '220 bench ESMTP\\r\\n'
read -r l
printf '250-bench\\r\\n250 STARTTLS\\r\\n'
read -r l
printf '220 go ahead\\r\\n'
printf y >&$SSLCTLFD
eval "exec 0<&$SSLREADFD 1>&$SSLWRITEFD $SSLCTLFD>&-"
read -r l
printf '250 bench\\r\\n'
read -r l
printf '221 bench\\r\\n'
`;

type Kind = 'ours' | 'C sslserver';

interface Server {
  readonly port: number;
  readonly proc: ChildProcess;
}

function start(kind: Kind, cert: string, key: string, program: string): Promise<Server> {
  const bin = kind === 'ours' ? join(ROOT, 'bin', 'sslserver') : join(UCSPI_SSL as string, 'bin', 'sslserver');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, CERTFILE: cert, KEYFILE: key };
  if (kind === 'C sslserver') env.DHFILE = join(UCSPI_SSL as string, 'dh2048.pem');
  const args = ['-1', '-q', '-n', '-c', '100', '-b', '100', '-R', '-H', '-l', 'bench', '127.0.0.1', '0', program];
  const proc = spawn('sh', ['-c', 'ulimit -n 16384; exec "$@"', 'sh', bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve({ port: Number(m[1]), proc });
    });
    proc.on('exit', () => reject(new Error(`${kind} exited`)));
  });
}

function stop(s: Server): Promise<void> {
  return new Promise((resolve) => {
    if (s.proc.exitCode !== null) return resolve();
    s.proc.on('exit', () => resolve());
    s.proc.kill('SIGTERM');
  });
}

/** One STARTTLS session; resolves true when it went through. */
async function session(port: number, ca: Buffer): Promise<boolean> {
  const socket: Socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  try {
    const clear = new ReplyReader(socket);
    if (!(await clear.reply())?.startsWith('220')) return false;
    socket.write('EHLO bench.client\r\n');
    if (!(await clear.reply())?.includes('STARTTLS')) return false;
    socket.write('STARTTLS\r\n');
    if (!(await clear.reply())?.startsWith('220')) return false;
    socket.removeAllListeners('data');
    const tls = tlsConnect({ socket, ca: [ca], servername: 'localhost' });
    tls.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    const secure = new ReplyReader(tls);
    tls.write('EHLO bench.client\r\n');
    if (!(await secure.reply())?.startsWith('250')) return false;
    tls.write('QUIT\r\n');
    const ok = (await secure.reply())?.startsWith('221') ?? false;
    tls.destroy();
    return ok;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/** Sessions per second with `clients` loops for SECONDS. */
async function rate(port: number, ca: Buffer, clients: number): Promise<{ rate: number; failed: number }> {
  const end = Date.now() + SECONDS * 1000;
  let done = 0;
  let failed = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < end) {
        if (await session(port, ca)) done++;
        else failed++;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { rate: done / seconds, failed };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const pki = await makePki(DIR);
  const program = join(DIR, 'starttls-smtpd');
  writeFileSync(program, PROGRAM);
  chmodSync(program, 0o755);
  const ca = readFileSync(pki.ca);
  const kinds: Kind[] = UCSPI_SSL ? ['ours', 'C sslserver'] : ['ours'];
  console.log(
    `load average at the start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  for (const [label, creds] of [
    ['RSA 2048', pki.rsa],
    ['ECDSA P-256', pki.ecdsa],
  ] as const) {
    const results = new Map<string, number[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const clients of CONCURRENCY) {
        // alternating which goes first
        const order = round % 2 === 0 ? kinds : [...kinds].reverse();
        for (const kind of order) {
          if (kind === 'C sslserver' && label !== 'RSA 2048') continue;
          const s = await start(kind, creds.cert, creds.key, program);
          const r = await rate(s.port, ca, clients);
          await stop(s);
          const k = `${kind}|${clients}`;
          results.set(k, [...(results.get(k) ?? []), r.rate]);
          if (r.failed) console.log(`  (${kind}, ${clients} clients: ${r.failed} sessions failed)`);
        }
      }
    }
    console.log(`\n${label}: STARTTLS sessions/s (median of ${ROUNDS} rounds, ${SECONDS} s each)`);
    console.log('| clients | ours | C sslserver -n | ours / C |');
    console.log('|---|---|---|---|');
    for (const clients of CONCURRENCY) {
      const ours = median(results.get(`ours|${clients}`) ?? [NaN]);
      const c = median(results.get(`C sslserver|${clients}`) ?? [NaN]);
      console.log(
        `| ${clients} | ${ours.toFixed(0)} | ${Number.isNaN(c) ? 'n/a' : c.toFixed(0)} | ${Number.isNaN(c) ? 'n/a' : (ours / c).toFixed(2)} |`,
      );
    }
  }
  console.log(
    `\nload average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

void main();

// TLS servers side by side in one run: our sslserver, the C sslserver (ucspi-ssl 0.95b from
// shared/peers, skipped without it) and stunnel4 running the program per connection (exec=), with the
// same certificates (RSA 2048 and ECDSA P-256) and the same trivial program. Loopback only, bounded.
//
//   npm run build && node dist/bench/tls.js [seconds-per-point] [rounds] [handshakes,bulk,memory]
//   SSLSERVER_BASELINE=/other/tree/bin/sslserver node dist/bench/tls.js ...   (ours against another build of ours)
//
// - new handshakes per second at 1, 10 and 40 concurrent clients: `openssl s_time -new` processes,
//   each a client in a loop (TLS 1.3, full handshake, the program `echo ok`, hang up);
// - bulk MB/s through `cat`: one connection, 64 MB each way at once, from a Node client;
// - memory: the server's RSS and PSS idle, then with 1,000 TLS connections open and idle (the program
//   `cat`); for the C sslserver and stunnel its own processes only (the C sslserver's per-connection
//   TLS processes count, the programs do not), per connection = (held - idle) / 1,000.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { cpuTimesMs, procStat } from '../test/support/proc';
import { randomLoopbackIp } from '../test/support/loopback';
import { makePki, TestPki, UCSPI_SSL } from '../test/support/tls';

const ROOT = join(__dirname, '..', '..');
const SECONDS = Number(process.argv[2] ?? 3);
const ROUNDS = Number(process.argv[3] ?? 2);
const PARTS = new Set((process.argv[4] ?? 'handshakes,bulk,memory').split(','));
const STUNNEL = '/usr/bin/stunnel4';
const CONNECTIONS_HELD = 1000;
const BULK_BYTES = 64 * 1024 * 1024;
const run = promisify(execFile);

type Kind = 'ours' | 'C sslserver' | 'stunnel4' | 'baseline';
const BASELINE = process.env.SSLSERVER_BASELINE;

interface Server {
  readonly kind: Kind;
  readonly proc: ChildProcess;
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
}

interface Credentials {
  readonly cert: string;
  readonly key: string;
}

const DIR = mkdtempSync(join(tmpdir(), 'ucspi-ts-bench-tls-'));
process.on('exit', () => rmSync(DIR, { recursive: true, force: true }));

function waitFor(proc: ChildProcess, stream: NodeJS.ReadableStream, re: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    stream.on('data', (d) => {
      out += d;
      const m = re.exec(out);
      if (m) resolve(m);
    });
    proc.on('exit', () => reject(new Error(`${what} exited: ${out}`)));
  });
}

async function tcpUp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, host, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

function stopper(proc: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.on('exit', () => resolve());
      proc.kill('SIGTERM');
    });
}

async function start(kind: Kind, creds: Credentials, program: string[], limit: number): Promise<Server> {
  if (kind === 'stunnel4') {
    const host = randomLoopbackIp();
    const port = 4443;
    const conf = join(DIR, `stunnel-${randomBytes(4).toString('hex')}.conf`);
    writeFileSync(
      conf,
      [
        'foreground = yes',
        'pid =',
        'syslog = no',
        'debug = 0',
        '[bench]',
        `accept = ${host}:${port}`,
        `cert = ${creds.cert}`,
        `key = ${creds.key}`,
        `exec = /bin/${program[0]}`,
        `execArgs = ${program.join(' ')}`,
        '',
      ].join('\n'),
    );
    const proc = spawn('sh', ['-c', `ulimit -n 16384; exec ${STUNNEL} ${conf}`], { stdio: ['ignore', 'ignore', 'ignore'] });
    for (let i = 0; i < 100 && !(await tcpUp(host, port)); i++) await new Promise((r) => setTimeout(r, 50));
    return { kind, proc, host, port, stop: stopper(proc) };
  }
  const bin =
    kind === 'ours'
      ? join(ROOT, 'bin', 'sslserver')
      : kind === 'baseline'
        ? (BASELINE as string)
        : join(UCSPI_SSL as string, 'bin', 'sslserver');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, CERTFILE: creds.cert, KEYFILE: creds.key };
  if (kind === 'C sslserver') env.DHFILE = join(UCSPI_SSL as string, 'dh2048.pem');
  const args = [
    '-1',
    '-q',
    '-c',
    String(limit),
    '-b',
    '100',
    '-R',
    '-H',
    '-l',
    'bench',
    '127.0.0.1',
    '0',
    `/bin/${program[0]}`,
    ...program.slice(1),
  ];
  const proc = spawn('sh', ['-c', 'ulimit -n 16384; exec "$@"', 'sh', bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const m = await waitFor(proc, proc.stdout!, /^(\d+)\n/, kind);
  return { kind, proc, host: '127.0.0.1', port: Number(m[1]), stop: stopper(proc) };
}

/** Handshakes per second with `clients` s_time loops for SECONDS. */
async function handshakeRate(s: Server, clients: number): Promise<number> {
  const runs = Array.from({ length: clients }, () =>
    run('openssl', ['s_time', '-connect', `${s.host}:${s.port}`, '-new', '-time', String(SECONDS)], {
      timeout: (SECONDS + 30) * 1000,
    }).then(
      (r) => r.stdout,
      (e) => String((e as { stdout?: string }).stdout ?? ''),
    ),
  );
  let total = 0;
  let seconds = 0;
  for (const out of await Promise.all(runs)) {
    const m = /(\d+) connections in (\d+) real seconds/.exec(out);
    if (!m) continue;
    total += Number(m[1]);
    seconds = Math.max(seconds, Number(m[2]));
  }
  return total / Math.max(seconds, SECONDS);
}

function tlsClient(s: Server): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const c = tlsConnect({ host: s.host, port: s.port, rejectUnauthorized: false });
    c.once('secureConnect', () => resolve(c));
    c.once('error', reject);
  });
}

/** CPU seconds (user and system) the processes have used so far. */
function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuTimesMs(pid).own, 0) / 1000;
}

/** MB/s each way, `bytes` written and read back through cat on one connection, and the server's CPU ms per MB relayed each way. */
async function bulk(s: Server, bytes = BULK_BYTES): Promise<{ rate: number; cpuMsPerMb: number }> {
  const c = await tlsClient(s);
  // the C sslserver's TLS process for this connection exists once the handshake is done
  const pids = serverPids(s);
  const cpuBefore = cpuSeconds(pids);
  const chunk = randomBytes(64 * 1024);
  const started = process.hrtime.bigint();
  let received = 0;
  const done = new Promise<void>((resolve) => {
    c.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= bytes) resolve();
    });
  });
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!c.write(chunk)) await new Promise((r) => c.once('drain', r));
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSeconds(pids) - cpuBefore;
  c.destroy();
  const mb = bytes / 1024 / 1024;
  return { rate: mb / seconds, cpuMsPerMb: (cpu * 1000) / mb };
}

/** The server's own processes: the server, and for the C sslserver its TLS processes. */
function serverPids(s: Server): number[] {
  const root = s.proc.pid as number;
  if (s.kind !== 'C sslserver') return [root];
  const pids = [root];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = procStat(Number(entry));
    if (!fields || Number(fields[1]) !== root) continue;
    // a TLS process is still sslserver; the program it forked has exec'd cat
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'latin1').trim() === 'sslserver') pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

function memoryKb(pids: number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { rss, pss };
}

async function memory(s: Server): Promise<{ idleRss: number; heldRss: number; perConnRss: number; perConnPss: number; opened: number }> {
  // a few connections first, so that idle means "warmed up"
  for (let i = 0; i < 20; i++) (await tlsClient(s)).destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const idle = memoryKb(serverPids(s));
  const held: TLSSocket[] = [];
  for (let i = 0; i < CONNECTIONS_HELD; i += 20) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(20, CONNECTIONS_HELD - i) }, () => tlsClient(s)));
    for (const b of batch) if (b.status === 'fulfilled') held.push(b.value);
  }
  await new Promise((r) => setTimeout(r, 3000));
  const full = memoryKb(serverPids(s));
  for (const c of held) c.destroy();
  return {
    idleRss: idle.rss,
    heldRss: full.rss,
    perConnRss: (full.rss - idle.rss) / held.length,
    perConnPss: (full.pss - idle.pss) / held.length,
    opened: held.length,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const kinds: Kind[] = ['ours'];
  if (BASELINE) kinds.push('baseline');
  else {
    if (UCSPI_SSL) kinds.push('C sslserver');
    else console.log('(the C sslserver is not in shared/peers/ucspi-ssl: left out)');
    kinds.push('stunnel4');
  }
  const pki: TestPki = await makePki(DIR);
  console.log(
    `load average at start: ${readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' ')}; ${SECONDS} s per point, ${ROUNDS} rounds, alternating`,
  );
  for (const [keyName, creds] of [
    ['RSA 2048', pki.rsa],
    ['ECDSA P-256', pki.ecdsa],
  ] as const) {
    console.log(`\n## ${keyName}\n`);
    console.log('| measure | ' + kinds.join(' | ') + ' | ours / best other |');
    console.log('|---|' + kinds.map(() => '---|').join('') + '---|');
    // a server that cannot run with these credentials (ucspi-ssl 0.95b loads RSA keys only) is n/a
    const usable = new Set<Kind>();
    for (const kind of kinds) {
      const s = await start(kind, creds, ['echo', 'ok'], 100).catch(() => null);
      if (
        s &&
        (await tlsClient(s).then(
          (c) => (c.destroy(), true),
          () => false,
        ))
      )
        usable.add(kind);
      await s?.stop();
    }
    const row = (name: string, values: Record<string, number>, higherBetter: boolean, digits = 0) => {
      const others = kinds.filter((k) => k !== 'ours' && usable.has(k)).map((k) => values[k]);
      const best = higherBetter ? Math.max(...others) : Math.min(...others);
      const ratio = higherBetter ? values.ours / best : best / values.ours;
      const shown = kinds.map((k) => (usable.has(k) ? values[k].toFixed(digits) : 'n/a'));
      console.log(`| ${name} | ${shown.join(' | ')} | ${ratio.toFixed(2)} |`);
    };
    for (const clients of PARTS.has('handshakes') ? [1, 10, 40] : []) {
      const samples: Record<string, number[]> = {};
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 ? [...kinds].reverse() : kinds;
        for (const kind of order.filter((k) => usable.has(k))) {
          const s = await start(kind, creds, ['echo', 'ok'], 100);
          (samples[kind] ??= []).push(await handshakeRate(s, clients));
          await s.stop();
        }
      }
      row(
        `handshakes/s, ${clients} client${clients > 1 ? 's' : ''}`,
        Object.fromEntries(kinds.map((k) => [k, median(samples[k] ?? [0])])),
        true,
      );
    }
    const bulkSamples: Record<string, number[]> = {};
    const bulkCpu: Record<string, number[]> = {};
    for (let round = 0; round < (PARTS.has('bulk') ? ROUNDS : 0); round++) {
      const order = round % 2 ? [...kinds].reverse() : kinds;
      for (const kind of order.filter((k) => usable.has(k))) {
        const s = await start(kind, creds, ['cat'], 100);
        // a server that has relayed before (Node compiles its hot paths on first use)
        await bulk(s, BULK_BYTES / 8);
        const b = await bulk(s);
        (bulkSamples[kind] ??= []).push(b.rate);
        (bulkCpu[kind] ??= []).push(b.cpuMsPerMb);
        await s.stop();
      }
    }
    if (PARTS.has('bulk'))
      row('bulk MB/s each way through cat', Object.fromEntries(kinds.map((k) => [k, median(bulkSamples[k] ?? [0])])), true, 1);
    if (PARTS.has('bulk'))
      row('bulk: server CPU ms per MB each way', Object.fromEntries(kinds.map((k) => [k, median(bulkCpu[k] ?? [0])])), false, 2);
    if (keyName === 'RSA 2048' && PARTS.has('memory')) {
      const mem: Record<string, Awaited<ReturnType<typeof memory>>> = {};
      for (const kind of kinds.filter((k) => usable.has(k))) {
        const s = await start(kind, creds, ['cat'], CONNECTIONS_HELD + 10);
        mem[kind] = await memory(s);
        await s.stop();
      }
      row('RSS idle, kB', Object.fromEntries(kinds.map((k) => [k, mem[k].idleRss])), false);
      row(`RSS with ${CONNECTIONS_HELD} open, kB`, Object.fromEntries(kinds.map((k) => [k, mem[k].heldRss])), false);
      row('RSS per open connection, kB', Object.fromEntries(kinds.map((k) => [k, mem[k].perConnRss])), false, 1);
      row('PSS per open connection, kB', Object.fromEntries(kinds.map((k) => [k, mem[k].perConnPss])), false, 1);
      const short = kinds.filter((k) => mem[k].opened < CONNECTIONS_HELD);
      if (short.length) console.log(`(opened fewer than ${CONNECTIONS_HELD}: ${short.map((k) => `${k} ${mem[k].opened}`).join(', ')})`);
    }
  }
  console.log(`\nload average at end: ${readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' ')}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

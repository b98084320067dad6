// tcpserver against the C tcpserver, side by side in one run: connection rate, p50/p99 latency and
// the server's own CPU per connection at 1, 10, 40 and 100 concurrent clients, each plain, with -v
// logging to a file, and with -x (a 20-line rules file, and a 1,000,000-line one); then bulk
// throughput and memory. Loopback only, bounded in count.
//
//   npm run build && node dist/bench/tcpserver.js [connections-per-point=8000]   (the whole table)
//   npm run build && node dist/bench/tcpserver.js quick                          (a smoke check, ~1 min)
//   npm run build && node dist/bench/tcpserver.js [seconds] limits               (ours, limits off vs on)
//   TCPSERVER_UNDER_TEST=/other/tree/bin/tcpserver node dist/bench/tcpserver.js ...  (another build as ours)
//   TCPSERVER_BASELINE=/other/tree/bin/tcpserver node dist/bench/tcpserver.js ...    (against it, not C)
//
// The program is a static one-line program (compiled here with `cc -static` when a C compiler is
// there, else /bin/echo), so that the children cost little next to the servers. Each point starts
// both servers with the same arguments (`-R -H -l localhost -c 100 -b 256`), warms both up, then
// alternates C, ours, C, ours, each with half the connections, so that both see the same machine.
// Server CPU is utime+stime from /proc/<pid>/stat over exactly those connections.
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf, cpuTimesMs } from '../test/support/proc';
import { Rng } from '../test/support/rulesgen';
import { rulesText } from './tcprules';

const ROOT = join(__dirname, '..', '..');
// another build's bin/tcpserver (a before/after comparison), or this one's
const OURS = process.env.TCPSERVER_UNDER_TEST ?? join(ROOT, 'bin', 'tcpserver');
// what ours is measured against: the C tcpserver, or another build of ours (before and after a change)
const C = process.env.TCPSERVER_BASELINE ?? '/usr/bin/tcpserver';
const THEM = process.env.TCPSERVER_BASELINE ? 'baseline' : 'C';
const C_TCPRULES = '/usr/bin/tcprules';

interface Server {
  proc: ChildProcess;
  port: number;
}

function start(bin: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stderr?: number } = {}): Promise<Server> {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['-1', ...args], { stdio: ['ignore', 'pipe', opts.stderr ?? 'inherit'], env: opts.env ?? process.env });
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ proc, port: Number(out.trim()) });
    });
    proc.on('exit', () => reject(new Error(`${bin} exited`)));
  });
}

function stop(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.proc.removeAllListeners('exit');
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) return resolve();
    s.proc.on('exit', () => resolve());
    s.proc.kill('SIGTERM');
  });
}

/** One connection: connect, read to EOF; resolves with bytes read, or -1 on error. */
function oneConnection(port: number): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    const sock = connect(port, '127.0.0.1');
    sock.on('data', (d) => (n += d.length));
    sock.on('error', () => resolve(-1));
    sock.on('close', () => resolve(n));
    sock.end();
  });
}

interface Round {
  count: number;
  seconds: number;
  latencies: number[];
  errors: number;
  /** server CPU over the round, ms */
  cpuMs: number;
  /** CPU of the programs reaped during the round, ms */
  childMs: number;
}

/** `count` connections from `clients` concurrent clients, or for `seconds` when count is 0. */
async function load(port: number, clients: number, count: number, seconds = 0): Promise<Omit<Round, 'cpuMs' | 'childMs'>> {
  const latencies: number[] = [];
  let errors = 0;
  let left = count;
  const deadline = performance.now() + seconds * 1000;
  const more = () => (count > 0 ? left-- > 0 : performance.now() < deadline);
  const worker = async () => {
    while (more()) {
      const t = performance.now();
      const n = await oneConnection(port);
      if (n < 0) errors++;
      else latencies.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, worker));
  return { count: latencies.length, seconds: (performance.now() - t0) / 1000, latencies, errors };
}

async function round(s: Server, clients: number, count: number): Promise<Round> {
  const before = cpuTimesMs(s.proc.pid!);
  const r = await load(s.port, clients, count);
  const after = cpuTimesMs(s.proc.pid!);
  return { ...r, cpuMs: after.own - before.own, childMs: after.children - before.children };
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) : NaN;
}

/** Bytes echoed back by a `cat` server: write `total` bytes, half-close, read everything back. */
function echoThroughput(port: number, total: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1 << 16, 120);
    let sent = 0;
    let received = 0;
    const t = performance.now();
    const sock = connect(port, '127.0.0.1');
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
      sock.end();
    };
    sock.on('connect', pump);
    sock.on('data', (d) => (received += d.length));
    sock.on('error', reject);
    sock.on('close', () => resolve(received / 1e6 / ((performance.now() - t) / 1000)));
  });
}

/** Server RSS idle, then with `n` connections whose programs are all running. */
async function rssWithChildren(bin: string, n: number): Promise<[number, number]> {
  const s = await start(bin, ['-q', '-R', '-H', '-l', 'localhost', '-c', String(n), '-b', String(n), '127.0.0.1', '0', 'sleep', '120']);
  await new Promise((r) => setTimeout(r, 500));
  const idle = rssKb(s.proc.pid!);
  const socks = Array.from({ length: n }, () => connect(s.port, '127.0.0.1').on('error', () => {}));
  const deadline = performance.now() + 60_000;
  while (childrenOf(s.proc.pid!).length < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const loaded = rssKb(s.proc.pid!);
  for (const { pid } of childrenOf(s.proc.pid!)) process.kill(pid, 'SIGKILL');
  for (const sock of socks) sock.destroy();
  await stop(s);
  return [idle, loaded];
}

/** A static program that writes one line, made with the C compiler if there is one; else /bin/echo. */
function oneLineProgram(dir: string): string[] {
  const src = join(dir, 'hello.c');
  const bin = join(dir, 'hello');
  writeFileSync(src, '#include <unistd.h>\nint main(void) { return write(1, "hello\\n", 6) != 6; }\n');
  const cc = spawnSync('cc', ['-O2', '-static', '-o', bin, src], { stdio: 'ignore' });
  return cc.status === 0 && existsSync(bin) ? [bin] : ['/bin/echo', 'hello'];
}

/** A rules cdb compiled by the C tcprules (ours when it is missing: the bytes are the same). */
function compileRules(dir: string, name: string, text: string): string {
  const txt = join(dir, `${name}.txt`);
  const cdb = join(dir, `${name}.cdb`);
  writeFileSync(txt, text);
  const fd = openSync(txt, 'r');
  const tcprules = existsSync(C_TCPRULES) ? C_TCPRULES : join(ROOT, 'bin', 'tcprules');
  const r = spawnSync(tcprules, [cdb, `${cdb}.tmp`], { stdio: [fd, 'ignore', 'inherit'] });
  closeSync(fd);
  if (r.status !== 0) throw new Error(`tcprules failed for ${name}`);
  return cdb;
}

/**
 * 20 rules of a small SMTP server, none of which names 127.0.0.1: a client from there goes through
 * every step of the lookup (exact address, dotted prefixes, CIDR prefixes) to the catch-all.
 */
const SMALL_RULES = [
  '10.1.2.3:allow,RELAYCLIENT=""',
  '10.1.2.4:allow,RELAYCLIENT=""',
  '10.1.2.:allow,RELAYCLIENT=""',
  '192.168.:allow,RELAYCLIENT=""',
  '172.16.0.0/12:allow,RELAYCLIENT=""',
  '203.0.113.7:deny',
  '203.0.113.8:deny',
  '198.51.100.:deny',
  '198.51.101.:deny',
  '198.51.102.:deny',
  '=mail.example.com:allow,RELAYCLIENT=""',
  '=.spam.example:deny',
  'postmaster@10.9.9.9:allow,RELAYCLIENT=""',
  '10.20.30.40-50:allow,MAXCONNIP="2"',
  '10.20.31.:allow,DIEMSG="busy"',
  '10.30.:allow,RBLSMTPD=""',
  '10.40.0.1:deny',
  '10.40.0.2:deny',
  '10.40.0.3:deny',
  ':allow,CATCHALL=""',
].join('\n');

interface Point {
  config: string;
  clients: number;
  c: Round;
  ours: Round;
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;

function merge(a: Round, b: Round): Round {
  return {
    count: a.count + b.count,
    seconds: a.seconds + b.seconds,
    latencies: [...a.latencies, ...b.latencies].sort((x, y) => x - y),
    errors: a.errors + b.errors,
    cpuMs: a.cpuMs + b.cpuMs,
    childMs: a.childMs + b.childMs,
  };
}

async function measure(
  args: string[],
  clients: number,
  connections: number,
  stderrTo: (side: string) => number | undefined,
): Promise<[Round, Round]> {
  const c = await start(C, args, { stderr: stderrTo('c') });
  const o = await start(OURS, args, { stderr: stderrTo('ours') });
  try {
    const warm = Math.min(500, Math.max(100, connections / 10));
    await load(c.port, clients, warm);
    await load(o.port, clients, warm);
    const half = Math.ceil(connections / 2);
    const c1 = await round(c, clients, half);
    const o1 = await round(o, clients, half);
    const c2 = await round(c, clients, half);
    const o2 = await round(o, clients, half);
    return [merge(c1, c2), merge(o1, o2)];
  } finally {
    await stop(c);
    await stop(o);
  }
}

function table(points: Point[]): string {
  const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const rows = [
    `| point | ${THEM} conn/s | ours conn/s | ratio | ${THEM} p50 ms | ours p50 ms | ${THEM} p99 ms | ours p99 ms | p99 ratio | ${THEM} CPU µs/conn | ours CPU µs/conn | CPU ratio |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { config, clients, c, ours } of points) {
    const rate = (r: Round) => r.count / r.seconds;
    const cpu = (r: Round) => (r.cpuMs * 1000) / r.count;
    const errors = c.errors || ours.errors ? ` (failed: C ${c.errors}, ours ${ours.errors})` : '';
    rows.push(
      `| ${config}, ${clients} client${clients > 1 ? 's' : ''}${errors} | ${f(rate(c))} | ${f(rate(ours))} | ${f(rate(ours) / rate(c), 2)} | ` +
        `${f(q(c.latencies, 0.5), 2)} | ${f(q(ours.latencies, 0.5), 2)} | ${f(q(c.latencies, 0.99), 2)} | ${f(q(ours.latencies, 0.99), 2)} | ` +
        `${f(q(ours.latencies, 0.99) / q(c.latencies, 0.99), 2)} | ${f(cpu(c))} | ${f(cpu(ours))} | ${f(cpu(ours) / cpu(c), 2)} |`,
    );
  }
  return rows.join('\n');
}

function childrenTable(points: Point[]): string {
  const rows = [`| point | ${THEM} programs CPU µs/conn | ours programs CPU µs/conn |`, '|---|---|---|'];
  for (const { config, clients, c, ours } of points) {
    rows.push(
      `| ${config}, ${clients} | ${((c.childMs * 1000) / c.count).toFixed(0)} | ${((ours.childMs * 1000) / ours.count).toFixed(0)} |`,
    );
  }
  return rows.join('\n');
}

async function main(quick: boolean, connections: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ucspi-bench-tcpserver-'));
  try {
    const loadBefore = loadavg()[0].toFixed(2);
    const program = oneLineProgram(dir);
    const small = compileRules(dir, 'rules20', SMALL_RULES + '\n');
    const big = compileRules(dir, 'rules1m', rulesText(new Rng(1), quick ? 100_000 : 1_000_000));
    const base = ['-R', '-H', '-l', 'localhost', '-c', '100', '-b', '256'];
    const configs: Array<[string, string[], boolean]> = [
      ['plain', ['-q'], false],
      ['-v to a file', ['-v'], true],
      ['-x 20 rules', ['-q', '-x', small], false],
      [`-x ${quick ? '100,000' : '1,000,000'} rules`, ['-q', '-x', big], false],
    ];
    const points: Point[] = [];
    for (const [config, extra, logged] of configs) {
      for (const clients of quick ? [1, 10] : [1, 10, 40, 100]) {
        const logs: number[] = [];
        const stderrTo = (side: string) => {
          if (!logged) return undefined;
          const fd = openSync(join(dir, `${side}.log`), 'w');
          logs.push(fd);
          return fd;
        };
        const [c, ours] = await measure([...base, ...extra, '127.0.0.1', '0', ...program], clients, connections, stderrTo);
        for (const fd of logs) closeSync(fd);
        points.push({ config, clients, c, ours });
        process.stderr.write(`${config}, ${clients}: done\n`);
      }
    }
    console.log(
      `tcpserver against ${THEM === 'C' ? 'C' : C}, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${connections} connections per point ` +
        `(half C, half ours, alternating), program ${program.length === 1 ? 'a static one-line `hello` (cc -static)' : `\`${program.join(' ')}\``}, ${base.join(' ')}; load average ${loadBefore} at the start, ` +
        `${loadavg()[0].toFixed(2)} at the end\n`,
    );
    console.log(table(points));
    console.log('\nCPU of the programs (reaped children), for comparison:\n');
    console.log(childrenTable(points));
    if (quick) return;

    const rows = [`| measure | ${THEM} | ucspi-ts | ratio (ours/${THEM}) |`, '|---|---|---|---|'];
    const echo = ['-q', '127.0.0.1', '0', 'cat'];
    const c = await start(C, echo);
    const o = await start(OURS, echo);
    const GB = 1e9;
    const ct = Math.max(await echoThroughput(c.port, GB), await echoThroughput(c.port, GB));
    const ot = Math.max(await echoThroughput(o.port, GB), await echoThroughput(o.port, GB));
    rows.push(`| throughput MB/s, 1 GB through \`cat\` and back | ${ct.toFixed(0)} | ${ot.toFixed(0)} | ${(ot / ct).toFixed(2)} |`);
    await stop(c);
    await stop(o);
    const [cIdle, cLoaded] = await rssWithChildren(C, 1000);
    const [oIdle, oLoaded] = await rssWithChildren(OURS, 1000);
    rows.push(`| server RSS kB idle | ${cIdle} | ${oIdle} | ${(oIdle / cIdle).toFixed(1)} |`);
    rows.push(`| server RSS kB with 1,000 live children | ${cLoaded} | ${oLoaded} | ${(oLoaded / cLoaded).toFixed(1)} |`);
    console.log('\n' + rows.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the connection limits cost on the hot path: ours without any limit (nothing is counted)
 * against ours with MAXCONNIP, MAXCONNC and MAXRATEIP set high enough never to refuse (every
 * connection is keyed, counted, rate-checked and released), alternating quarters.
 */
async function limitsMain(seconds: number): Promise<void> {
  const clients = 10;
  const args = ['-q', '-R', '-H', '-l', 'bench', '-c', '100', '-b', '100', '127.0.0.1', '0', 'true'];
  const onEnv = { ...process.env, MAXCONNIP: '1000', MAXCONNC: '1000', MAXRATEIP: '100000000/1' };
  const off = await start(OURS, args);
  const on = await start(OURS, args, { env: onEnv });
  await load(off.port, clients, 0, 0.5);
  await load(on.port, clients, 0, 0.5);
  const cpu0 = [cpuTimesMs(off.proc.pid!).own, cpuTimesMs(on.proc.pid!).own];
  const runs: Array<Array<Awaited<ReturnType<typeof load>>>> = [[], []];
  for (let quarter = 0; quarter < 4; quarter++) {
    runs[0].push(await load(off.port, clients, 0, seconds / 4));
    runs[1].push(await load(on.port, clients, 0, seconds / 4));
  }
  const count = (r: (typeof runs)[0]) => r.reduce((n, x) => n + x.count, 0);
  const cpu = [(cpuTimesMs(off.proc.pid!).own - cpu0[0]) / count(runs[0]), (cpuTimesMs(on.proc.pid!).own - cpu0[1]) / count(runs[1])];
  const mean = (r: (typeof runs)[0], f: (x: (typeof r)[0]) => number) => r.reduce((n, x) => n + f(x), 0) / r.length;
  const fmt = (x: number, d = 0) => x.toFixed(d);
  const row = (name: string, f: (x: (typeof runs)[0][0]) => number, d = 0) =>
    `| ${name} | ${fmt(mean(runs[0], f), d)} | ${fmt(mean(runs[1], f), d)} | ${fmt(mean(runs[1], f) / mean(runs[0], f), 2)} |`;
  const errors = runs.map((r) => r.reduce((n, x) => n + x.errors, 0));
  await stop(off);
  await stop(on);
  console.log(
    `tcpserver limits off vs on, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${seconds} s per side, ${clients} clients, program \`true\`, -c 100 -b 100 -R -H -l bench; on: MAXCONNIP=1000 MAXCONNC=1000 MAXRATEIP=100000000/1\n`,
  );
  console.log(
    [
      '| measure | limits off | limits on | ratio (on/off) |',
      '|---|---|---|---|',
      row(`connections/s, ${clients} clients`, (x) => x.count / x.seconds),
      `| server CPU µs per connection | ${fmt(cpu[0] * 1000)} | ${fmt(cpu[1] * 1000)} | ${fmt(cpu[1] / cpu[0], 2)} |`,
      row(
        'latency p50 ms',
        (x) =>
          q(
            [...x.latencies].sort((a, b) => a - b),
            0.5,
          ),
        2,
      ),
      row(
        'latency p90 ms',
        (x) =>
          q(
            [...x.latencies].sort((a, b) => a - b),
            0.9,
          ),
        2,
      ),
      `| failed connections | ${errors[0]} | ${errors[1]} | |`,
    ].join('\n'),
  );
}

const [first, second] = process.argv.slice(2);
if (second === 'limits') void limitsMain(Number(first ?? 10));
else if (first === 'quick') void main(true, 2000);
else void main(false, Number(first ?? 8000));

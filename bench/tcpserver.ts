// tcpserver against the C tcpserver, side by side in one run: connection rate and latency at 1, 10
// and 40 concurrent clients, bulk throughput, and memory. Loopback only, bounded in time.
//
//   npm run build && node dist/bench/tcpserver.js [seconds-per-point]
//   npm run build && node dist/bench/tcpserver.js [seconds-per-point] limits   (ours, limits off vs on)
import { spawn, ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { childrenOf, procStat } from '../test/support/proc';

const ROOT = join(__dirname, '..', '..');
const OURS = join(ROOT, 'bin', 'tcpserver');
const C = '/usr/bin/tcpserver';
const SECONDS = Number(process.argv[2] ?? 5);

interface Server {
  proc: ChildProcess;
  port: number;
}

function start(bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Server> {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['-1', '-q', '-R', '-H', '-l', 'bench', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
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

interface Load {
  count: number;
  rate: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
}

async function load(port: number, clients: number, seconds: number): Promise<Load> {
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      const n = await oneConnection(port);
      if (n < 0) errors++;
      else latencies.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { count: latencies.length, rate: latencies.length / elapsed, p50: q(0.5), p90: q(0.9), p99: q(0.99), errors };
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const f = procStat(pid) ?? [];
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
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
  const s = await start(bin, ['-c', String(n), '-b', String(n), '127.0.0.1', '0', 'sleep', '120']);
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

async function main(): Promise<void> {
  const rows: string[] = [];
  const fmt = (x: number, d = 0) => x.toFixed(d);
  const program = ['echo', 'hello'];
  rows.push('| measure | C tcpserver | ucspi-ts | ratio (ours/C) |', '|---|---|---|---|');
  for (const limit of [40, 100]) {
    for (const clients of [1, 10, 40]) {
      const args = ['-c', String(limit), '-b', '100', '127.0.0.1', '0', ...program];
      const c = await start(C, args);
      const o = await start(OURS, args);
      await load(c.port, clients, 0.5);
      await load(o.port, clients, 0.5);
      const cpu0 = [cpuMs(c.proc.pid!), cpuMs(o.proc.pid!)];
      // C and ours alternately, twice each, so that both see the same machine noise
      const c1 = await load(c.port, clients, SECONDS / 2);
      const o1 = await load(o.port, clients, SECONDS / 2);
      const c2 = await load(c.port, clients, SECONDS / 2);
      const o2 = await load(o.port, clients, SECONDS / 2);
      const cCpu = (cpuMs(c.proc.pid!) - cpu0[0]) / (c1.count + c2.count);
      const oCpu = (cpuMs(o.proc.pid!) - cpu0[1]) / (o1.count + o2.count);
      const avg = (a: Load, b: Load): Load => ({
        count: a.count + b.count,
        rate: (a.rate + b.rate) / 2,
        p50: (a.p50 + b.p50) / 2,
        p90: (a.p90 + b.p90) / 2,
        p99: Math.max(a.p99, b.p99),
        errors: a.errors + b.errors,
      });
      const cr = avg(c1, c2);
      const or = avg(o1, o2);
      const at = `-c ${limit}, ${clients} client(s)`;
      rows.push(`| connections/s, ${at} | ${fmt(cr.rate)} | ${fmt(or.rate)} | ${fmt(or.rate / cr.rate, 2)} |`);
      rows.push(`| latency p50 ms, ${at} | ${fmt(cr.p50, 2)} | ${fmt(or.p50, 2)} | ${fmt(or.p50 / cr.p50, 2)} |`);
      rows.push(`| latency p99 ms, ${at} | ${fmt(cr.p99, 2)} | ${fmt(or.p99, 2)} | ${fmt(or.p99 / cr.p99, 2)} |`);
      rows.push(`| server CPU µs per connection, ${at} | ${fmt(cCpu * 1000)} | ${fmt(oCpu * 1000)} | ${fmt(oCpu / cCpu, 2)} |`);
      if (cr.errors || or.errors) rows.push(`| failed connections, ${at} | ${cr.errors} | ${or.errors} | |`);
      await stop(c);
      await stop(o);
    }
  }
  const echo = ['127.0.0.1', '0', 'cat'];
  const c = await start(C, echo);
  const o = await start(OURS, echo);
  const GB = 1e9;
  const ct = Math.max(await echoThroughput(c.port, GB), await echoThroughput(c.port, GB));
  const ot = Math.max(await echoThroughput(o.port, GB), await echoThroughput(o.port, GB));
  rows.push(`| throughput MB/s, 1 GB through \`cat\` and back | ${fmt(ct)} | ${fmt(ot)} | ${fmt(ot / ct, 2)} |`);
  await stop(c);
  await stop(o);
  const [cIdle, cLoaded] = await rssWithChildren(C, 1000);
  const [oIdle, oLoaded] = await rssWithChildren(OURS, 1000);
  rows.push(`| server RSS kB idle | ${cIdle} | ${oIdle} | ${fmt(oIdle / cIdle, 1)} |`);
  rows.push(`| server RSS kB with 1,000 live children | ${cLoaded} | ${oLoaded} | ${fmt(oLoaded / cLoaded, 1)} |`);
  console.log(
    `tcpserver benchmark, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${SECONDS} s per point, ` +
      `program \`${program.join(' ')}\`, -b 100 -R -H -l bench\n`,
  );
  console.log(rows.join('\n'));
}

/**
 * What the connection limits cost on the hot path: ours without any limit (nothing is counted)
 * against ours with MAXCONNIP, MAXCONNC and MAXRATEIP set high enough never to refuse (every
 * connection is keyed, counted, rate-checked and released), alternating halves as above.
 */
async function limitsMain(): Promise<void> {
  const clients = 10;
  const args = ['-c', '100', '-b', '100', '127.0.0.1', '0', 'true'];
  const onEnv = { ...process.env, MAXCONNIP: '1000', MAXCONNC: '1000', MAXRATEIP: '100000000/1' };
  const off = await start(OURS, args);
  const on = await start(OURS, args, onEnv);
  await load(off.port, clients, 0.5);
  await load(on.port, clients, 0.5);
  const cpu0 = [cpuMs(off.proc.pid!), cpuMs(on.proc.pid!)];
  const runs: Load[][] = [[], []];
  for (let half = 0; half < 4; half++) {
    runs[0].push(await load(off.port, clients, SECONDS / 4));
    runs[1].push(await load(on.port, clients, SECONDS / 4));
  }
  const count = (r: Load[]) => r.reduce((n, x) => n + x.count, 0);
  const cpu = [(cpuMs(off.proc.pid!) - cpu0[0]) / count(runs[0]), (cpuMs(on.proc.pid!) - cpu0[1]) / count(runs[1])];
  const mean = (r: Load[], f: (x: Load) => number) => r.reduce((n, x) => n + f(x), 0) / r.length;
  const fmt = (x: number, d = 0) => x.toFixed(d);
  const row = (name: string, f: (x: Load) => number, d = 0) =>
    `| ${name} | ${fmt(mean(runs[0], f), d)} | ${fmt(mean(runs[1], f), d)} | ${fmt(mean(runs[1], f) / mean(runs[0], f), 2)} |`;
  const errors = runs.map((r) => r.reduce((n, x) => n + x.errors, 0));
  await stop(off);
  await stop(on);
  console.log(`tcpserver limits off vs on, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${SECONDS} s per side, ${clients} clients, program \`true\`, -c 100 -b 100 -R -H -l bench; on: MAXCONNIP=1000 MAXCONNC=1000 MAXRATEIP=100000000/1\n`);
  console.log(['| measure | limits off | limits on | ratio (on/off) |', '|---|---|---|---|',
    row(`connections/s, ${clients} clients`, (x) => x.rate),
    `| server CPU µs per connection | ${fmt(cpu[0] * 1000)} | ${fmt(cpu[1] * 1000)} | ${fmt(cpu[1] / cpu[0], 2)} |`,
    row('latency p50 ms', (x) => x.p50, 2),
    row('latency p90 ms', (x) => x.p90, 2),
    `| failed connections | ${errors[0]} | ${errors[1]} | |`,
  ].join('\n'));
}

void (process.argv[3] === 'limits' ? limitsMain() : main());

// The cost of the PROXY header: connections per second through HAProxy (TCP mode) to tcpserver,
// without the header and with it (send-proxy-v2 and send-proxy, tcpserver with PROXYFROM), side by
// side and alternating in one run; the C tcpserver behind the same HAProxy without a header as a
// reference. Each connection: connect to HAProxy, read the program's "hello" until it closes.
// Loopback only, bounded in time.
//
//   npm run build && node dist/bench/proxy.js [seconds-per-point] [rounds]
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHaproxy } from '../test/support/haproxy';
import { cpuTimesMs } from '../test/support/proc';

const ROOT = join(__dirname, '..', '..');
const OURS = join(ROOT, 'bin', 'tcpserver');
const C = '/usr/bin/tcpserver';
const SECONDS = Number(process.argv[2] ?? 5);
const ROUNDS = Number(process.argv[3] ?? 3);

function start(bin: string, env: NodeJS.ProcessEnv): Promise<{ proc: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['-1', '-q', '-R', '-H', '-l', 'bench', '-c', '100', '-b', '100', '127.0.0.1', '0', '/bin/echo', 'hello'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env,
    });
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ proc, port: Number(out.trim()) });
    });
    proc.on('exit', () => reject(new Error(`${bin} exited`)));
  });
}

function oneConnection(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let n = 0;
    const sock = connect(port, '127.0.0.1');
    sock.on('data', (d) => (n += d.length));
    sock.on('error', () => resolve(false));
    // no half-close: HAProxy would pass it on and the program's answer could meet a reset
    sock.on('close', () => resolve(n === 6));
  });
}

/** CPU seconds (user and system) a process has used so far. */
const cpuSeconds = (pid: number): number => cpuTimesMs(pid).own / 1000;

async function rate(port: number, clients: number): Promise<{ rate: number; errors: number; count: number }> {
  const deadline = performance.now() + SECONDS * 1000;
  let count = 0;
  let errors = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      if (await oneConnection(port)) count++;
      else errors++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, worker));
  return { rate: count / ((performance.now() - t0) / 1000), errors, count };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-proxy-'));
  // what to stop, even when a measurement fails half way
  const cleanups: Array<() => unknown> = [];
  try {
    await measure(dir, cleanups);
  } finally {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(dir: string, cleanups: Array<() => unknown>): Promise<void> {
  const server = async (bin: string, env: NodeJS.ProcessEnv) => {
    const s = await start(bin, env);
    cleanups.push(() => s.proc.kill('SIGTERM'));
    return s;
  };
  const plain = await server(OURS, process.env);
  const proxied = await server(OURS, { ...process.env, PROXYFROM: '127.0.0.1' });
  const c = await server(C, process.env);
  const h = await startHaproxy(
    dir,
    [
      { name: 'plain', serverOptions: '', to: `127.0.0.1:${plain.port}` },
      { name: 'v2', serverOptions: 'send-proxy-v2', to: `127.0.0.1:${proxied.port}` },
      { name: 'v1', serverOptions: 'send-proxy', to: `127.0.0.1:${proxied.port}` },
      { name: 'c', serverOptions: '', to: `127.0.0.1:${c.port}` },
    ],
    true,
  );
  cleanups.push(() => h.stop());
  const kinds = ['plain', 'v2', 'v1', 'c'] as const;
  const serverPid = { plain: plain.proc.pid!, v2: proxied.proc.pid!, v1: proxied.proc.pid!, c: c.proc.pid! };
  console.log(
    `# bench/proxy.ts: ${SECONDS} s per point, ${ROUNDS} rounds alternating, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const clients of [1, 10]) {
    const sums: Record<string, number[]> = { plain: [], v2: [], v1: [], c: [] };
    // CPU seconds and connections per kind, of the server behind and of HAProxy
    const cpu = Object.fromEntries(kinds.map((k) => [k, { server: 0, haproxy: 0, count: 0 }]));
    let errors = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of kinds) {
        const server0 = cpuSeconds(serverPid[k]);
        const haproxy0 = cpuSeconds(h.pid);
        const x = await rate(h.ports[k], clients);
        cpu[k].server += cpuSeconds(serverPid[k]) - server0;
        cpu[k].haproxy += cpuSeconds(h.pid) - haproxy0;
        cpu[k].count += x.count;
        sums[k].push(x.rate);
        errors += x.errors;
      }
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const m = Object.fromEntries(kinds.map((k) => [k, median(sums[k])]));
    console.log(
      `${clients} client(s): no header ${m.plain.toFixed(0)}/s, v2 ${m.v2.toFixed(0)}/s (${(m.v2 / m.plain).toFixed(3)}x), ` +
        `v1 ${m.v1.toFixed(0)}/s (${(m.v1 / m.plain).toFixed(3)}x), C tcpserver no header ${m.c.toFixed(0)}/s; errors ${errors}`,
    );
    const us = (k: (typeof kinds)[number], who: 'server' | 'haproxy') => ((cpu[k][who] * 1e6) / Math.max(cpu[k].count, 1)).toFixed(0);
    console.log(
      `  CPU µs per connection, server / HAProxy: no header ${us('plain', 'server')} / ${us('plain', 'haproxy')}, ` +
        `v2 ${us('v2', 'server')} / ${us('v2', 'haproxy')}, v1 ${us('v1', 'server')} / ${us('v1', 'haproxy')}, ` +
        `C tcpserver ${us('c', 'server')} / ${us('c', 'haproxy')}`,
    );
  }
  console.log(
    `# load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

void main();

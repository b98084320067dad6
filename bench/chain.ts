// The qmail chain: `tcpserver ... rblsmtpd -r rbl.test prog`, `... recordio prog`, `... fixcrio prog`
// with our tcpserver running the helpers in itself, against the C tcpserver running the C helpers,
// side by side in one run (alternating halves). Connection rate at 1, 10 and 40 clients, and memory
// (PSS of the server and everything under it) per held connection. Loopback only, bounded in time.
//
//   npm run build && node dist/bench/chain.js [seconds-per-point] [held-connections] [rate|memory]
//
// As root: the DNS responder for rbl.test listens on port 53 of a random 127.x address.
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { loadavg } from 'node:os';
import { DnsTestServer } from '../test/support/dns-server';
import { chainEnv, Mode, tcpserverFor } from '../test/support/chain';
import { childrenOf } from '../test/support/proc';

const SECONDS = Number(process.argv[2] ?? 4);
const HELD = Number(process.argv[3] ?? 250);
const ONLY = process.argv[4] ?? 'both';
// Clients connect from 127.0.0.1 without binding first (a bind before each connect makes the
// kernel search its ports among thousands in TIME_WAIT, which slows C and ours alike): the list
// that lists 127.0.0.1 decides whether a client is "listed".
const LISTS = 'rbl.test';
const CLEAN = 'clean.test';

interface Server {
  proc: ChildProcess;
  port: number;
}

function start(mode: Mode, dns: string, chain: string[], limit: number): Promise<Server> {
  const args = ['-1', '-q', '-R', '-H', '-l', 'bench', '-c', String(limit), '-b', String(limit), '127.0.0.1', '0', ...chain];
  return new Promise((resolve, reject) => {
    // recordio's log goes to the server's stderr: /dev/null for both
    const proc = spawn(tcpserverFor(mode), args, { stdio: ['ignore', 'pipe', 'ignore'], env: chainEnv(mode, dns) });
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ proc, port: Number(out.trim()) });
    });
    proc.on('exit', () => reject(new Error(`${mode} tcpserver exited`)));
  });
}

function stop(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.proc.removeAllListeners('exit');
    s.proc.on('exit', () => resolve());
    s.proc.kill('SIGTERM');
  });
}

/** One SMTP-ish connection: send `input`, half-close, read to EOF; bytes read, or -1 on error. */
function oneConnection(port: number, input: string): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    const sock = connect({ port, host: '127.0.0.1' });
    sock.on('data', (d) => (n += d.length));
    sock.on('error', () => resolve(-1));
    sock.on('close', () => resolve(n));
    sock.end(input);
  });
}

interface Load {
  count: number;
  seconds: number;
  errors: number;
}

async function load(port: number, input: string, clients: number, seconds: number): Promise<Load> {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if ((await oneConnection(port, input)) < 0) errors++;
      else count++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, worker));
  return { count, seconds: (performance.now() - t0) / 1000, errors };
}

/** Proportional set size in kB of a process and all its descendants (shared pages split fairly). */
function pssTree(pid: number): number {
  let kb = 0;
  try {
    const m = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
    kb += m ? Number(m[1]) : 0;
  } catch {
    // gone
  }
  for (const c of childrenOf(pid)) kb += pssTree(c.pid);
  return kb;
}

/** Open `n` connections and wait until each has its first bytes (the greeting, or the program's line). */
async function hold(port: number, n: number, socks: Socket[]): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, () => {
      const sock = connect({ port, host: '127.0.0.1' }).on('error', () => {});
      socks.push(sock);
      return new Promise((resolve) => sock.once('data', resolve));
    }),
  );
}

/**
 * kB per held connection: how the tree's PSS grows from `n` held connections to `2n`. The first `n`
 * absorb what any start costs once (code compiled on first use, heap grown to its working size).
 */
async function memoryPerConnection(mode: Mode, dns: string, chain: string[], n: number): Promise<number> {
  const s = await start(mode, dns, chain, 2 * n + 10);
  const socks: Socket[] = [];
  await hold(s.port, n, socks);
  await new Promise((r) => setTimeout(r, 300));
  const first = pssTree(s.proc.pid!);
  await hold(s.port, n, socks);
  await new Promise((r) => setTimeout(r, 300));
  const second = pssTree(s.proc.pid!);
  for (const sock of socks) sock.destroy();
  await stop(s);
  return (second - first) / n;
}

interface Case {
  name: string;
  chain: string[];
  input: string;
}

async function main(): Promise<void> {
  const dns = await DnsTestServer.start({ [`1.0.0.127.${LISTS}`]: { TXT: ['listed'] } });
  const ready = ['sh', '-c', 'echo ready; exec cat'];
  // the program reads the client's line to its end of file and answers: nothing is left unread
  const cases: Case[] = [
    { name: 'rblsmtpd -r, unlisted client', chain: ['rblsmtpd', '-r', CLEAN, 'cat'], input: 'x\n' },
    { name: 'rblsmtpd -r, listed client (QUIT)', chain: ['rblsmtpd', '-r', LISTS, 'cat'], input: 'quit\r\n' },
    { name: 'recordio', chain: ['recordio', 'cat'], input: 'x\n' },
    { name: 'fixcrio', chain: ['fixcrio', 'cat'], input: 'x\n' },
  ];
  const rows = ['| chain | measure | C chain | ucspi-ts in-process | ratio (ours/C) |', '|---|---|---|---|---|'];
  const load0 = loadavg()[0];
  for (const k of ONLY === 'memory' ? [] : cases) {
    for (const clients of [1, 10, 40]) {
      const c = await start('c', dns.address, k.chain, 100);
      const o = await start('in-process', dns.address, k.chain, 100);
      await load(c.port, k.input, clients, 0.3);
      await load(o.port, k.input, clients, 0.3);
      const c1 = await load(c.port, k.input, clients, SECONDS / 2);
      const o1 = await load(o.port, k.input, clients, SECONDS / 2);
      const c2 = await load(c.port, k.input, clients, SECONDS / 2);
      const o2 = await load(o.port, k.input, clients, SECONDS / 2);
      await stop(c);
      await stop(o);
      const rate = (a: Load, b: Load): number => (a.count + b.count) / (a.seconds + b.seconds);
      const [cr, or] = [rate(c1, c2), rate(o1, o2)];
      rows.push(`| ${k.name} | connections/s, ${clients} client(s) | ${cr.toFixed(0)} | ${or.toFixed(0)} | ${(or / cr).toFixed(2)} |`);
      const errors = [c1.errors + c2.errors, o1.errors + o2.errors];
      if (errors[0] || errors[1]) rows.push(`| ${k.name} | failed connections, ${clients} client(s) | ${errors[0]} | ${errors[1]} | |`);
    }
  }
  const held: Case[] = [
    { name: 'rblsmtpd -r, unlisted client', chain: ['rblsmtpd', '-r', CLEAN, ...ready], input: '' },
    { name: 'rblsmtpd -r, listed client', chain: ['rblsmtpd', '-r', LISTS, ...ready], input: '' },
    { name: 'recordio', chain: ['recordio', ...ready], input: '' },
    { name: 'fixcrio', chain: ['fixcrio', ...ready], input: '' },
  ];
  for (const k of ONLY === 'rate' ? [] : held) {
    const c = await memoryPerConnection('c', dns.address, k.chain, HELD);
    const o = await memoryPerConnection('in-process', dns.address, k.chain, HELD);
    rows.push(
      `| ${k.name} | PSS kB per held connection (${HELD} to ${2 * HELD} held) | ${c.toFixed(0)} | ${o.toFixed(0)} | ${(o / c).toFixed(2)} |`,
    );
  }
  await dns.close();
  console.log(
    `chain benchmark, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${SECONDS} s per point, ` +
      `-c 100 -b 100 -q -R -H -l bench, load average ${load0.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end` +
      ` (rate: program \`cat\`, one line in; memory: \`${ready.join(' ')}\`)\n`,
  );
  console.log(rows.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

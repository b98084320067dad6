// The soak: N connections at K clients at once against a tcpserver (ours or C), with its RSS,
// descriptors, threads, children and zombies sampled while it runs, and its -v log checked: every
// `pid N from` has its `end N`. Loopback only; bounded by N and a deadline.
import { childrenOf, openDescriptors, statusNumber } from '../../test/support/proc';
import { exchange, startServer } from '../../test/support/server';

export interface SoakOptions {
  readonly connections: number;
  readonly clients: number;
  /** what each client expects to read (the program's output) */
  readonly expect?: string;
  readonly program?: readonly string[];
  readonly args?: readonly string[];
  /** give up after this long (ms) */
  readonly deadlineMs?: number;
  /** the server's environment (default: this process's) */
  readonly env?: NodeJS.ProcessEnv;
  /** one client's exchange, resolving with what it read (default: plain TCP, half-closing at once) */
  readonly client?: (port: number) => Promise<string>;
  /**
   * whose pid an `end` line names: the `pid` line's (ours, 0.88), or another process's (ucspi-ssl
   * 0.95b logs its TLS process's end): then only the counts can be paired
   */
  readonly endNames?: 'same pid' | 'another pid';
}

export interface Peak {
  idle: number;
  max: number;
  after: number;
}

export interface SoakResult {
  served: number;
  failed: number;
  seconds: number;
  rate: number;
  rssKb: Peak;
  fds: Peak;
  threads: Peak;
  /** most programs running at once, and those left a few seconds after the last client */
  children: { max: number; after: number };
  zombies: { max: number; after: number };
  /** log lines: connections begun and ended, and pids that began but never ended (or the reverse) */
  log: { from: number; end: number; unpaired: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function soak(file: string, o: SoakOptions): Promise<SoakResult> {
  const program = o.program ?? ['echo', 'soaked'];
  const expect = o.expect ?? 'soaked\n';
  const server = await startServer(
    file,
    ['-v', '-1', '-RHl0', '-c', String(Math.max(40, o.clients)), '-b', '256', ...(o.args ?? []), '127.0.0.1', '0', ...program],
    {
      untracked: true,
      env: o.env,
    },
  );
  const client = o.client ?? ((port: number) => exchange(port, { timeoutMs: 30_000 }).then((r) => r.data.toString('latin1')));
  const pid = server.proc.pid!;
  const sample = () => {
    const kids = childrenOf(pid);
    return {
      rss: statusNumber(pid, 'VmRSS'),
      fds: openDescriptors(pid),
      threads: statusNumber(pid, 'Threads'),
      children: kids.length,
      zombies: kids.filter((k) => k.state === 'Z').length,
    };
  };
  await sleep(300);
  const idle = sample();
  const max = { ...idle };
  let running = true;
  const sampler = (async () => {
    while (running) {
      const s = sample();
      for (const k of Object.keys(max) as Array<keyof typeof max>) if (s[k] > max[k]) max[k] = s[k];
      await sleep(100);
    }
  })();
  let started = 0;
  let served = 0;
  let failed = 0;
  const deadline = Date.now() + (o.deadlineMs ?? 600_000);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.clients }, async () => {
      while (started < o.connections && Date.now() < deadline) {
        started++;
        const r = await client(server.port).catch(() => null);
        if (r === expect) served++;
        else failed++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  // every program has ended (or will not): wait for the log to catch up, a few seconds at most
  for (let i = 0; i < 50 && sample().children > 0; i++) await sleep(100);
  await sleep(300);
  running = false;
  await sampler;
  const after = sample();
  const lines = server.lines();
  const begun = new Set<string>();
  const ended = new Set<string>();
  for (const l of lines) {
    const from = /^\w+: pid (\d+) from /.exec(l);
    if (from) begun.add(from[1]);
    const end = /^\w+: end (\d+) status /.exec(l);
    if (end) ended.add(end[1]);
  }
  const from = lines.filter((l) => / pid \d+ from /.test(l)).length;
  const end = lines.filter((l) => / end \d+ status /.test(l)).length;
  let unpaired = 0;
  // pids are reused over thousands of connections: count the lines
  if (o.endNames === 'another pid') unpaired = Math.abs(from - end);
  else {
    for (const p of begun) if (!ended.has(p)) unpaired++;
    for (const p of ended) if (!begun.has(p)) unpaired++;
  }
  await server.stop();
  return {
    served,
    failed,
    seconds,
    rate: served / seconds,
    rssKb: { idle: idle.rss, max: max.rss, after: after.rss },
    fds: { idle: idle.fds, max: max.fds, after: after.fds },
    threads: { idle: idle.threads, max: max.threads, after: after.threads },
    children: { max: max.children, after: after.children },
    zombies: { max: max.zombies, after: after.zombies },
    log: { from, end, unpaired },
  };
}

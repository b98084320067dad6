// tcpserver's fate under each signal, and the signal state its programs get, for the ways it can be
// started (plain, under nohup, as a `&` job of a script, with everything ignored, with signals
// blocked): shared by test/tcpserver-signals.test.ts and the long suite (bench/reliability).
import { constants } from 'node:os';
import { signalsOfMask } from '../../src/signals';
import { cBinary, ours } from '../../test/support/programs';
import { procStat } from '../../test/support/proc';
import { exchange, RunningServer, startServer } from '../../test/support/server';

export const C = cBinary('tcpserver') ?? '/usr/bin/tcpserver';
export const OURS = ours('tcpserver');
const ARGS = ['-1', '-RHl0', '127.0.0.1', '0', 'grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'];

/** How the server is started: GNU env's signal options, as nohup, a shell's `&` and others leave things. */
export const STARTS: Record<string, string[]> = {
  plain: [],
  nohup: ['--ignore-signal=HUP'],
  'a & job of a script': ['--ignore-signal=INT', '--ignore-signal=QUIT'],
  'everything ignored': ['--ignore-signal'],
  'HUP and USR2 blocked': ['--block-signal=HUP', '--block-signal=USR2'],
};

const SIGFPE = 8;
const SIGUSR1 = 10;
export const SIGNALS = Object.entries(constants.signals)
  .filter(([name, n]) => n < 32 && !['SIGKILL', 'SIGSTOP', 'SIGIOT', 'SIGPOLL', 'SIGUNUSED'].includes(name))
  .sort((a, b) => a[1] - b[1]);

/**
 * Deliberate differences (doc/tcpserver.md, Signals and exit): SIGUSR1 is ignored (Node would open its
 * inspector); SIGFPE cannot be seen as inherited-ignored through the shim (perl ignores it itself).
 */
export function deliberate(start: string, sig: number): boolean {
  return sig === SIGUSR1 || (sig === SIGFPE && start === 'everything ignored');
}

export function start(file: string, how: string[]): Promise<RunningServer> {
  return startServer('/usr/bin/env', [...how, file, ...ARGS], { untracked: true });
}

export type Fate = 'lives' | 'stops' | `exits ${number}` | `dies of ${string}`;

/** Send `sig` and see what becomes of the server: it exits, stops, or goes on serving. */
export async function fate(server: RunningServer, sig: string): Promise<Fate> {
  server.proc.kill(sig as NodeJS.Signals);
  let done = false;
  const ended = server.exited.then(({ code, signal }): Fate => (signal ? `dies of ${signal}` : `exits ${code ?? -1}`));
  const stopped = (async (): Promise<Fate> => {
    while (!done) {
      if (procStat(server.proc.pid!)?.[0] === 'T') return 'stops';
      await new Promise((r) => setTimeout(r, 20));
    }
    return 'lives';
  })();
  // two complete connections after the signal: a server that outlived it serves them. Node handles a
  // signal on a later turn of its loop than the one it arrives in, so a loaded machine could serve a
  // connection or two first: let the signal be handled before asking
  const serves = (async (): Promise<Fate> => {
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 2; i++) {
      const r = await exchange(server.port, { timeoutMs: 30_000 }).catch(() => null);
      if (!r || !r.data.includes('SigIgn')) return new Promise<Fate>(() => {});
    }
    return 'lives';
  })();
  const outcome = await Promise.race([ended, stopped, serves]);
  done = true;
  server.proc.kill('SIGCONT');
  server.proc.kill('SIGKILL');
  await server.exited;
  return outcome;
}

/** The signal state a program of this server gets, as its /proc/self/status shows it. */
export async function programSignals(server: RunningServer): Promise<{ ignored: number[]; blocked: number[] }> {
  const text = (await exchange(server.port)).data.toString();
  const field = (name: string) => signalsOfMask(text.match(new RegExp(`${name}:\\s*(\\w+)`))?.[1] ?? '');
  return { ignored: field('SigIgn'), blocked: field('SigBlk') };
}

/** Run `f` over `items`, `width` at a time. */
export async function inBatches<T, R>(items: T[], width: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(f))));
  return out;
}

export interface FateRow {
  readonly sig: string;
  readonly n: number;
  readonly c: Fate;
  readonly mine: Fate;
}

/** Every signal sent to a C and an ours tcpserver started `how`: what became of each. */
export function fates(how: string[]): Promise<FateRow[]> {
  return inBatches(SIGNALS, 4, async ([sig, n]) => {
    const [c, mine] = await Promise.all([start(C, how).then((s) => fate(s, sig)), start(OURS, how).then((s) => fate(s, sig))]);
    return { sig, n, c, mine };
  });
}

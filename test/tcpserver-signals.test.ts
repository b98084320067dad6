// tcpserver's signals next to the C tcpserver's: for each way it can be started (plain, under nohup,
// as a `&` job of a script, with everything ignored, with signals blocked), which signals end it and
// which it outlives, and what signal state its programs get. Node resets inherited ignored signals
// before our code runs; bin/tcpserver's shim and src/signals.ts put them back.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { parseShimSignals, serverProgramSignals, signalsOfMask } from '../src/signals';
import { cBinary, needC, ours } from './support/programs';
import { procStat } from './support/proc';
import { exchange, RunningServer, startServer } from './support/server';

const C = cBinary('tcpserver') ?? '/usr/bin/tcpserver';
const OURS = ours('tcpserver');
const ARGS = ['-1', '-RHl0', '127.0.0.1', '0', 'grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'];

/** How the server is started: GNU env's signal options, as nohup, a shell's `&` and others leave things. */
const STARTS: Record<string, string[]> = {
  plain: [],
  nohup: ['--ignore-signal=HUP'],
  'a & job of a script': ['--ignore-signal=INT', '--ignore-signal=QUIT'],
  'everything ignored': ['--ignore-signal'],
  'HUP and USR2 blocked': ['--block-signal=HUP', '--block-signal=USR2'],
};

const SIGFPE = 8;
const SIGUSR1 = 10;
const SIGNALS = Object.entries(constants.signals)
  .filter(([name, n]) => n < 32 && !['SIGKILL', 'SIGSTOP', 'SIGIOT', 'SIGPOLL', 'SIGUNUSED'].includes(name))
  .sort((a, b) => a[1] - b[1]);

/**
 * Deliberate differences (doc/tcpserver.md, Signals and exit): SIGUSR1 is ignored (Node would open its
 * inspector); SIGFPE cannot be seen as inherited-ignored through the shim (perl ignores it itself).
 */
function deliberate(start: string, sig: number): boolean {
  return sig === SIGUSR1 || (sig === SIGFPE && start === 'everything ignored');
}

function start(file: string, how: string[]): Promise<RunningServer> {
  return startServer('/usr/bin/env', [...how, file, ...ARGS]);
}

type Fate = 'lives' | 'stops' | `exits ${number}` | `dies of ${string}`;

/** Send `sig` and see what becomes of the server: it exits, stops, or goes on serving. */
async function fate(server: RunningServer, sig: string): Promise<Fate> {
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
  // two complete connections after the signal: a server that outlived it serves them
  const serves = (async (): Promise<Fate> => {
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
async function programSignals(server: RunningServer): Promise<{ ignored: number[]; blocked: number[] }> {
  const text = (await exchange(server.port)).data.toString();
  const field = (name: string) => signalsOfMask(text.match(new RegExp(`${name}:\\s*(\\w+)`))?.[1] ?? '');
  return { ignored: field('SigIgn'), blocked: field('SigBlk') };
}

/** Run `f` over `items`, `width` at a time. */
async function inBatches<T, R>(items: T[], width: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(f))));
  return out;
}

describe('the signal masks the shim passes', () => {
  it('reads /proc hex masks, bit n-1 for signal n, never KILL or STOP', () => {
    assert.deepEqual(signalsOfMask('0000000000000001'), [1]);
    assert.deepEqual(signalsOfMask('0000000000001006'), [2, 3, 13]);
    assert.deepEqual(signalsOfMask('0000000000040100'), []);
    assert.deepEqual(signalsOfMask('8000000000000000'), [64]);
    assert.deepEqual(signalsOfMask('zz'), []);
    assert.deepEqual(parseShimSignals(undefined), { ignored: [], blocked: [] });
    assert.deepEqual(parseShimSignals('1 800'), { ignored: [1], blocked: [12] });
  });
  it("gives programs 0.88's child state: PIPE, TERM and CHLD at default, CHLD unblocked", () => {
    assert.deepEqual(serverProgramSignals({ ignored: [1, 13, 15, 17, 28], blocked: [12, 17] }), { ignored: [1, 28], blocked: [12] });
  });
});

describe('tcpserver signals next to the C tcpserver', { skip: needC('tcpserver') }, () => {
  for (const [name, how] of Object.entries(STARTS)) {
    it(`${name}: the same signals end it, the same it outlives`, async () => {
      const rows = await inBatches(SIGNALS, 4, async ([sig, n]) => {
        const [c, mine] = await Promise.all([start(C, how).then((s) => fate(s, sig)), start(OURS, how).then((s) => fate(s, sig))]);
        return { sig, n, c, mine };
      });
      const differ = rows.filter((r) => r.c !== r.mine && !deliberate(name, r.n));
      assert.deepEqual(differ, [], differ.map((r) => `${r.sig}: C ${r.c}, ours ${r.mine}`).join('\n'));
      // the table must show something: the plain server dies of SIGHUP, everything else ignored outlives it
      const hup = rows.find((r) => r.sig === 'SIGHUP')!;
      assert.equal(hup.mine, name === 'plain' || name === 'a & job of a script' ? 'dies of SIGHUP' : 'lives');
      assert.equal(rows.find((r) => r.sig === 'SIGTERM')!.mine, 'exits 0');
    });
    it(`${name}: its programs get the signal state the C tcpserver's get`, async () => {
      const [c, mine] = await Promise.all([start(C, how), start(OURS, how)]);
      const [fromC, fromOurs] = await Promise.all([programSignals(c), programSignals(mine)]);
      const comparable = (s: { ignored: number[]; blocked: number[] }) => ({
        ignored: s.ignored.filter((n) => !deliberate(name, n)),
        blocked: s.blocked,
      });
      assert.deepEqual(comparable(fromOurs), comparable(fromC));
      await Promise.all([c.stop(), mine.stop()]);
    });
  }
});

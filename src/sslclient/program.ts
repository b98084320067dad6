// sslclient's program: started on two pipes at fds 6 (it reads) and 7 (it writes), fds 0-2 and what
// sslclient inherited passed on, while this process relays between the pipes and the TLS session (the
// server's relay, src/server/relay.ts). sslclient ends as the program ended, once both are done.
import type { TLSSocket } from 'node:tls';
import { constants as osConstants } from 'node:os';
import { dieOfSignal, libc } from '../ffi';
import { makeLauncher, PipedProgram } from '../server/children';
import { relay } from '../server/relay';

export type Started = { readonly done: Promise<number> } | { readonly error: unknown };

/**
 * Start `argv` with `environ` on fds 6 and 7 and relay; `done` resolves with the program's wait
 * status when the program has exited and the relay has closed.
 */
export async function runProgram(tls: TLSSocket, argv: readonly string[], environ: readonly string[], idleMs: number): Promise<Started> {
  const launcher = makeLauncher(environ);
  let status: number | null = null;
  let exited: (s: number) => void = (s) => (status = s);
  launcher.onExit = (_pid, s) => exited(s);
  let piped: PipedProgram;
  try {
    piped = await launcher.launchOnPipes({ program: argv[0], argv, env: environ, idle: true }, [6, 7]);
  } catch (error) {
    return { error };
  }
  const exit = new Promise<number>((resolve) => {
    if (status !== null) resolve(status);
    else exited = resolve;
  });
  const relayed = relay(tls, piped, { layers: [], idleMs, programEnd: 'half-close' });
  return { done: Promise.all([exit, relayed]).then(([s]) => s) };
}

const SIGNAL_NAMES = Object.fromEntries(Object.entries(osConstants.signals).map(([name, n]) => [n, name])) as Record<
  number,
  NodeJS.Signals
>;

/**
 * End this process as the program ended: its exit code, or death by its signal (as when tcpclient
 * has exec'd the program; ucspi-ssl exits 0 there).
 */
export function endAs(waitStatus: number): never {
  const signal = waitStatus & 0x7f;
  if (signal === 0) process.exit((waitStatus >> 8) & 0xff);
  const lib = libc();
  if (lib) dieOfSignal(lib, signal);
  else if (SIGNAL_NAMES[signal]) {
    process.removeAllListeners(SIGNAL_NAMES[signal]);
    process.kill(process.pid, SIGNAL_NAMES[signal]);
  }
  // a signal that does not kill (or could not be sent): the shell's convention
  process.exit(128 + signal);
}

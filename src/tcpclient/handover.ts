// Giving the connection to the program: fd 6 = the socket, fd 7 = a copy, both blocking, fds 0-2 as
// they are; tcpclient then becomes the program (execve in place, so no Node process lingers and the
// exit status is the program's). Without FFI the program is spawned with the socket at 6 and 7 and
// its status passed on; Node cannot clear O_NONBLOCK on those there.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { errnoText } from '../errstr';
import { execProgram } from '../execprogram';
import { libc, moveDescriptors } from '../ffi';
import { Diagnostics } from '../messages';
import { EnvChanges } from '../pathexec';
import { rawEnviron } from '../rawproc';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'];

export function runProgramOnSocket(diag: Diagnostics, socket: Socket, argv: readonly string[], env: EnvChanges): void {
  const environ = env.apply(rawEnviron());
  const lib = libc();
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (lib && typeof fd === 'number' && fd >= 0) {
    let errno = moveDescriptors(lib, [[fd, 6]]);
    if (errno) diag.fatal(`unable to set up descriptor 6: ${errnoText(errno)}`);
    errno = moveDescriptors(lib, [[6, 7]]);
    if (errno) diag.fatal(`unable to set up descriptor 7: ${errnoText(errno)}`);
    errno = execProgram(lib, argv[0], argv, environ, [
      [6, 6],
      [7, 7],
    ]);
    diag.fatal(`unable to run ${argv[0]}: ${errnoText(errno)}`);
  }
  spawnOnSocket(diag, socket, argv, environ);
}

function spawnOnSocket(diag: Diagnostics, socket: Socket, argv: readonly string[], environ: readonly string[]): void {
  const envObject: NodeJS.ProcessEnv = {};
  for (const entry of environ) {
    const eq = entry.indexOf('=');
    if (eq > 0) envObject[entry.slice(0, eq)] = Buffer.from(entry.slice(eq + 1), 'latin1').toString();
  }
  const child = spawn(argv[0], argv.slice(1), {
    env: envObject,
    stdio: ['inherit', 'inherit', 'inherit', 'ignore', 'ignore', 'ignore', socket, socket],
  });
  child.on('error', (err) => diag.fatalSys(`unable to run ${argv[0]}`, err));
  child.on('spawn', () => socket.destroy());
  for (const sig of FORWARDED_SIGNALS) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      for (const sig of FORWARDED_SIGNALS) process.removeAllListeners(sig);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 111);
  });
}

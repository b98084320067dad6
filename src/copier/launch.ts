// recordio and fixcrio's process structure. 0.88 forks: the parent execs the program on two pipes (so
// the program keeps the tool's pid and its exit status is the tool's) and the child copies. Here: make
// the pipes, start the copier program on them, then exec the program in place. Without FFI the program
// is spawned instead and the copying happens in this process.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { errnoText } from '../errstr';
import { inheritStdio, Libc, libc, makePipe, moveDescriptors, spawnAsync } from '../ffi';
import { execProgram } from '../execprogram';
import { Diagnostics, unableToRun } from '../messages';
import { rawEnviron } from '../rawproc';
import { runCopier } from './copier';
import { CopierMode, copierDirections } from './modes';

/** Where the copier program lives: next to the calling program (dist/bundle or dist/src/cmd). */
export function copierScript(programDir: string): string {
  return join(programDir, 'copier.js');
}

/** Run `argv` (argv[0] the program) with its stdin and stdout through a copier. Never returns. */
export async function runThroughCopier(diag: Diagnostics, mode: CopierMode, argv: readonly string[], programDir: string): Promise<never> {
  const lib = libc();
  if (!lib) return spawnWithCopier(diag, mode, argv);
  return execWithCopier(lib, diag, mode, argv, copierScript(programDir));
}

function copierEnv(): string[] {
  // the copier never reads the environment; skip the certificate file Node 20 would load at start
  return rawEnviron().filter((e) => !e.startsWith('NODE_EXTRA_CA_CERTS='));
}

async function execWithCopier(lib: Libc, diag: Diagnostics, mode: CopierMode, argv: readonly string[], script: string): Promise<never> {
  let toProgram: [number, number];
  let fromProgram: [number, number];
  try {
    toProgram = makePipe(lib);
    fromProgram = makePipe(lib);
  } catch (err) {
    return diag.fatalSys('unable to create pipe', err);
  }
  inheritStdio(lib);
  try {
    await spawnAsync(lib, {
      path: process.execPath,
      argv: [process.execPath, script, mode, String(process.pid)],
      env: copierEnv(),
      moves: [
        [toProgram[1], 3],
        [fromProgram[0], 4],
      ],
    });
  } catch (err) {
    return diag.fatalSys('unable to fork', err);
  }
  const moveErrno = moveDescriptors(lib, [
    [toProgram[0], 0],
    [fromProgram[1], 1],
  ]);
  if (moveErrno) return diag.fatal(`unable to move descriptors: ${errnoText(moveErrno)}`);
  const errno = execProgram(lib, argv[0], argv, rawEnviron());
  return diag.fatal(`${unableToRun(argv[0])}: ${errnoText(errno)}`);
}

function spawnWithCopier(diag: Diagnostics, mode: CopierMode, argv: readonly string[]): Promise<never> {
  return new Promise<never>(() => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    child.on('error', (err) => diag.fatalSys(unableToRun(argv[0]), err));
    if (child.pid === undefined) return;
    const [input, output] = copierDirections(mode, child.pid);
    runCopier(
      { clientIn: process.stdin, programIn: child.stdin!, programOut: child.stdout!, clientOut: process.stdout },
      input,
      output,
      () => {},
    );
    child.on('close', (code, signal) => {
      if (signal) {
        process.removeAllListeners(signal);
        process.kill(process.pid, signal);
      }
      process.exit(code ?? 111);
    });
  });
}

// pathexec for programs that become another program (argv0, recordio, fixcrio, tcpclient): the PATH
// search of 0.88 with execve in place, after moving descriptors onto the numbers the program expects.
import * as nodeModule from 'node:module';
import { execInPlace, Libc } from './ffi';
import { keepInheritedDescriptors } from './inherited';
import { pathCandidates, searchPath } from './pathexec';
import { rawEnv } from './rawproc';

/**
 * Exec `file` (searched in $PATH when it has no '/') with argv and env ("NAME=value" latin1 entries),
 * after the descriptor moves. Returns only on failure, with the errno pathexec would leave.
 */
export function execProgram(
  lib: Libc,
  file: string,
  argv: readonly string[],
  env: readonly string[],
  moves: ReadonlyArray<readonly [number, number]> = [],
): number {
  // Node >= 22 keeps compiled code for the next start; an exec skips the flush done at exit
  (nodeModule as { flushCompileCache?: () => void }).flushCompileCache?.();
  keepInheritedDescriptors(lib);
  return searchPath(pathCandidates(file, rawEnv('PATH')), (path) => execInPlace(lib, { path, argv, env, moves }));
}

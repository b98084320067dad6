// A C filter writing to a closed pipe dies of SIGPIPE (shell status 141); Node ignores SIGPIPE and
// sees EPIPE instead. Filters call this on a write error so callers see the same death.
import { dieOfSignal, libc } from './ffi';

const SIGPIPE = 13;

/** Exit for a failed write: die of SIGPIPE on EPIPE where FFI allows, else exit with `code`. */
export function exitAfterWriteError(err: unknown, code: number): never {
  if ((err as NodeJS.ErrnoException).code === 'EPIPE') {
    const lib = libc();
    if (lib) dieOfSignal(lib, SIGPIPE);
  }
  process.exit(code);
}

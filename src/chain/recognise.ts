// Which of our own programs a name in tcpserver's program argv runs, found as the exec would find
// it: by the real path of the file it reaches (through $PATH when it has no '/'), compared with the
// real paths of this installation's bin/ programs. The name alone never counts: a C rblsmtpd in
// /usr/bin, or a wrapper script of the same name, is some other program.
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathCandidates } from '../pathexec';

/** The programs tcpserver can run in itself. */
export const HELPERS = ['rblsmtpd', 'recordio', 'fixcrio', 'argv0', 'addcr', 'delcr'] as const;
export type Helper = (typeof HELPERS)[number];

/**
 * This installation's bin/ directory: the package root above this file (dist/src/chain or
 * dist/bundle, once built) holds package.json and bin/.
 */
export function ourBinDir(from = __dirname): string | null {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'tcpserver'))) return join(dir, 'bin');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** Real paths of our helpers, to compare what a name reaches with. */
export class OurPrograms {
  private readonly byRealPath = new Map<string, Helper>();

  constructor(binDir: string | null) {
    if (binDir === null) return;
    for (const name of HELPERS) {
      try {
        this.byRealPath.set(realpathSync(join(binDir, name)), name);
      } catch {
        // not installed here: never in-process
      }
    }
  }

  get empty(): boolean {
    return this.byRealPath.size === 0;
  }

  /** The helper `file` would run with this $PATH (undefined: unset), or null for anything else. */
  helperAt(file: string, pathVar: string | undefined): Helper | null {
    const found = executableOnPath(file, pathVar);
    if (found === null) return null;
    try {
      return this.byRealPath.get(realpathSync(found)) ?? null;
    } catch {
      return null;
    }
  }
}

/**
 * The file pathexec would run: the first candidate that is an executable regular file. Missing
 * files, directories and files without execute permission are passed over, as their exec fails
 * with ENOENT, EISDIR or EACCES; null when none is found.
 */
export function executableOnPath(file: string, pathVar: string | undefined): string | null {
  for (const path of pathCandidates(file, pathVar)) {
    try {
      if (!statSync(path).isFile()) continue;
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not there, or not executable: the next element
    }
  }
  return null;
}

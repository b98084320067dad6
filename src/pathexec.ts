// djb's pathexec: the PATH search and the environment edits every exec-ing program shares.
import { errnoOf } from './errstr';

const ENOENT = errnoOf('ENOENT');
const RETRYABLE = new Set([errnoOf('EACCES'), errnoOf('EPERM'), errnoOf('EISDIR')]);

/**
 * Ordered environment edits (pathexec_env). At exec time each edit removes the first entry with its
 * name, moving the last entry into its place as 0.88 does, then appends NAME=value if it has a value.
 */
export class EnvChanges {
  private readonly edits: Array<readonly [string, string | null]> = [];

  set(name: string, value: string): this {
    this.edits.push([name, value]);
    return this;
  }

  unset(name: string): this {
    this.edits.push([name, null]);
    return this;
  }

  /** set when value is a string, unset when it is null or undefined. */
  put(name: string, value: string | null | undefined): this {
    return value === null || value === undefined ? this.unset(name) : this.set(name, value);
  }

  get size(): number {
    return this.edits.length;
  }

  /** The environment a program gets: `environ` ("NAME=value" entries) with the edits applied. */
  apply(environ: readonly string[] | KnownEnviron): string[] {
    const known = environ instanceof KnownEnviron ? environ : null;
    const e = known ? known.entries.slice() : (environ as readonly string[]).slice();
    /** names given a value so far: together with the base's names, the only ones worth a search */
    const added: string[] = [];
    for (const [name, value] of this.edits) {
      const prefix = name + '=';
      if (!known || known.mayHold(name) || added.includes(name)) {
        for (let t = 0; t < e.length; t++) {
          if (e[t].startsWith(prefix)) {
            e[t] = e[e.length - 1];
            e.pop();
            break;
          }
        }
      }
      if (value !== null) {
        e.push(prefix + value);
        // the entry's own name: what a later edit's search would match it by
        const eq = name.indexOf('=');
        added.push(eq < 0 ? name : name.slice(0, eq));
      }
    }
    return e;
  }
}

/**
 * An environment that edits are applied to again and again (a server's own, once per connection),
 * with the names it holds found once: an edit of a name it does not hold (TCPREMOTEIP ...) then costs
 * no search through it. The result is EnvChanges.apply's on the plain entries.
 */
export class KnownEnviron {
  private readonly names = new Set<string>();
  constructor(readonly entries: readonly string[]) {
    for (const e of entries) {
      const eq = e.indexOf('=');
      if (eq >= 0) this.names.add(e.slice(0, eq));
    }
  }

  /** Whether an entry `name=...` may be in it (a name with '=' in it may match any entry). */
  mayHold(name: string): boolean {
    return this.names.has(name) || name.includes('=');
  }
}

/** Candidate paths for a program name in djb's order ($PATH unset means /bin:/usr/bin). */
export function pathCandidates(file: string, pathVar: string | undefined): string[] {
  if (file.includes('/')) return [file];
  const path = pathVar ?? '/bin:/usr/bin';
  return path.split(':').map((dir) => `${dir === '' ? '.' : dir}/${file}`);
}

/**
 * Try the candidates in order with `attempt` (returns 0 on success, else an errno): ENOENT moves on,
 * EACCES/EPERM/EISDIR are remembered and move on, anything else stops. Returns 0 or the errno to
 * report, exactly as pathexec_run leaves errno.
 */
export function searchPath(candidates: readonly string[], attempt: (path: string) => number): number {
  let saved = 0;
  let last = ENOENT;
  for (const path of candidates) {
    const errno = attempt(path);
    if (errno === 0) return 0;
    last = errno;
    if (errno !== ENOENT) {
      saved = errno;
      if (!RETRYABLE.has(errno)) return errno;
    }
  }
  return saved || last;
}

// Whether tcpserver has descriptors left to take another connection. 0.88 needs 5 in all and forks
// a process (with its own table) per connection; we hold about 20 and every connection in progress
// takes its socket and, for a moment, the rules file, all in one table. libuv must never see accept
// fail for want of one: it would then accept and close every client waiting in the queue (its
// "EMFILE trick"). So accepting stops while the next connection might not fit, and clients wait in
// the kernel's queue as they do at -c.
//
// The kernel hands out the lowest free descriptor, so a socket accepted as fd f means every fd below
// f is taken, and at most limit-1-f are free. Fds above f may be taken too (by connections accepted
// earlier), so near the limit the open descriptors are counted; far from it, no system call per
// connection. (The rules file used to be opened per connection, and its EMFILE held the next
// connection back; it is no longer opened per connection, and must not be the only check.)
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import type { ServerOptions } from './options';

/** RLIMIT_NOFILE's soft limit, from /proc/self/limits; Infinity when it cannot be read. */
export function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (m) return Number(m[1]);
  } catch {
    // no /proc
  }
  return Infinity;
}

/** A failure for want of descriptors (this process's, or the system's). */
export function isOutOfDescriptors(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * What one connection takes at once: its socket, the rules file (opened and closed within one step,
 * so never two at a time), and a socket for each lookup that runs (local and remote PTR, ident).
 */
export function descriptorsPerConnection(o: ServerOptions): number {
  const lookups = Number(o.localName === null) + Number(o.remoteHostLookup) + Number(o.remoteInfoLookup);
  return 1 + Number(o.rulesFile !== null) + lookups;
}

/** The descriptors this process has open, counted in /proc (null where it cannot be read). */
export function openDescriptorCount(): number | null {
  try {
    // less the one readdir itself holds while it reads
    return readdirSync('/proc/self/fd').length - 1;
  } catch (err) {
    if (isOutOfDescriptors(err)) return Infinity;
    return null;
  }
}

export class DescriptorRoom {
  /** Accepting now could fail: stop until recheck() finds room. */
  short = false;
  /**
   * At least how many descriptors are open: the last count, plus what every connection accepted
   * since may have opened. Counting costs a directory read, so it is done only when this bound
   * comes near the limit: a server far from it never counts.
   */
  private bound = 0;

  /** `need`: descriptorsPerConnection. */
  constructor(
    private readonly need: number,
    private readonly limit = openFilesLimit(),
    private readonly count: () => number | null = openDescriptorCount,
  ) {}

  /** What must be free to accept one more: its share, and that of each connection still in progress. */
  private wanted(inProgress: number): number {
    return this.need * (1 + inProgress);
  }

  /**
   * After accepting a socket as `fd` (`inProgress`: other connections whose steps may still open
   * descriptors): whether the next connection might not fit. The kernel hands out the lowest free
   * descriptor, so every descriptor below fd is taken; but descriptors above it may be too (held by
   * connections accepted earlier), so near the limit they are counted.
   */
  afterAccept(fd: number, inProgress = 0): boolean {
    if (this.limit - 1 - fd < this.need) return (this.short = true);
    // a connection may open its socket, the rules file, a socket per lookup and two pipes
    this.bound = Math.max(this.bound + this.need + 2, fd + 1);
    if (this.limit - this.bound >= this.wanted(inProgress)) return this.short;
    const open = this.count();
    if (open === null) return this.short;
    this.bound = open;
    if (this.limit - open < this.wanted(inProgress)) this.short = true;
    return this.short;
  }

  /** Look again (a count, or the lowest free descriptor, by opening one): whether there is room now. */
  recheck(inProgress = 0): boolean {
    const open = this.count();
    if (open !== null) {
      this.bound = open;
      this.short = this.limit - open < this.wanted(inProgress);
      return !this.short;
    }
    let lowest: number;
    try {
      lowest = openSync('/dev/null', 'r');
    } catch (err) {
      if (isOutOfDescriptors(err)) return false;
      throw err;
    }
    closeSync(lowest);
    this.short = this.limit - lowest < this.need;
    return !this.short;
  }
}

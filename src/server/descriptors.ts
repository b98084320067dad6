// Whether tcpserver has descriptors left to take another connection. 0.88 needs 5 in all and forks
// a process (with its own table) per connection; we hold about 20 and every connection in progress
// takes its socket and, for a moment, the rules file, all in one table. libuv must never see accept
// fail for want of one: it would then accept and close every client waiting in the queue (its
// "EMFILE trick"). So accepting stops while the next connection might not fit, and clients wait in
// the kernel's queue as they do at -c.
//
// The kernel hands out the lowest free descriptor, so a socket accepted as fd f means every fd below
// f is taken, and at most limit-1-f are free: no counting, no system call per connection.
import { closeSync, openSync, readFileSync } from 'node:fs';
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

export class DescriptorRoom {
  /** Accepting now could fail: stop until recheck() finds room. */
  short = false;

  /** `need`: descriptorsPerConnection. */
  constructor(
    private readonly need: number,
    private readonly limit = openFilesLimit(),
  ) {}

  /** After accepting a socket as `fd`: whether the next connection might not fit. */
  afterAccept(fd: number): boolean {
    if (this.limit - 1 - fd < this.need) this.short = true;
    return this.short;
  }

  /** Look again (the lowest free descriptor, by opening one): whether there is room now. */
  recheck(): boolean {
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

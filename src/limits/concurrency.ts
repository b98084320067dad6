// Connections admitted and still running, counted per address and per network. Admit and release
// are O(1) map updates; an entry is deleted when its count returns to zero, so the tables never
// hold more entries than there are running connections (at most -c).
import type { LimitKeys } from './address';
import { firstEntries } from './top';

/** A running connection's place in the counts. release() is safe to call any number of times. */
export interface Admission {
  release(): void;
}

export interface ConcurrencyCounts {
  /** admitted connections not yet released */
  readonly running: number;
  /** addresses with at least one */
  readonly addresses: number;
  /** networks with at least one */
  readonly networks: number;
}

/** A counter key (limitKeys' form) and its count. */
export interface KeyCount {
  readonly key: string;
  readonly count: number;
}

/** the most first, then by key: a stable order for the status report */
function busierFirst(a: KeyCount, b: KeyCount): number {
  return b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

function busiest(m: Map<string, number>, limit: number): KeyCount[] {
  const all = (function* () {
    for (const [key, count] of m) yield { key, count };
  })();
  return firstEntries(all, limit, busierFirst);
}

function decrement(m: Map<string, number>, key: string): void {
  const n = m.get(key);
  if (n === undefined) return;
  if (n <= 1) m.delete(key);
  else m.set(key, n - 1);
}

class Held implements Admission {
  private table: ConcurrencyTable | null;
  constructor(
    table: ConcurrencyTable,
    readonly keys: LimitKeys,
  ) {
    this.table = table;
  }
  release(): void {
    const t = this.table;
    if (t === null) return;
    this.table = null;
    t.forget(this.keys);
  }
}

export class ConcurrencyTable {
  private readonly perIp = new Map<string, number>();
  private readonly perNet = new Map<string, number>();
  private running = 0;

  ipCount(keys: LimitKeys): number {
    return this.perIp.get(keys.ip) ?? 0;
  }

  netCount(keys: LimitKeys): number {
    return this.perNet.get(keys.net) ?? 0;
  }

  admit(keys: LimitKeys): Admission {
    this.perIp.set(keys.ip, (this.perIp.get(keys.ip) ?? 0) + 1);
    this.perNet.set(keys.net, (this.perNet.get(keys.net) ?? 0) + 1);
    this.running++;
    return new Held(this, keys);
  }

  /** Only through Admission.release, once per admit. */
  forget(keys: LimitKeys): void {
    decrement(this.perIp, keys.ip);
    decrement(this.perNet, keys.net);
    if (this.running > 0) this.running--;
  }

  /** The `limit` addresses with the most running connections, most first. */
  busiestAddresses(limit: number): KeyCount[] {
    return busiest(this.perIp, limit);
  }

  /** The `limit` networks with the most running connections, most first. */
  busiestNetworks(limit: number): KeyCount[] {
    return busiest(this.perNet, limit);
  }

  counts(): ConcurrencyCounts {
    return { running: this.running, addresses: this.perIp.size, networks: this.perNet.size };
  }
}

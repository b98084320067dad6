// New connections per address per interval (MAXRATEIP="n/seconds"), as a token bucket per
// address: an address may open n connections at once, and earns them back at n per `seconds`.
// Over any stretch of t seconds an address is admitted at most n + n·t/seconds times. Only the
// excess connections of that address are refused; nothing is ever switched off for everyone
// (the failure mode of inetd's and systemd's rate limits, see doc/tcpserver.md).
//
// Memory is bounded: an address whose bucket is full again is the same as an address never seen,
// so its entry is dropped; and the table never holds more than `maxEntries` addresses. When a
// flood of distinct addresses fills it, the address seen longest ago is forgotten first, and it
// then starts again with a full bucket: the limit fails open for it rather than growing memory.
import { firstEntries } from './top';

export interface Rate {
  /** connections per interval (0: refuse every connection) */
  readonly count: number;
  /** the interval, seconds (at least 1) */
  readonly seconds: number;
}

/** An address's place in the rate table: connections it may still open now, under its rate. */
export interface RateUse {
  readonly key: string;
  readonly left: number;
  readonly rate: Rate;
}

interface Bucket {
  /** the rate it was last taken under (a rule may give an address another one), as two small integers */
  count: number;
  seconds: number;
  tokens: number;
  /** clock reading (ms) of the last update */
  stamp: number;
  /** clock reading (ms) at which the bucket is full again */
  fullAt: number;
}

/** at most this many addresses remembered: 2.8 MB of heap measured with IPv6 keys */
export const DEFAULT_RATE_ENTRIES = 16384;

export class RateTable {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly maxEntries = DEFAULT_RATE_ENTRIES,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Whether a new connection from `key` fits the rate; if it does, it is counted. */
  take(key: string, rate: Rate): boolean {
    if (rate.count <= 0) return false;
    const t = this.now();
    this.expire(t);
    const perMs = rate.count / (rate.seconds * 1000);
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxEntries) this.evictOldest();
      b = { count: rate.count, seconds: rate.seconds, tokens: rate.count, stamp: t, fullAt: t };
    } else {
      // a rule may have changed the rate for this address since: the bucket never holds more
      // than the current count
      b.tokens = Math.min(rate.count, b.tokens + Math.max(0, t - b.stamp) * perMs);
      b.stamp = t;
      b.count = rate.count;
      b.seconds = rate.seconds;
      // re-insert so the map's order is least recently used first
      this.buckets.delete(key);
    }
    const admitted = b.tokens >= 1;
    if (admitted) b.tokens -= 1;
    b.fullAt = t + (rate.count - b.tokens) / perMs;
    this.buckets.set(key, b);
    return admitted;
  }

  /**
   * The `limit` addresses nearest to their rate, as of now: the smallest share of their bucket left
   * first (ties in key order). Read only: nothing is refilled, expired or reordered.
   */
  hottest(limit: number): RateUse[] {
    const t = this.now();
    const uses = (function* (buckets: Map<string, Bucket>) {
      for (const [key, b] of buckets) {
        if (b.fullAt <= t) continue;
        const left = Math.min(b.count, b.tokens + Math.max(0, t - b.stamp) * (b.count / (b.seconds * 1000)));
        yield { key, left, rate: { count: b.count, seconds: b.seconds } };
      }
    })(this.buckets);
    const order = (a: RateUse, b: RateUse) => a.left / a.rate.count - b.left / b.rate.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    return firstEntries(uses, limit, order);
  }

  /** Drop entries whose bucket has filled again, from the least recently used end. */
  private expire(t: number): void {
    for (const [key, b] of this.buckets) {
      if (b.fullAt > t) return;
      this.buckets.delete(key);
    }
  }

  private evictOldest(): void {
    for (const key of this.buckets.keys()) {
      this.buckets.delete(key);
      return;
    }
  }
}

// The first few of many entries in an order, without sorting them all: the status report shows the
// busiest of up to -c addresses and the hottest of up to 16,384 rate entries, on the accept loop's
// thread, so the cost is one pass and a short sorted list.

/** The first `limit` of `items` under `order` (negative: a before b), in that order. */
export function firstEntries<T>(items: Iterable<T>, limit: number, order: (a: T, b: T) => number): T[] {
  const kept: T[] = [];
  if (limit <= 0) return kept;
  for (const item of items) {
    if (kept.length === limit && order(item, kept[limit - 1]) >= 0) continue;
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(item, kept[mid]) < 0) hi = mid;
      else lo = mid + 1;
    }
    kept.splice(lo, 0, item);
    if (kept.length > limit) kept.pop();
  }
  return kept;
}

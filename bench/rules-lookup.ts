// Benchmark: µs per lookupRules call, the work tcpserver does per connection once it has the rules
// file open (plus the open itself, measured separately), for small and large rules files and for
// IPv4 and IPv6 clients that fall through every step (the worst case: all the CIDR probes too).
//
//   npx tsc -p . && node dist/bench/rules-lookup.js [lookups=20000]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCdb } from '../src/cdb/writer';
import { CdbFileCache } from '../src/cdb/file-cache';
import { CdbReader } from '../src/cdb/reader';
import { formatIp6 } from '../src/dns/address';
import { lookupRules, RuleQuery } from '../src/rules/lookup';
import { Rng } from '../test/support/rulesgen';

const [lookups = 20_000] = process.argv.slice(2).map(Number);

function ip4(rng: Rng): string {
  return `${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}`;
}

function ip6(rng: Rng): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = rng.int(256);
  if (rng.chance(0.5)) b.fill(0, 8, 14); // some zero runs, as real addresses have
  return formatIp6(b);
}

/** n records: exact IPv4 and IPv6 addresses, prefixes, hosts; no CIDR, no catch-all. */
function rules(rng: Rng, n: number): Array<readonly [Buffer, Buffer]> {
  const out: Array<readonly [Buffer, Buffer]> = [];
  for (let i = 0; i < n; i++) {
    const r = rng.int(10);
    const key = r < 4 ? ip4(rng) : r < 6 ? ip6(rng) : r < 8 ? `${rng.int(256)}.${rng.int(256)}.` : `=host${i}.example.com`;
    out.push([Buffer.from(key, 'latin1'), Buffer.from(r < 4 ? 'D\0' : '+RELAYCLIENT=\0', 'latin1')]);
  }
  return out;
}

function time(reader: CdbReader, queries: RuleQuery[]): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < lookups; i++) lookupRules(reader, queries[i % queries.length]);
  return Number(process.hrtime.bigint() - t0) / 1e3 / lookups;
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'ucspi-bench-'));
  try {
    console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), ${lookups} lookups per row`);
    for (const n of [20, 2_000, 200_000]) {
      const rng = new Rng(n);
      const file = join(dir, `${n}.cdb`);
      const cdb = makeCdb(rules(rng, n));
      writeFileSync(file, cdb);
      const v4: RuleQuery[] = [];
      const v6: RuleQuery[] = [];
      for (let i = 0; i < 1000; i++) {
        v4.push({ ip: ip4(rng), host: rng.chance(0.5) ? `x${i}.example.net` : null, info: null });
        v6.push({ ip: ip6(rng), host: rng.chance(0.5) ? `x${i}.example.net` : null, info: null });
      }
      const reader = CdbReader.open(file);
      const a = time(reader, v4);
      const b = time(reader, v6);
      reader.close();
      // per connection: open, look up, close; uncached, and through tcpserver's CdbFileCache
      const perConnection = (open: () => CdbReader & { close(): void }): number => {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < lookups; i++) {
          const r = open();
          lookupRules(r, v6[i % v6.length]);
          r.close();
        }
        return Number(process.hrtime.bigint() - t0) / 1e3 / lookups;
      };
      const c = perConnection(() => CdbReader.open(file));
      const cache = new CdbFileCache();
      const d = perConnection(() => cache.open(file));
      console.log(
        `${String(n).padStart(7)} rules (${(cdb.length / 1024).toFixed(0)} KiB): IPv4 ${a.toFixed(2)} µs, IPv6 ${b.toFixed(2)} µs, ` +
          `open+IPv6+close ${c.toFixed(2)} µs, with tcpserver's cache ${d.toFixed(2)} µs`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();

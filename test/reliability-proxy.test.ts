// The reliability suite's short version for the PROXY protocol receiver (tcpserver with PROXYFROM;
// ours only, the C tcpserver has none), with FFI and without: headers malformed, truncated then
// silent, oversized, a byte at a time and too slow, reset half way, from a peer not trusted and from
// a source the rules deny; and the seeded fuzzer judged by the parser. The long version: npm run
// reliability (bench/reliability/proxy.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seeded } from '../bench/reliability/fuzz';
import { fuzzProxy, proxyFaults } from '../bench/reliability/proxy';
import { tempDir } from './support/tmp';

const DIR = tempDir();
const SEED = 20261201;

function clean(r: { violations: string[]; figures: object }): void {
  assert.deepEqual(r.violations, [], JSON.stringify(r.figures));
}

describe('PROXY protocol, with FFI and without', () => {
  for (const [mode, noFfi] of [
    ['FFI', false],
    ['no FFI', true],
  ] as const) {
    it(`${mode}: every fault case twice at once: dropped with its reason, a denied source never let in, no child left`, async () =>
      clean(await proxyFaults(DIR, 2, noFfi)));
    it(`${mode}: 300 mangled headers through a socket, served or dropped as the parser judges them`, async () =>
      clean(await fuzzProxy(DIR, 300, seeded(SEED), noFfi)));
  }
});

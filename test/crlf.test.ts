// addcr / delcr / fixcrio byte semantics: the tables of 0.88 (rts tests 41-42), then property tests:
// random byte streams cut into random chunks go through our filters and must equal what the C tools
// print for the same input (one C run per case, batched into a single shell loop per tool).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { AddCr, ByteFilter, DelCr, FixCr, maxOutput } from '../src/crlf';
import { cBinary, needC } from './support/programs';
import { tempDir } from './support/tmp';

/** Run a filter over input cut at the given points (chunk boundaries), plus finish(). */
function filterChunks(filter: ByteFilter, input: Buffer, cuts: number[] = []): Buffer {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of [...points, input.length]) {
    const chunk = input.subarray(from, p);
    const out = Buffer.alloc(maxOutput(chunk.length));
    parts.push(out.subarray(0, filter.push(chunk, out)));
    from = p;
  }
  const tail = Buffer.alloc(1);
  parts.push(tail.subarray(0, filter.finish(tail)));
  return Buffer.concat(parts);
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('addcr: CR before every LF, partial last line untouched (rts 41)', () => {
  const table: Array<[string, string]> = [
    ['', ''],
    ['test', 'test'],
    ['test\n', 'test\r\n'],
    ['test\r\n', 'test\r\r\n'],
    ['t\0st\n', 't\0st\r\n'],
    ['\n\n', '\r\n\r\n'],
  ];
  for (const [input, want] of table) assert.deepEqual(filterChunks(new AddCr(), b(input)), b(want), JSON.stringify(input));
});

test('delcr: CR LF to LF, other CRs kept, CR at end of input kept (rts 41)', () => {
  const table: Array<[string, string]> = [
    ['', ''],
    ['test', 'test'],
    ['test\n', 'test\n'],
    ['test\r\n', 'test\n'],
    ['\r\r\r', '\r\r\r'],
    ['a\r\r', 'a\r\r'],
    ['\r\n\r\n', '\n\n'],
    ['a\rb', 'a\rb'],
    ['\r\r\n', '\r\n'],
    ['test\r', 'test\r'],
  ];
  for (const [input, want] of table) {
    assert.deepEqual(filterChunks(new DelCr(), b(input)), b(want), JSON.stringify(input));
    // the same with a chunk boundary after every byte: the held CR crosses reads
    const cuts = [...Array(input.length).keys()];
    assert.deepEqual(filterChunks(new DelCr(), b(input), cuts), b(want), `${JSON.stringify(input)} byte by byte`);
  }
});

test('fixcrio filter: CR only where missing, state kept across chunks (rts 42)', () => {
  assert.deepEqual(filterChunks(new FixCr(), b('a\r\r\nb\n\rc\r')), b('a\r\r\nb\r\n\rc\r'));
  assert.deepEqual(filterChunks(new FixCr(), b('\nhi\nthere\r\n')), b('\r\nhi\r\nthere\r\n'));
  assert.deepEqual(filterChunks(new FixCr(), b('x\r\ny'), [2]), b('x\r\ny'), 'CR and LF in different reads');
  assert.deepEqual(filterChunks(new FixCr(), b('\n\n'), [1]), b('\r\n\r\n'));
});

/** Bytes biased towards CR and LF so that every interesting neighbourhood shows up. */
const streamArb = fc.array(fc.oneof(fc.constant(13), fc.constant(10), fc.constant(13), fc.integer({ min: 0, max: 255 })), {
  maxLength: 300,
});
const caseArb = fc.record({
  bytes: streamArb,
  cuts: fc.array(fc.nat(400), { maxLength: 12 }),
});

const CASES = 150;

/** Outputs of the C tool for each input: one shell loop for all files. */
function cOutputs(dir: string, command: string, inputs: Buffer[]): Buffer[] {
  mkdirSync(dir, { recursive: true });
  inputs.forEach((input, i) => writeFileSync(join(dir, `${i}.in`), input));
  const r = spawnSync('sh', ['-c', `i=0; while [ $i -lt ${inputs.length} ]; do ${command} < $i.in > $i.out; i=$((i+1)); done`], {
    cwd: dir,
  });
  assert.equal(r.status, 0, r.stderr.toString());
  return inputs.map((_, i) => readFileSync(join(dir, `${i}.out`)));
}

const skipC = needC('addcr', 'delcr', 'fixcrio');
if (skipC) console.log(`crlf: differential property tests skipped: ${skipC}`);

for (const [name, make, command] of [
  ['addcr', () => new AddCr(), cBinary('addcr')],
  ['delcr', () => new DelCr(), cBinary('delcr')],
  // fixcrio fixes both directions; through cat the output is input fixed twice, which is fixed once
  ['fixcrio', () => new FixCr(), `${cBinary('fixcrio')} cat`],
] as const) {
  test(`${name}: random streams in random chunks equal the C tool's output`, { skip: skipC }, () => {
    const cases = fc.sample(caseArb, { numRuns: CASES, seed: 4242 });
    const inputs = cases.map((c) => Buffer.from(c.bytes));
    const want = cOutputs(join(tempDir(), name), String(command), inputs);
    cases.forEach((c, i) => {
      const got = filterChunks(make(), inputs[i], c.cuts);
      assert.deepEqual(got, want[i], `input ${inputs[i].toString('hex')} cuts ${c.cuts}`);
    });
    // and a property run with fresh random cases against the same C outputs, reusing the inputs
    fc.assert(
      fc.property(fc.nat(CASES - 1), fc.array(fc.nat(400), { maxLength: 20 }), (i, cuts) => {
        assert.deepEqual(filterChunks(make(), inputs[i], cuts), want[i]);
      }),
      { numRuns: 300 },
    );
  });
}

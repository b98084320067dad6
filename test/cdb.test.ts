// cdb writer and reader: round trips, the exact layout of §5, and a reader that survives any bytes.
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { cdbHash } from '../src/cdb/hash';
import { BufferSource, ByteSource, CdbFormatError, CdbReader } from '../src/cdb/reader';
import { makeCdb } from '../src/cdb/writer';
import { cBinary, needC, ours, runSync } from './support/programs';
import { tempDir } from './support/tmp';

// fixed seed, printed by fast-check with the counterexample on failure; UCSPI_SEED replays another
const SEED = process.env.UCSPI_SEED ? Number(process.env.UCSPI_SEED) : 424242;
const params = (numRuns: number) => ({ seed: SEED, numRuns });

test('cdb hash: djb hash, 32-bit', () => {
  assert.equal(cdbHash(Buffer.alloc(0)), 5381);
  assert.equal(cdbHash(Buffer.from('a')), ((5381 * 33) ^ 0x61) >>> 0);
  // unsigned bytes and wrap-around
  let h = 5381;
  const key = Buffer.from('\xff\x80 a long key that overflows 32 bits many times', 'latin1');
  for (const b of key) h = Number((BigInt(h) * 33n) & 0xffffffffn) ^ b;
  assert.equal(cdbHash(key), h >>> 0);
});

test('cdb layout: header, records from 2048, tables in order (§5)', () => {
  const file = makeCdb([
    [Buffer.from('1.2.3.4'), Buffer.from('D\0')],
    [Buffer.from(''), Buffer.from('')],
  ]);
  assert.equal(file.readUInt32LE(2048), 7);
  assert.equal(file.readUInt32LE(2052), 2);
  assert.equal(file.toString('latin1', 2056, 2063), '1.2.3.4');
  // 2 records, 2 slots each in their tables; empty tables point at the end of the records
  assert.equal(file.length, 2048 + (8 + 7 + 2) + 8 + 2 * 2 * 8);
  let slots = 0;
  for (let t = 0; t < 256; t++) slots += file.readUInt32LE(t * 8 + 4);
  assert.equal(slots, 4);
  assert.equal(file.readUInt32LE(0), 2048 + 17 + 8); // table 0 starts right after the records
  assert.deepEqual(
    makeCdb([]),
    (() => {
      const b = Buffer.alloc(2048);
      for (let t = 0; t < 256; t++) b.writeUInt32LE(2048, t * 8);
      return b;
    })(),
  );
});

const bytes = fc.uint8Array({ maxLength: 40 });
// keys from a small pool too, so that duplicates and shared tables are common
const keyArb = fc.oneof(bytes, fc.constantFrom(...['', 'a', '1.2.3.4', '=x', 'b'].map((s) => Uint8Array.from(Buffer.from(s)))));

test('cdb property: write then read gives every record, duplicates in insertion order', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(keyArb, bytes), { maxLength: 300 }), bytes, (records, absent) => {
      const reader = CdbReader.fromBuffer(makeCdb(records));
      const byKey = new Map<string, Buffer[]>();
      for (const [k, v] of records) {
        const hex = Buffer.from(k).toString('hex');
        byKey.set(hex, [...(byKey.get(hex) ?? []), Buffer.from(v)]);
      }
      for (const [hex, values] of byKey) {
        const key = Buffer.from(hex, 'hex');
        assert.deepEqual([...reader.findAll(key)], values);
        assert.deepEqual(reader.find(key), values[0]);
      }
      if (!byKey.has(Buffer.from(absent).toString('hex'))) assert.equal(reader.find(absent), null);
    }),
    params(300),
  );
});

/** A source that counts reads and fails loudly on anything but an in-range read. */
class CountingSource implements ByteSource {
  reads = 0;
  private readonly inner: BufferSource;
  constructor(private readonly buf: Uint8Array) {
    this.inner = new BufferSource(buf);
  }
  get size(): number {
    return this.buf.length;
  }
  read(position: number, length: number): Buffer {
    this.reads++;
    assert.ok(position >= 0 && length >= 0 && position + length <= this.buf.length, 'read out of range');
    return this.inner.read(position, length);
  }
}

/** Reads a lookup may need: header, at most 2*size/8+2 probes, each with lengths and key chunks. */
function readBound(size: number, keyLength: number): number {
  return 1 + (2 * Math.floor(size / 8) + 2) * (2 + Math.ceil(keyLength / 32)) + 1;
}

function lookupSurvives(file: Uint8Array, key: Uint8Array): void {
  const source = new CountingSource(file);
  const reader = new CdbReader(source);
  try {
    for (const data of reader.findAll(key)) assert.ok(data.length <= file.length);
  } catch (err) {
    if (!(err instanceof CdbFormatError)) throw err;
  }
  assert.ok(source.reads <= readBound(file.length, key.length), `${source.reads} reads`);
}

/** A header entry that aims somewhere: inside, at the edges, past the end, or near 2^32. */
const u32 = (size: number) =>
  fc.oneof(
    fc.integer({ min: 0, max: Math.max(0, size + 16) }),
    fc.constantFrom(0, 1, 2048, 0xffffffff, 0xfffffff8, 0x80000000, 0x20000000, 0x1fffffff),
    fc.integer({ min: 0, max: 0xffffffff }),
  );

test('cdb property: random bytes never make the reader throw anything but CdbFormatError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), bytes, (file, key) => lookupSurvives(file, key)),
    params(400),
  );
});

test('cdb property: hostile headers (huge slot counts and positions) terminate within the bound', () => {
  const arb = fc.tuple(fc.array(fc.tuple(keyArb, bytes), { maxLength: 50 }), keyArb).chain(([records, key]) => {
    const file = makeCdb(records);
    return fc.tuple(fc.constant(file), fc.constant(key), u32(file.length), u32(file.length), fc.uint8Array({ maxLength: 64 }));
  });
  fc.assert(
    fc.property(arb, ([file, key, pos, slots, noise]) => {
      const bad = Buffer.from(file);
      const slot = (cdbHash(key) & 255) * 8;
      bad.writeUInt32LE(pos, slot);
      bad.writeUInt32LE(slots, slot + 4);
      // and scribble over the tables too, sometimes
      if (noise.length > 0)
        bad.set(noise.subarray(0, Math.min(noise.length, bad.length - 2048)), bad.length - Math.min(noise.length, bad.length - 2048));
      lookupSurvives(bad, key);
    }),
    params(400),
  );
  // A table whose end wraps mod 2^32 to just after the probe's start: the probe walks to that end,
  // jumps back to hpos and goes round a cycle of occupied slots with wrong hashes; cdb.c would go
  // round it for hslots (2^29) probes.
  const key = Buffer.from('k');
  const h = cdbHash(key);
  const start = 2048 + (h >>> 8) * 8;
  const file = Buffer.alloc(start + 800);
  const hslots = 2 ** 29 + (h >>> 8) + 10; // hpos + hslots*8 = start + 80 (mod 2^32)
  file.writeUInt32LE(2048, (h & 255) * 8);
  file.writeUInt32LE(hslots, (h & 255) * 8 + 4);
  for (let p = 2048; p < file.length; p += 8) {
    file.writeUInt32LE((h + 1) >>> 0, p);
    file.writeUInt32LE(1, p + 4);
  }
  lookupSurvives(file, key);
});

test('cdb property: truncated and byte-flipped cdb files', () => {
  const arb = fc
    .tuple(
      fc.array(fc.tuple(keyArb, bytes), { minLength: 1, maxLength: 80 }),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 8 }),
    )
    .map(([records, cut, flips]) => {
      const file = makeCdb(records);
      const bad = Buffer.from(file.subarray(0, cut % (file.length + 1)));
      for (const [at, x] of flips) if (bad.length > 0) bad[at % bad.length] ^= x;
      return { bad, keys: records.map(([k]) => k) };
    });
  fc.assert(
    fc.property(arb, ({ bad, keys }) => {
      for (const key of keys) lookupSurvives(bad, key);
    }),
    params(300),
  );
});

test('tcprulescheck on a corrupt cdb: "unable to read F: protocol error", 111, like C', () => {
  const dir = tempDir();
  const file = join(dir, 'bad.cdb');
  // a real rules cdb whose table for the "" key points past the end of the file
  const good = makeCdb([[Buffer.from(''), Buffer.from('D\0')]]);
  const t = (cdbHash(Buffer.alloc(0)) & 255) * 8;
  good.writeUInt32LE(good.length + 100, t);
  writeFileSync(file, good);
  const expected = `tcprulescheck: fatal: unable to read ${file}: protocol error\n`;
  const mine = runSync(ours('tcprulescheck'), [file], { env: { PATH: process.env.PATH, TCPREMOTEIP: '9.9.9.9' } });
  assert.equal(mine.stderr.toString(), expected);
  assert.equal(mine.status, 111);
  assert.equal(mine.stdout.length, 0);
  const skip = needC('tcprulescheck');
  if (skip) return console.log(`C comparison skipped: ${skip}`);
  const theirs = runSync(cBinary('tcprulescheck')!, [file], { env: { TCPREMOTEIP: '9.9.9.9' } });
  assert.equal(theirs.stderr.toString(), expected);
  assert.equal(theirs.status, 111);
});

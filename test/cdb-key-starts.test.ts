// The first bytes of a cdb file's keys, found once when tcpserver loads its rules, and the lookup
// that skips the CIDR step for a file without CIDR keys: it must answer exactly as the lookup that
// probes every step, for rules with and without CIDR networks, IPv4 and IPv6 clients.
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scanKeyStarts } from '../src/cdb/key-starts';
import { BufferSource, CdbReader } from '../src/cdb/reader';
import { makeCdb } from '../src/cdb/writer';
import { lookupRules } from '../src/rules/lookup';
import { parseRules } from '../src/rules/parse';
import { randomHost, randomInfo, randomIp, rulesFile, Rng, seedFromEnv } from './support/rulesgen';
import { randomIp6, randomQuery6, rulesFile6 } from './support/rulesgen6';
import { tempDir } from './support/tmp';

function keysOf(text: string): Buffer[] {
  return parseRules(text).map((r) => Buffer.from(r.key, 'latin1'));
}

function cdbOf(text: string): Buffer {
  return makeCdb(parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const));
}

function compiles(text: string): boolean {
  try {
    parseRules(text);
    return true;
  } catch {
    return false;
  }
}

const wholeFile = (cdb: Buffer) => (p: number, n: number) => cdb.subarray(p, p + n);

/** A rules text with some CIDR networks (IPv4 and IPv6) among 0.88's forms, or none. */
function rulesWithNetworks(rng: Rng): string {
  let base: string;
  // rules texts that tcprules compiles (the generators sometimes add a malformed line)
  do base = rng.chance(0.5) ? rulesFile(rng, { malformed: 0 }) : rulesFile6(rng);
  while (!compiles(base));
  if (rng.chance(0.4)) return base;
  const nets: string[] = [];
  for (let i = rng.int(4); i >= 0; i--) {
    if (rng.chance(0.5)) nets.push(`${randomIp(rng)}/${1 + rng.int(32)}:allow,NET="${i}"`);
    else nets.push(`${randomIp6(rng)}/${1 + rng.int(128)}:deny`);
  }
  // catch-alls below the networks sometimes, so that a network must win over them
  if (rng.chance(0.5)) nets.push(':allow,CATCHALL="1"');
  return `${nets.join('\n')}\n${base}`;
}

describe('scanKeyStarts', () => {
  it('finds the first byte of every key, and nothing else', () => {
    const rng = new Rng(seedFromEnv(1401));
    for (let n = 0; n < 300; n++) {
      const text = rulesWithNetworks(rng);
      const cdb = cdbOf(text);
      const starts = scanKeyStarts(cdb.length, wholeFile(cdb));
      assert.ok(starts, 'a well-formed file is scanned');
      const want = new Set(
        keysOf(text)
          .filter((k) => k.length > 0)
          .map((k) => k[0]),
      );
      for (let b = 0; b < 256; b++) assert.equal(starts.has(b), want.has(b), `byte ${b} in ${JSON.stringify(text)}`);
      // read in small chunks, as a large file is read: the same set
      const chunked = scanKeyStarts(cdb.length, wholeFile(cdb), 13);
      for (let b = 0; b < 256; b++) assert.equal(chunked?.has(b), want.has(b));
    }
  });

  it('gives up on records that do not add up (probing as before), and on a file shorter than its header', () => {
    const cdb = cdbOf('10.0.0.0/8:deny\n1.2.3.4:allow\n');
    const truncated = cdb.subarray(0, 2048 + 5);
    // the records now run past the first hash table's position as the header still gives it
    assert.equal(scanKeyStarts(2048 + 5, wholeFile(Buffer.concat([truncated.subarray(0, 2048), Buffer.from([200, 0, 0, 0, 0])]))), null);
    assert.equal(scanKeyStarts(100, wholeFile(Buffer.alloc(100))), null);
    const lying = Buffer.from(cdb);
    lying.writeUInt32LE(0xffffff, 2048); // a key length beyond the records
    assert.equal(scanKeyStarts(lying.length, wholeFile(lying)), null);
  });

  it('reads a file through positional reads as tcpserver reads a large one', () => {
    const dir = tempDir();
    const path = join(dir, 'rules.cdb');
    const cdb = cdbOf('_abc:deny\n=x:allow\n1.2.3.4:allow\n');
    writeFileSync(path, cdb);
    const fd = openSync(path, 'r');
    try {
      const starts = scanKeyStarts(
        cdb.length,
        (p, n) => {
          const b = Buffer.alloc(n);
          return b.subarray(0, readSync(fd, b, 0, n, p));
        },
        16,
      );
      assert.deepEqual(
        [...'_=1'].map((c) => starts?.has(c.charCodeAt(0))),
        [true, true, true],
      );
      assert.equal(starts?.has('^'.charCodeAt(0)), false);
    } finally {
      closeSync(fd);
    }
  });
});

describe('lookupRules with the first bytes known', () => {
  it('answers as the lookup that probes every step', () => {
    const rng = new Rng(seedFromEnv(1402));
    for (let n = 0; n < 400; n++) {
      const cdb = cdbOf(rulesWithNetworks(rng));
      const probing = CdbReader.fromBuffer(cdb);
      const skipping = new CdbReader(new BufferSource(cdb), scanKeyStarts(cdb.length, wholeFile(cdb)));
      for (let q = 0; q < 20; q++) {
        const query = rng.chance(0.5)
          ? { ip: randomIp(rng), host: rng.chance(0.3) ? randomHost(rng) : null, info: rng.chance(0.2) ? randomInfo(rng) : null }
          : randomQuery6(rng);
        assert.deepEqual(lookupRules(skipping, query), lookupRules(probing, query), JSON.stringify(query));
      }
    }
  });

  it('still finds a CIDR rule where the file has one', () => {
    const cdb = cdbOf('10.0.0.0/8:allow,NET="ten"\n2001:db8::/32:deny\n:allow\n');
    const reader = new CdbReader(new BufferSource(cdb), scanKeyStarts(cdb.length, wholeFile(cdb)));
    assert.equal(lookupRules(reader, { ip: '10.1.2.3', host: null, info: null })?.network, '10.0.0.0/8');
    assert.equal(lookupRules(reader, { ip: '2001:db8::5', host: null, info: null })?.network, '2001:db8::/32');
    assert.equal(lookupRules(reader, { ip: '11.1.2.3', host: null, info: null })?.key, '');
  });
});

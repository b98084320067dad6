// tcprules' byte fast path (encodeRulesLine) against the full parser (parseRulesLine), line by
// line, and compileRules' line splitting across reads (lines spanning reads, a line longer than
// the read buffer, no final LF) against the cdb made from parseRules.
import * as assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CdbWriter, makeCdb, MemoryOutput } from '../src/cdb/writer';
import { compileRules } from '../src/rules/compile';
import { encodeRulesLine } from '../src/rules/encode';
import { parseRules, parseRulesLine, RuleSyntaxError } from '../src/rules/parse';
import { malformedLine, randomBytes, Rng, ruleLine, rulesFile, seedFromEnv } from './support/rulesgen';
import { rulesFile6 } from './support/rulesgen6';
import { tempDir } from './support/tmp';

const SEED = seedFromEnv(20261125);

/** The cdb of one line through the fast path, or null when it declines (and then nothing was added). */
function encoded(line: string): Buffer | null {
  const out = new MemoryOutput();
  const writer = new CdbWriter(out);
  // the line inside a bigger buffer, as compileRules hands it over
  const bytes = Buffer.from(`xx\n${line}\nyy`, 'latin1');
  const taken = encodeRulesLine(bytes, 3, 3 + line.length, writer);
  writer.finish();
  const cdb = out.result();
  if (!taken) {
    assert.deepEqual(cdb, makeCdb([]), `declined, yet wrote something: ${JSON.stringify(line)}`);
    return null;
  }
  return cdb;
}

/** The cdb of one line through parseRulesLine, or null for a parse error. */
function parsed(line: string): Buffer | null {
  try {
    return makeCdb(parseRulesLine(line).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')]));
  } catch (err) {
    if (err instanceof RuleSyntaxError) return null;
    throw err;
  }
}

test('encodeRulesLine: the record parseRulesLine gives, or declines', () => {
  const rng = new Rng(SEED);
  const previous: string[] = [];
  let taken = 0;
  for (let i = 0; i < 20000; i++) {
    const r = rng.int(10);
    const line =
      r < 6
        ? ruleLine(rng, previous)
        : r < 8
          ? malformedLine(rng, previous)
          : r < 9
            ? randomBytes(rng, rng.int(40), '\n', 0)
            : '#' + randomBytes(rng, rng.int(9), '\n', 0);
    const fast = encoded(line);
    if (fast === null) continue;
    taken++;
    assert.deepEqual(fast, parsed(line), `line ${JSON.stringify(line)} (seed ${SEED})`);
  }
  // the fast path must take the common lines, else this test and the benchmark prove nothing
  assert.ok(taken > 8000, `fast path took only ${taken} of 20000 lines`);
});

test('encodeRulesLine: lines it leaves to parseRulesLine', () => {
  for (const line of [
    '1.2.3.37-53:allow',
    '10.0.0.0/8:deny',
    '::1:allow',
    '1:2::3:deny,A=/x/',
    ':Deny',
    ':allow x',
    ':allow,A',
    ':allow,A=',
    ':allow,A="x',
  ]) {
    assert.equal(encoded(line), null, line);
  }
  // taken, though they look unusual: no ':' at all, a comment, a CR kept in the address
  for (const line of ['foo', '', '  \t', '#1.2.3.4:deny', '\r1.2.3.4:allow ', '=a@b:allow,=//']) {
    assert.deepEqual(encoded(line), parsed(line) ?? makeCdb([]), line);
  }
});

function compiled(dir: string, text: string): Buffer {
  const input = join(dir, 'in');
  writeFileSync(input, text, 'latin1');
  const fd = openSync(input, 'r');
  try {
    compileRules(fd, join(dir, 'out.cdb'), join(dir, 'out.tmp'));
  } finally {
    closeSync(fd);
  }
  return readFileSync(join(dir, 'out.cdb'));
}

function parses(text: string): boolean {
  try {
    parseRules(text);
    return true;
  } catch (err) {
    if (err instanceof RuleSyntaxError) return false;
    throw err;
  }
}

function expected(text: string): Buffer {
  return makeCdb(parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')]));
}

test('compileRules: lines across read boundaries, a line longer than the read buffer, no final LF', () => {
  const dir = tempDir();
  const rng = new Rng(SEED + 1);
  const parts: string[] = [];
  // about 3 MiB of ordinary and IPv6 lines, so that many lines span the 1 MiB reads
  for (let size = 0; size < 3 << 20; ) {
    const part = rng.chance(0.5) ? rulesFile(rng, { lines: 200, malformed: 0 }) : rulesFile6(rng, 200);
    if (!parses(part)) continue; // rulesFile6 sometimes has a malformed line
    parts.push(part.endsWith('\n') ? part : part + '\n');
    size += part.length;
  }
  const long = `=${'h'.repeat(2_500_000)}:allow,V="${'v'.repeat(700_000)}"`; // longer than two reads
  const text = parts.join('') + long + '\n' + parts[0] + '1.2.3.4:deny,LAST=/x/'; // no final LF
  assert.deepEqual(compiled(dir, text), expected(text));
});

// tcprules on huge lines, next to the C tcprules: a line is parsed as bytes and never made into one
// JS string (V8 refuses strings over about 512 MiB, where 0.88 reads any line), a range bound of
// millions of digits is read in linear time, and a failure is reported as what it is. The real
// 600 MB line is in the long suite (bench/reliability); here V8's limit is brought down to 1 MiB.
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compileFailureMessage } from '../src/cmd/tcprules';
import { CompileError, compileRules } from '../src/rules/compile';
import { spawnSync } from 'node:child_process';
import { cBinary, needC, ours } from './support/programs';
import { tempDir } from './support/tmp';

const DIR = tempDir();
const MiB = 1 << 20;

function runSync(file: string, args: string[], opts: { input: Buffer; timeout?: number }) {
  const r = spawnSync(file, args, { input: opts.input, timeout: opts.timeout ?? 30_000, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  return r;
}

/** Compile `input` with the C tcprules: the cdb, or null when it fails. */
function withC(input: Buffer, name: string): Buffer | null {
  const r = runSync(cBinary('tcprules')!, [join(DIR, `${name}.c.cdb`), join(DIR, `${name}.c.tmp`)], { input });
  return r.status === 0 ? readFileSync(join(DIR, `${name}.c.cdb`)) : null;
}

/** Compile `input` in this process (as bin/tcprules does), with `patch` in force meanwhile. */
function inProcess(input: Buffer, name: string, patch: () => () => void): Buffer {
  const file = join(DIR, `${name}.txt`);
  writeFileSync(file, input);
  const fd = openSync(file, 'r');
  const undo = patch();
  try {
    compileRules(fd, join(DIR, `${name}.cdb`), join(DIR, `${name}.tmp`));
  } finally {
    undo();
    closeSync(fd);
  }
  return readFileSync(join(DIR, `${name}.cdb`));
}

/** V8's longest string, as if it were `limit` bytes: any longer latin1 string throws as V8 does. */
function stringLimit(limit: number): () => () => void {
  return () => {
    const proto = Buffer.prototype as unknown as Record<string, (...a: unknown[]) => string>;
    const saved = { toString: proto.toString, latin1Slice: proto.latin1Slice };
    const guard = (original: (...a: unknown[]) => string, spanOf: (b: Buffer, a: unknown[]) => number) =>
      function (this: Buffer, ...a: unknown[]): string {
        if (spanOf(this, a) > limit)
          throw Object.assign(new RangeError('Cannot create a string longer than 0x1fffffe8 characters'), { code: 'ERR_STRING_TOO_LONG' });
        return original.apply(this, a);
      };
    proto.toString = guard(saved.toString, (b, a) => ((a[2] as number) ?? b.length) - ((a[1] as number) ?? 0));
    proto.latin1Slice = guard(saved.latin1Slice, (b, a) => ((a[1] as number) ?? b.length) - ((a[0] as number) ?? 0));
    return () => Object.assign(proto, saved);
  };
}

const LINES: Record<string, Buffer> = {
  'a range with a 2 MiB value': Buffer.concat([Buffer.from('1.2.3.4-6:allow,X="'), Buffer.alloc(2 * MiB, 'v'), Buffer.from('"\n')]),
  'a 2 MiB range bound': Buffer.concat([Buffer.from('1.2.3.'), Buffer.alloc(2 * MiB, '0'), Buffer.from('7-9:deny\n')]),
  'a 2 MiB address with a slash': Buffer.concat([Buffer.from('10.0.0.0/'), Buffer.alloc(2 * MiB, '8'), Buffer.from(':allow\n')]),
  'a range with 2 MiB of variables': Buffer.concat([Buffer.from('1.2.3.4-5:deny'), Buffer.alloc(6 * 350_000, ',a="b"'), Buffer.from('\n')]),
};

describe('tcprules lines longer than a JS string can be', { skip: needC('tcprules') }, () => {
  for (const [name, line] of Object.entries(LINES)) {
    it(`${name}: the C tcprules' cdb, byte for byte`, () => {
      const input = Buffer.concat([Buffer.from('127.0.0.1:allow\n'), line, Buffer.from('=x:deny\n')]);
      const expected = withC(input, 'c');
      assert.ok(expected, 'the C tcprules takes it');
      assert.ok(inProcess(input, 'ours', stringLimit(MiB)).equals(expected));
    });
  }
  it('a bad line is printed whole, as bytes', () => {
    const line = Buffer.concat([Buffer.from('1.2.3.4-5:allow,X'), Buffer.alloc(2 * MiB, 'y')]);
    assert.throws(
      () => inProcess(Buffer.concat([line, Buffer.from('\n')]), 'bad', stringLimit(MiB)),
      (err: unknown) => {
        const m = compileFailureMessage((err as CompileError).failure, 'x.cdb', 'x.tmp');
        return m.code === 100 && m.bytes!.equals(Buffer.concat([Buffer.from('unable to parse this line: '), line]));
      },
    );
    const r = runSync(ours('tcprules'), [join(DIR, 'b.cdb'), join(DIR, 'b.tmp')], { input: Buffer.concat([line, Buffer.from('\n')]) });
    assert.equal(r.status, 100);
    assert.ok(r.stderr.equals(Buffer.concat([Buffer.from('tcprules: fatal: unable to parse this line: '), line, Buffer.from('\n')])));
  });
  it('a range bound of 64 million digits, next to C', () => {
    const input = Buffer.concat([
      Buffer.from('1.2.3.'),
      Buffer.alloc(64 * MiB, '9'),
      Buffer.from('-5:allow\n1.2.3.4-'),
      Buffer.alloc(64 * MiB, '7'),
      Buffer.from(':deny\n'),
    ]);
    const expected = withC(input, 'digits');
    const r = runSync(ours('tcprules'), [join(DIR, 'digits.cdb'), join(DIR, 'digits.tmp')], { input, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.ok(readFileSync(join(DIR, 'digits.cdb')).equals(expected!));
  });
  it('a buffer larger than Node makes is "out of memory", as 0.88 says when malloc fails', () => {
    const allocUnsafe = Buffer.allocUnsafe;
    const cap = () => {
      Buffer.allocUnsafe = (size: number) => {
        if (size > 4 * MiB) throw new RangeError('Array buffer allocation failed');
        return allocUnsafe(size);
      };
      return () => {
        Buffer.allocUnsafe = allocUnsafe;
      };
    };
    const line = Buffer.concat([Buffer.from('1.2.3.4:allow,X="'), Buffer.alloc(6 * MiB, 'v'), Buffer.from('"\n')]);
    assert.throws(
      () => inProcess(line, 'memory', cap),
      (err: unknown) => {
        const m = compileFailureMessage((err as CompileError).failure, 'x.cdb', 'x.tmp');
        return m.text === 'out of memory' && m.code === 111;
      },
    );
  });
});

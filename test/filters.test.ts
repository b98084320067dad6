// bin/addcr and bin/delcr end to end, next to Debian's C binaries: same bytes, same exit codes,
// including read errors, write errors, a broken pipe, and a stream far larger than any buffer.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { cBinary, needC, ours, runSync } from './support/programs';
import { tempDir } from './support/tmp';

const skipC = needC('addcr', 'delcr');
if (skipC) console.log(`filters: comparisons with C skipped: ${skipC}`);

/** Run our tool and (when installed) the C one through sh with the same redirections. */
function both(tool: string, shell: string, input = ''): { ours: ReturnType<typeof runSync>; c?: ReturnType<typeof runSync> } {
  const run = (path: string) => runSync('sh', ['-c', shell.replace('TOOL', `'${path}'`)], { input });
  const c = cBinary(tool);
  return { ours: run(ours(tool)), c: c ? run(c) : undefined };
}

const CASES: Array<[string, string]> = [
  ['', ''],
  ['test', 'partial line'],
  ['test\n', 'line'],
  ['test\r\n', 'CR LF'],
  ['\r\r\r', 'CRs only'],
  ['a\r\r', 'trailing CRs'],
  ['\r\n\r\n', 'two empty CRLF lines'],
  ['t\0st\r\r\n\n\r', 'NUL and mixed'],
];

for (const tool of ['addcr', 'delcr']) {
  test(`${tool}: same output and status as C for the rts inputs`, () => {
    for (const [input, label] of CASES) {
      const r = both(tool, 'TOOL', input);
      assert.equal(r.ours.status, 0, `${label}: stderr ${JSON.stringify(r.ours.stderr.toString())}`);
      if (r.c) {
        assert.deepEqual(r.ours.stdout, r.c.stdout, label);
        assert.equal(r.ours.status, r.c.status, label);
      }
    }
    // expected bytes spelled out, for machines without the C tools
    const got = runSync(ours(tool), [], { input: 'a\r\nb\n' }).stdout.toString('latin1');
    assert.equal(got, tool === 'addcr' ? 'a\r\r\nb\r\n' : 'a\nb\n');
  });

  test(`${tool}: arguments are ignored`, () => {
    assert.equal(runSync(ours(tool), ['-x', 'y'], { input: 'q\n' }).stdout.length, tool === 'addcr' ? 3 : 2);
  });

  test(`${tool}: 111 on a read error (stdin a directory), on a write error (/dev/full)`, () => {
    for (const shell of ['TOOL < /', 'echo hi | TOOL > /dev/full', 'head -c 300000 /dev/zero | tr "\\0" "\\n" | TOOL > /dev/full']) {
      const r = both(tool, `${shell}; echo "rc=$?"`);
      assert.match(r.ours.stdout.toString(), /rc=111\n$/, shell);
      assert.equal(r.ours.stderr.length, 0, 'no message, as 0.88');
      if (r.c) assert.deepEqual(r.ours.stdout, r.c.stdout, shell);
    }
  });

  test(`${tool}: nothing to write at the end is not a write error`, () => {
    const r = both(tool, 'printf "" | TOOL > /dev/full; echo "rc=$?"');
    assert.equal(r.ours.stdout.toString(), 'rc=0\n');
    if (r.c) assert.deepEqual(r.ours.stdout, r.c.stdout);
  });

  test(`${tool}: a reader that goes away kills it with SIGPIPE, as the C tool`, { skip: skipC }, () => {
    const shell = '(TOOL < /dev/zero; echo "status=$?" >&2) | head -c 10 > /dev/null';
    const r = both(tool, shell);
    assert.equal(r.ours.stderr.toString(), 'status=141\n');
    assert.deepEqual(r.ours.stderr, r.c!.stderr);
  });
}

test('delcr: a CR held back at the end is written even though its last flush may fail (status 0)', () => {
  const r = both('delcr', 'printf "\\r" | TOOL > /dev/full; echo "rc=$?"');
  assert.equal(r.ours.stdout.toString(), 'rc=0\n');
  if (r.c) assert.deepEqual(r.ours.stdout, r.c.stdout);
});

test('addcr: 256 MiB stream in constant memory', async () => {
  // 4 KiB blocks of "x...x\n" from a generator; the output length proves every byte went through,
  // the peak RSS of the filter process that its buffers do not grow with the stream
  const block = Buffer.alloc(4096, 'x');
  block[4095] = 10;
  const blocks = 65536;
  const child = spawn(ours('addcr'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let outBytes = 0;
  let crs = 0;
  child.stdout.on('data', (d: Buffer) => {
    outBytes += d.length;
    for (let i = d.indexOf(13); i >= 0; i = d.indexOf(13, i + 1)) crs++;
  });
  let peakKb = 0;
  const sample = (): void => {
    try {
      const m = /VmHWM:\s+(\d+)/.exec(require('node:fs').readFileSync(`/proc/${child.pid}/status`, 'latin1'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // exited
    }
  };
  for (let i = 0; i < blocks; i++) {
    if (!child.stdin.write(block)) await new Promise((r) => child.stdin.once('drain', r));
    if (i % 4096 === 0) sample();
  }
  sample();
  child.stdin.end();
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  assert.equal(outBytes, blocks * 4097);
  assert.equal(crs, blocks);
  assert.ok(peakKb > 0 && peakKb < 200 * 1024, `peak RSS ${peakKb} kB`);
});

test("addcr, delcr, fixcrio binaries: random streams give the C tools' bytes", { skip: needC('addcr', 'delcr', 'fixcrio') }, () => {
  // the filters' chunking is tested in crlf.test.ts; this runs the real programs (ours one Node start
  // per case), batched in one shell loop per implementation
  const dir = tempDir();
  const inputs = fc.sample(
    fc.uint8Array({ maxLength: 200_000 }).map((a) => {
      for (let i = 0; i < a.length; i++) if (a[i] % 5 === 0) a[i] = a[i] % 2 ? 13 : 10;
      return Buffer.from(a);
    }),
    { numRuns: 6, seed: 77 },
  );
  inputs.push(Buffer.from('\r'), Buffer.from('x\r\r\n\r'));
  inputs.forEach((input, i) => writeFileSync(join(dir, `${i}.in`), input));
  for (const [tool, args] of [
    ['addcr', ''],
    ['delcr', ''],
    ['fixcrio', ' cat'],
  ]) {
    for (const impl of ['ours', 'c']) {
      const bin = impl === 'ours' ? ours(tool) : cBinary(tool)!;
      mkdirSync(join(dir, impl), { recursive: true });
      const r = runSync('sh', ['-c', `for i in $(seq 0 ${inputs.length - 1}); do '${bin}'${args} < $i.in > ${impl}/${tool}.$i; done`], {
        cwd: dir,
      });
      assert.equal(r.status, 0, r.stderr.toString());
    }
    inputs.forEach((_, i) => {
      assert.deepEqual(readFileSync(join(dir, 'ours', `${tool}.${i}`)), readFileSync(join(dir, 'c', `${tool}.${i}`)), `${tool} input ${i}`);
    });
  }
});

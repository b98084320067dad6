// tcprules replaces the cdb atomically: whatever happens before the rename (SIGKILL mid-write, a
// parse error, a rename that fails) leaves the old cdb byte-identical and still usable.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cBinary, needC, ours, runSync } from './support/programs';
import { tempDir } from './support/tmp';

const OLD_RULES = '1.2.3.4:deny\n:allow,OLD=/yes/\n';

/** Compile OLD_RULES into dir/test.cdb with bin/tcprules; returns the cdb's bytes. */
function withOldCdb(dir: string): Buffer {
  const r = runSync(ours('tcprules'), ['test.cdb', 'test.tmp'], { input: OLD_RULES, cwd: dir });
  assert.equal(r.status, 0, r.stderr.toString());
  return readFileSync(join(dir, 'test.cdb'));
}

function assertOldCdbServes(dir: string, old: Buffer): void {
  assert.ok(readFileSync(join(dir, 'test.cdb')).equals(old), 'the old cdb is byte-identical');
  const r = runSync(ours('tcprulescheck'), ['test.cdb'], { cwd: dir, env: { PATH: process.env.PATH, TCPREMOTEIP: '1.2.3.4' } });
  assert.equal(r.stdout.toString(), 'rule 1.2.3.4:\ndeny connection\n');
  const r2 = runSync(ours('tcprulescheck'), ['test.cdb'], { cwd: dir, env: { PATH: process.env.PATH, TCPREMOTEIP: '5.6.7.8' } });
  assert.equal(r2.stdout.toString(), 'rule :\nset environment variable OLD=yes\nallow connection\n');
}

/** Resolves once `check` holds, polling; the test's own timeout bounds the wait. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

for (const [name, program, skip] of [
  ['bin/tcprules', ours('tcprules'), false],
  ['C tcprules', cBinary('tcprules') ?? '', needC('tcprules')],
] as const) {
  test(`${name} killed mid-write leaves the old cdb in place`, { skip, timeout: 60_000 }, async () => {
    const dir = tempDir();
    const old = withOldCdb(dir);
    const child = spawn(program, ['test.cdb', 'test.tmp'], { cwd: dir, stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.stdin.on('error', () => {});
    // plenty of rules, but stdin stays open: tcprules is stuck reading, part of the records written
    const chunk = Buffer.from(Array.from({ length: 5000 }, (_, i) => `10.${i >> 8}.${i & 255}.1:allow,N=/${'x'.repeat(40)}/\n`).join(''));
    const tmp = join(dir, 'test.tmp');
    for (let i = 0; i < 20; i++) child.stdin.write(chunk);
    await until(() => existsSync(tmp) && statSync(tmp).size > 256 * 1024);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assertOldCdbServes(dir, old);
    assert.ok(existsSync(tmp), 'the partial temp file is left behind, as in 0.88');
  });
}

test('a parse error after thousands of records leaves the old cdb in place', () => {
  const dir = tempDir();
  const old = withOldCdb(dir);
  const input = Array.from({ length: 20000 }, (_, i) => `10.0.${i % 256}.${i >> 8}:deny\n`).join('') + '1.2.3.4:permit\n';
  const r = runSync(ours('tcprules'), ['test.cdb', 'test.tmp'], { input, cwd: dir });
  assert.equal(r.status, 100);
  assert.equal(r.stderr.toString(), 'tcprules: fatal: unable to parse this line: 1.2.3.4:permit\n');
  assertOldCdbServes(dir, old);
});

// a temp file on another filesystem: rename(2) fails with EXDEV after the whole cdb is written
const otherFs = ['/dev/shm', '/run', '/run/user'].find((d) => {
  try {
    return statSync(d).isDirectory() && statSync(d).dev !== statSync(tmpdir()).dev;
  } catch {
    return false;
  }
});

test('a failed rename (temp file on another filesystem) leaves the old cdb in place', {
  skip: otherFs ? false : 'no second filesystem (tried /dev/shm, /run) next to os.tmpdir()',
}, () => {
  const dir = tempDir();
  const old = withOldCdb(dir);
  const tmp = join(otherFs!, `ucspi-ts-crash-${process.pid}.tmp`);
  try {
    const r = runSync(ours('tcprules'), ['test.cdb', tmp], { input: ':deny\n', cwd: dir });
    assert.equal(r.stderr.toString(), `tcprules: fatal: unable to move ${tmp} to test.cdb: cross-device link\n`);
    assert.equal(r.status, 111);
    assertOldCdbServes(dir, old);
    const skip = needC('tcprules');
    if (!skip) {
      const c = runSync(cBinary('tcprules')!, ['test.cdb', tmp], { input: ':deny\n', cwd: dir });
      assert.equal(c.stderr.toString(), r.stderr.toString());
      assert.equal(c.status, 111);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
});

test('a failed rename (target turned into a directory) leaves the new cdb in the temp file', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'test.cdb'));
  const r = runSync(ours('tcprules'), ['test.cdb', 'test.tmp'], { input: OLD_RULES, cwd: dir });
  assert.equal(r.status, 111);
  assert.equal(r.stderr.toString(), 'tcprules: fatal: unable to move test.tmp to test.cdb: is a directory\n');
  assert.ok(statSync(join(dir, 'test.cdb')).isDirectory());
  // the complete cdb is in the temp file and answers lookups
  const check = runSync(ours('tcprulescheck'), ['test.tmp'], { cwd: dir, env: { PATH: process.env.PATH, TCPREMOTEIP: '1.2.3.4' } });
  assert.equal(check.stdout.toString(), 'rule 1.2.3.4:\ndeny connection\n');
});

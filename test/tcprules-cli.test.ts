// bin/tcprules and bin/tcprulescheck against Debian's C binaries: rts tests 27-39, every error path
// that can be provoked without privileges, and a list of edge-case lines. Each case runs both
// programs in their own fresh directory with the same relative arguments, and compares exit code,
// stdout, stderr and the cdb produced.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cBinary, needC, ours, runSync } from './support/programs';
import { tempDir } from './support/tmp';

const skipC = needC('tcprules', 'tcprulescheck');
if (skipC) console.log(`tcprules-cli: comparisons with C skipped: ${skipC}`);

const root = tempDir('ucspi-cli-');
let serial = 0;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  cdb: string | null;
}

/** Run `program args` in a fresh directory prepared by `setup`, collect what it did. */
function runIn(
  file: string,
  args: string[],
  opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; setup?: (dir: string) => void; cdb?: string } = {},
): Result {
  const dir = join(root, String(serial++));
  mkdirSync(dir);
  opts.setup?.(dir);
  // PATH only so that bin/'s "#!/usr/bin/env node" finds node
  const r = spawnSync(file, args, { input: opts.input ?? '', env: { PATH: process.env.PATH, ...opts.env }, cwd: dir, timeout: 30_000 });
  // EPIPE: the program exited before reading its input (e.g. unable to create), which is fine
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE') throw r.error;
  const cdbPath = join(dir, opts.cdb ?? 'test.cdb');
  return {
    status: r.status,
    stdout: r.stdout.toString('latin1'),
    stderr: r.stderr.toString('latin1'),
    cdb: existsSync(cdbPath) ? readFileSync(cdbPath).toString('hex') : null,
  };
}

/** The same run with the C binary and ours; they must agree. Returns ours. */
function same(name: 'tcprules' | 'tcprulescheck', args: string[], opts: Parameters<typeof runIn>[2] = {}): Result {
  const mine = runIn(ours(name), args, opts);
  if (!skipC) {
    const theirs = runIn(cBinary(name)!, args, opts);
    assert.deepEqual(mine, theirs, `${name} ${args.join(' ')} with input ${JSON.stringify(opts.input ?? '')}`);
  }
  return mine;
}

test('tcprules: usage (rts 27)', () => {
  for (const args of [[], ['test.cdb']]) {
    const r = same('tcprules', args);
    assert.equal(r.status, 100);
    assert.equal(r.stderr, 'tcprules: usage: tcprules rules.cdb rules.tmp\n');
  }
  // extra arguments are ignored
  assert.equal(same('tcprules', ['test.cdb', 'test.tmp', 'extra'], { input: ':deny\n' }).status, 0);
});

test('tcprules: unable to create (rts 28), unable to move (rts 29)', () => {
  let r = same('tcprules', ['test.cdb', '/dev/nonexistent/tmp'], { input: '1.2.3.4:deny\n' });
  assert.equal(r.stderr, 'tcprules: fatal: unable to create /dev/nonexistent/tmp: file does not exist\n');
  assert.equal(r.status, 111);
  r = same('tcprules', ['/dev/nonexistent/cdb', 'test.tmp'], { input: '1.2.3.4:deny\n' });
  assert.equal(r.stderr, 'tcprules: fatal: unable to move test.tmp to /dev/nonexistent/cdb: file does not exist\n');
  assert.equal(r.status, 111);
  // the temp file is a directory
  r = same('tcprules', ['test.cdb', 'd'], { input: ':deny\n', setup: (d) => mkdirSync(join(d, 'd')) });
  assert.equal(r.stderr, 'tcprules: fatal: unable to create d: is a directory\n');
  // the target is a directory, empty or not
  r = same('tcprules', ['d', 'test.tmp'], { input: ':deny\n', setup: (d) => mkdirSync(join(d, 'd')) });
  assert.equal(r.stderr, 'tcprules: fatal: unable to move test.tmp to d: is a directory\n');
  r = same('tcprules', ['d', 'test.tmp'], {
    input: ':deny\n',
    setup: (d) => (mkdirSync(join(d, 'd')), writeFileSync(join(d, 'd', 'f'), '')),
  });
  assert.equal(r.status, 111);
  assert.match(r.stderr, /^tcprules: fatal: unable to move test\.tmp to d: /);
});

test('tcprules: read and write errors', () => {
  // stdin is a directory: the runner cannot pass one, so use a shell redirection
  const shell = (prog: string) => runSync('/bin/sh', ['-c', `exec "$0" test.cdb test.tmp < /`, prog], { cwd: root });
  const mine = shell(ours('tcprules'));
  assert.equal(mine.stderr.toString(), 'tcprules: fatal: unable to read input: is a directory\n');
  assert.equal(mine.status, 111);
  if (!skipC) assert.deepEqual(shell(cBinary('tcprules')!), mine);
  const r = same('tcprules', ['test.cdb', '/dev/full'], { input: ':deny\n'.repeat(20000) });
  assert.equal(r.stderr, 'tcprules: fatal: unable to write to /dev/full: out of disk space\n');
  assert.equal(r.status, 111);
});

test('tcprules then tcprulescheck (rts 30-32)', () => {
  const setup = (d: string) => writeFileSync(join(d, 'test.cdb'), Buffer.from(compiled('1.2.3.4:deny\n'), 'hex'));
  let r = same('tcprulescheck', ['test.cdb'], { setup, env: { TCPREMOTEIP: '1.2.3.4' } });
  assert.equal(r.stdout, 'rule 1.2.3.4:\ndeny connection\n');
  assert.equal(r.status, 0);
  r = same('tcprulescheck', ['test.cdb'], { setup, env: { TCPREMOTEIP: '1.2.3.5' } });
  assert.equal(r.stdout, 'default:\nallow connection\n');
});

/** Compile with both and return the (identical) cdb as hex. */
function compiled(text: string): string {
  const r = same('tcprules', ['test.cdb', 'test.tmp'], { input: text });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.cdb!;
}

function check(cdbHex: string, env: NodeJS.ProcessEnv): string {
  const setup = (d: string) => writeFileSync(join(d, 'test.cdb'), Buffer.from(cdbHex, 'hex'));
  const r = same('tcprulescheck', ['test.cdb'], { setup, env });
  assert.equal(r.status, 0);
  return r.stdout;
}

test('rts 33-37: four delimiters', () => {
  const cdb = compiled(
    'joe@127.0.0.1:allow,which=/first/\n18.23.0.32:allow,which="second"\n127.:allow,which=+third+\n:allow,which==fourth=\n',
  );
  const rule = (key: string, which: string) => `rule ${key}:\nset environment variable which=${which}\nallow connection\n`;
  assert.equal(check(cdb, { TCPREMOTEIP: '127.0.0.1', TCPREMOTEINFO: 'joe' }), rule('joe@127.0.0.1', 'first'));
  assert.equal(check(cdb, { TCPREMOTEIP: '18.23.0.32', TCPREMOTEINFO: 'joe' }), rule('18.23.0.32', 'second'));
  assert.equal(check(cdb, { TCPREMOTEIP: '127.0.0.1' }), rule('127.', 'third'));
  assert.equal(check(cdb, { TCPREMOTEIP: '10.0.0.1' }), rule('', 'fourth'));
});

test('rts 38: comments and a range', () => {
  const cdb = compiled('# comment\n127.0-5.:allow,which=/first/,where=/whatever/\n\n# another\n');
  for (let n = 0; n <= 10; n++) {
    const out = check(cdb, { TCPREMOTEIP: `127.${n}.0.1` });
    const expected =
      n <= 5
        ? `rule 127.${n}.:\nset environment variable which=first\nset environment variable where=whatever\nallow connection\n`
        : 'default:\nallow connection\n';
    assert.equal(out, expected);
  }
});

test('rts 39: host names', () => {
  const cdb = compiled('=known.edu:allow,which=/known/\n=.abuser.edu:deny\n:allow,which=/anybody/\n');
  const anybody = 'rule :\nset environment variable which=anybody\nallow connection\n';
  assert.equal(
    check(cdb, { TCPREMOTEIP: '1.2.3.4', TCPREMOTEHOST: 'known.edu' }),
    'rule =known.edu:\nset environment variable which=known\nallow connection\n',
  );
  assert.equal(check(cdb, { TCPREMOTEIP: '1.2.3.4', TCPREMOTEHOST: 'random.edu' }), anybody);
  assert.equal(check(cdb, { TCPREMOTEIP: '1.2.3.4', TCPREMOTEHOST: 'abuser.edu' }), anybody);
  assert.equal(check(cdb, { TCPREMOTEIP: '1.2.3.4', TCPREMOTEHOST: 'x.abuser.edu' }), 'rule =.abuser.edu:\ndeny connection\n');
  assert.equal(check(cdb, { TCPREMOTEIP: '1.2.3.4', TCPREMOTEHOST: 'x.y.abuser.edu' }), 'rule =.abuser.edu:\ndeny connection\n');
});

// Lines whose handling is easy to get wrong: each one alone in a file, then all good ones together.
const EDGE_LINES = [
  '1.2.3.4:deny',
  ':allow',
  // '::1:allow' is an IPv6 rule now (Debian's ucspi-tcp-ipv6), 0.88 rejects it: see rules-ipv6*.test.ts
  '1.2.3.4:deny\r',
  '1.2.3.4:deny \t \t',
  ' 1.2.3.4:deny',
  '#1.2.3.4:deny',
  ' #1.2.3.4:deny',
  'foo',
  '   ',
  ':',
  ':Deny',
  ':denyx',
  ':deny,',
  ':allow,X',
  ':allow,X=',
  ':allow,X="v',
  ':allow,X="v"x',
  ':allow,X= a b',
  ':allow,X= a ',
  ':allow,X=,a,',
  ':allow,X==a=',
  ':allow,X=\x00a\x00',
  ':allow,=/v/',
  ':allow,\xff\x01=\x80v\xfe\x80',
  ':allow,A=:x:,B=/y/',
  ':allow,A=:x:b:',
  'a\x00b:allow,A=/\x00/',
  'ab\x00cd:foo',
  '1.2.3.37-53:allow',
  '10.2-3.:allow',
  '1-3.2.3.4:allow',
  '1.2.3.250-300:allow',
  '1.2.3.4-:allow',
  '1.2.3.9-2:allow',
  '1.2.3.-2:allow',
  '-:allow',
  '1.2.3.007-9:allow',
  '1.2.3.4-5-6:allow',
  '1.2.3.x-5:allow',
  '1.2.3.4-5x:allow',
  '1.2\x003-4:allow',
  '1.2.3.4-5\x00junk:allow',
  '1.18446744073709551617-2:allow',
  '1.254-99999999999999999999999:allow',
  'x@1.2.3.4-5:allow',
  '=a-b.c:allow',
  '1.2.3.4:allow\n1.2.3.4:deny',
  'no newline at the end:allow,A=/x/',
];

test(`tcprules: ${EDGE_LINES.length} edge-case lines, one file each and good ones together`, () => {
  const good: string[] = [];
  for (const line of EDGE_LINES) {
    const r = same('tcprules', ['test.cdb', 'test.tmp'], {
      input: Buffer.from(line + (line.startsWith('no newline') ? '' : '\n'), 'latin1'),
    });
    if (r.status === 0) good.push(line);
    else assert.equal(r.status, 100, r.stderr);
  }
  assert.ok(good.length > 20 && good.length < EDGE_LINES.length - 10, `${good.length} good lines`);
  same('tcprules', ['test.cdb', 'test.tmp'], { input: Buffer.from(good.join('\n'), 'latin1') });
  // the message stops at a NUL byte, as C's strerr prints a C string
  assert.equal(
    same('tcprules', ['test.cdb', 'test.tmp'], { input: Buffer.from('ab\x00cd:foo\n', 'latin1') }).stderr,
    'tcprules: fatal: unable to parse this line: ab\n',
  );
});

test('tcprulescheck: usage and unreadable files', () => {
  let r = same('tcprulescheck', []);
  assert.equal(r.stderr, 'tcprulescheck: usage: tcprulescheck rules.cdb\n');
  assert.equal(r.status, 100);
  r = same('tcprulescheck', ['nonexist.cdb']);
  assert.equal(r.stderr, 'tcprulescheck: fatal: unable to read nonexist.cdb: file does not exist\n');
  assert.equal(r.status, 111);
  // Debian's build reports EINVAL for an empty file (the failed mmap is kept, munmap sets errno)
  r = same('tcprulescheck', ['test.cdb'], { setup: (d) => writeFileSync(join(d, 'test.cdb'), '') });
  assert.equal(r.stderr, 'tcprulescheck: fatal: unable to read test.cdb: invalid argument\n');
  r = same('tcprulescheck', ['/dev/null']);
  assert.equal(r.stderr, 'tcprulescheck: fatal: unable to read /dev/null: invalid argument\n');
  // shorter than the header: protocol error
  r = same('tcprulescheck', ['test.cdb'], { setup: (d) => writeFileSync(join(d, 'test.cdb'), 'x') });
  assert.equal(r.stderr, 'tcprulescheck: fatal: unable to read test.cdb: protocol error\n');
  assert.equal(r.status, 111);
  // a directory: the C binary crashes here (mmap fails, the failed map is then read); we say why
  const mine = runIn(ours('tcprulescheck'), ['.']);
  assert.equal(mine.stderr, 'tcprulescheck: fatal: unable to read .: is a directory\n');
  assert.equal(mine.status, 111);
});

test('tcprules: lines longer than a read chunk, and many of them', () => {
  const long = `1.2.3.4:allow,A=/${'x'.repeat(300_000)}/,B="y"\n`;
  const many = Array.from({ length: 30_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:deny`).join('\n');
  const r = same('tcprules', ['test.cdb', 'test.tmp'], { input: long + many + '\n' + long.replace('1.2.3.4', '') });
  assert.equal(r.status, 0);
  assert.ok(r.cdb !== null && r.cdb.length > 2 * 600_000);
});

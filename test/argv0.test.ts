// argv0 end to end, next to the C binary (rts 44).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { cBinary, needC, ours, runSync } from './support/programs';

const skipC = needC('argv0');
if (skipC) console.log(`argv0: comparisons with C skipped: ${skipC}`);

const SCENARIOS: Array<[string, string[]]> = [
  ['runs the program with the chosen argv[0]', ['sh', 'zero', '-c', 'echo $0; exit 7']],
  ['usage without arguments', []],
  ['usage with one argument', ['sh']],
  ['unable to run a missing program', ['/nonexistent/prog', 'x']],
  ['PATH search', ['nonexistent-program-name-xyz', 'x']],
  ['access denied', ['/etc/passwd', 'x']],
];

for (const [label, args] of SCENARIOS) {
  test(`argv0: ${label}`, () => {
    const r = runSync(ours('argv0'), args);
    const c = cBinary('argv0');
    if (c) {
      const want = runSync(c, args);
      assert.equal(r.status, want.status);
      assert.deepEqual(r.stdout, want.stdout);
      assert.deepEqual(r.stderr, want.stderr);
    }
    if (args.length === 0) assert.equal(r.status, 100);
  });
}

test('argv0: exact texts', () => {
  assert.equal(runSync(ours('argv0'), ['sh', 'zero', '-c', 'echo $0']).stdout.toString(), 'zero\n');
  const u = runSync(ours('argv0'), ['sh']);
  assert.equal(u.stderr.toString(), 'argv0: usage: argv0 realname program [ arg ... ]\n');
  const f = runSync(ours('argv0'), ['/nonexistent/prog', 'x']);
  assert.equal(f.status, 111);
  assert.equal(f.stderr.toString(), 'argv0: fatal: unable to run /nonexistent/prog: file does not exist\n');
});

test('argv0: the program keeps stdin, stdout and stderr and the process', () => {
  const r = runSync(ours('argv0'), ['sh', 'x', '-c', 'read l; echo "$l"; echo err >&2; cat /proc/$$/comm'], { input: 'in\n' });
  assert.equal(r.stdout.toString(), 'in\nsh\n');
  assert.equal(r.stderr.toString(), 'err\n');
});

test('argv0: the environment reaches the program as given, NODE_EXTRA_CA_CERTS included (the shim moves it aside)', () => {
  const show = ['sh', 'x', '-c', 'echo "${NODE_EXTRA_CA_CERTS-unset} ${UCSPI_TS_EXTRA_CA_CERTS-unset}"'];
  const withCa = { ...process.env, NODE_EXTRA_CA_CERTS: '/etc/some file.pem' };
  assert.equal(runSync(ours('argv0'), show, { env: withCa }).stdout.toString(), '/etc/some file.pem unset\n');
  const withoutCa = { ...process.env };
  delete withoutCa.NODE_EXTRA_CA_CERTS;
  assert.equal(runSync(ours('argv0'), show, { env: withoutCa }).stdout.toString(), 'unset unset\n');
  const c = cBinary('argv0');
  if (c) {
    const env = { ...withCa, ODD: 'caf\u00e9 \t x' };
    const sorted = (b: Buffer) => b.toString('latin1').split('\n').sort().join('\n');
    assert.equal(sorted(runSync(ours('argv0'), ['env', 'env'], { env }).stdout), sorted(runSync(c, ['env', 'env'], { env }).stdout));
  }
});

test('argv0, recordio, tcpclient pass inherited descriptors on to the program, as C programs that exec', () => {
  // Node marks inherited descriptors close-on-exec at start-up; the program must still get fd 3
  const { mkdtempSync, writeFileSync, rmSync } = require('node:fs') as typeof import('node:fs');
  const dir = mkdtempSync('/tmp/ucspi-fd-');
  try {
    writeFileSync(`${dir}/in`, 'from fd 3\n');
    for (const [tool, prefix] of [
      ['argv0', 'sh x'],
      ['recordio', 'sh'],
    ]) {
      const script = (bin: string) => `'${bin}' ${prefix} -c 'cat <&3' 3<'${dir}/in' 2>/dev/null </dev/null`;
      const r = runSync('sh', ['-c', script(ours(tool))]);
      assert.equal(r.stdout.toString(), 'from fd 3\n', tool);
      const c = cBinary(tool);
      if (c) assert.deepEqual(r.stdout, runSync('sh', ['-c', script(c)]).stdout);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

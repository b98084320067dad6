// recordio and fixcrio end to end, next to Debian's C binaries (rts 42-43): the program keeps the
// tool's pid and exit status; recordio's log lines (compared per direction, since the interleaving of
// the two directions depends on timing) and fixcrio's bytes equal the C tools'.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect, AddressInfo } from 'node:net';
import { test } from 'node:test';
import { recordLines } from '../src/copier/record';
import { cBinary, needC, ours, run, RunResult } from './support/programs';

const skipC = needC('recordio', 'fixcrio');
if (skipC) console.log(`recordio: comparisons with C skipped: ${skipC}`);

/** Log lines with the pid replaced, split by direction. */
function logByDirection(stderr: Buffer): { into: string[]; out: string[]; other: string[]; pids: Set<string> } {
  const into: string[] = [];
  const out: string[] = [];
  const other: string[] = [];
  const pids = new Set<string>();
  for (const line of stderr.toString('latin1').split(/(?<=\n)/)) {
    const m = /^(\d+)( [<>] )/.exec(line);
    if (!m) {
      if (line) other.push(line);
      continue;
    }
    pids.add(m[1]);
    const rest = line.slice(m[1].length);
    (m[2] === ' < ' ? into : out).push(rest);
  }
  return { into, out, other, pids };
}

async function both(tool: string, args: string[], input: string | Buffer): Promise<{ ours: RunResult; c?: RunResult }> {
  const c = cBinary(tool);
  return { ours: await run(ours(tool), args, { input }), c: c ? await run(c, args, { input }) : undefined };
}

test('recordLines: 0.88 format (LF pieces end " \\n", the rest "+\\n", 256-byte reads)', () => {
  const lines = (s: string | Buffer) => recordLines(42, ' < ', Buffer.from(s)).map((l) => l.toString('latin1'));
  assert.deepEqual(lines('test\n'), ['42 < test \n']);
  assert.deepEqual(lines('\nab\ncd'), ['42 <  \n', '42 < ab \n', '42 < cd+\n']);
  const long = lines(Buffer.alloc(600, 'a'));
  assert.deepEqual(
    long.map((l) => l.length),
    [5 + 256 + 2, 5 + 256 + 2, 5 + 88 + 2],
  );
  assert.ok(long.every((l) => l.endsWith('+\n')));
});

// [label, program, input, whether the program reads its input to the end]. When it does not, the
// copier may see the program's output end before its own input ends and exit without "< [EOF]",
// in C as in ours: that line is then left out of the comparison.
const RECORD_CASES: Array<[string, string[], string, boolean]> = [
  ['one line (rts 43)', ['cat'], 'test\n', true],
  ['several lines', ['cat'], 'test\ntest2\n', true],
  ['partial line (rts 43)', ['cat'], 'test', true],
  ['empty lines and partial', ['cat'], '\nab\ncd', true],
  ['600 bytes without LF', ['cat'], 'a'.repeat(600), true],
  ['program writes more than it reads', ['sh', '-c', 'read x; echo "$x"; echo more; echo stuff'], 'in\nignored\n', false],
  ['nothing in, nothing out', ['true'], '', false],
];

for (const [label, args, input, readsAll] of RECORD_CASES) {
  test(`recordio: ${label}`, async () => {
    const r = await both('recordio', args, input);
    const mine = logByDirection(r.ours.stderr);
    assert.equal(r.ours.status, 0);
    assert.equal(mine.pids.size, 1, 'one pid on every line');
    assert.deepEqual(mine.other, []);
    if (readsAll) assert.equal(mine.into.at(-1), ' < [EOF]\n');
    assert.equal(mine.out.at(-1), ' > [EOF]\n');
    const into = (lines: string[]) => (readsAll ? lines : lines.filter((l) => l !== ' < [EOF]\n'));
    if (r.c) {
      const theirs = logByDirection(r.c.stderr);
      assert.deepEqual(r.ours.stdout, r.c.stdout);
      assert.equal(r.ours.status, r.c.status);
      assert.deepEqual(into(mine.into), into(theirs.into));
      assert.deepEqual(mine.out, theirs.out);
    }
  });
}

test('recordio: the program runs as recordio itself (its pid, in the log too) and has stderr', async () => {
  const child = spawn(ours('recordio'), ['sh', '-c', 'echo "$$ $(cat /proc/$$/comm)"; echo err >&2'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  assert.equal(out, `${child.pid} sh\n`);
  assert.match(err, /^err$/m);
  const log = logByDirection(Buffer.from(err));
  assert.deepEqual([...log.pids], [String(child.pid)]);
});

test("recordio, fixcrio: exit status is the program's", async () => {
  for (const tool of ['recordio', 'fixcrio']) {
    const r = await both(tool, ['sh', '-c', 'exit 3'], '');
    assert.equal(r.ours.status, 3);
    if (r.c) assert.equal(r.ours.status, r.c.status);
  }
});

test('recordio, fixcrio: usage and unable to run, as C', async () => {
  for (const tool of ['recordio', 'fixcrio']) {
    const usage = await both(tool, [], '');
    assert.equal(usage.ours.status, 100);
    assert.equal(usage.ours.stderr.toString(), `${tool}: usage: ${tool} program [ arg ... ]\n`);
    const missing = await both(tool, ['/nonexistent/prog'], '');
    assert.equal(missing.ours.status, 111);
    const lines = missing.ours.stderr.toString('latin1');
    assert.match(lines, new RegExp(`^${tool}: fatal: unable to run /nonexistent/prog: file does not exist$`, 'm'));
    for (const r of [usage, missing]) {
      if (!r.c) continue;
      assert.equal(r.ours.status, r.c.status);
      const mine = logByDirection(r.ours.stderr);
      const theirs = logByDirection(r.c.stderr);
      assert.deepEqual(mine.other, theirs.other);
      // the program never ran: whether "< [EOF]" comes before the copier exits depends on timing
      const noInputEof = (lines: string[]) => lines.filter((l) => l !== ' < [EOF]\n');
      assert.deepEqual(noInputEof(mine.into), noInputEof(theirs.into));
      assert.deepEqual(mine.out, theirs.out);
    }
  }
});

test('fixcrio: CRs added in both directions, as C (rts 42)', async () => {
  const cases: Array<[string[], string]> = [
    [['sh', '-c', 'cat; echo bye'], '\nhi\nthere\r\n'],
    [['cat'], 'a\r\r\nb\n\rc\r'],
    [['sh', '-c', 'printf "x\\ny\\r\\nz"'], ''],
  ];
  for (const [args, input] of cases) {
    const r = await both('fixcrio', args, input);
    assert.equal(r.ours.status, 0);
    if (r.c) assert.deepEqual(r.ours.stdout, r.c.stdout, JSON.stringify(input));
  }
  const r = await run(ours('fixcrio'), ['sh', '-c', 'cat; echo bye'], { input: '\nhi\nthere\r\n' });
  assert.equal(r.stdout.toString(), '\r\nhi\r\nthere\r\nbye\r\n');
});

test('recordio, fixcrio: 1 MiB each way, bytes intact', async () => {
  const input = Buffer.alloc(1 << 20);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7 + (i >> 9)) & 255;
  const rec = await run(ours('recordio'), ['cat'], { input });
  assert.deepEqual(rec.stdout, input);
  const log = logByDirection(rec.stderr);
  // " < text \n" stands for "text\n", " < text+\n" for "text"
  const logged = (lines: string[]) =>
    Buffer.from(
      lines
        .slice(0, -1)
        .map((l) => (l.endsWith('+\n') ? l.slice(3, -2) : l.slice(3, -2) + '\n'))
        .join(''),
      'latin1',
    );
  assert.deepEqual(logged(log.into), input);
  assert.deepEqual(logged(log.out), input);
  const fix = await run(ours('fixcrio'), ['cat'], { input });
  let lfs = 0;
  for (let i = 0; i < input.length; i++) if (input[i] === 10 && (i === 0 || input[i - 1] !== 13)) lfs++;
  assert.equal(fix.stdout.length, input.length + lfs);
});

test('recordio on a TCP connection: client half-close reaches the program, its answer still arrives', async () => {
  // a tcpserver-like parent: the accepted socket is recordio's stdin and stdout
  const server = createServer({ pauseOnConnect: true }, (sock) => {
    const child = spawn(ours('recordio'), ['sh', '-c', 'cat; echo done'], { stdio: [sock, sock, 'ignore'] });
    child.on('spawn', () => sock.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const client = connect(port, '127.0.0.1');
  let got = '';
  client.on('data', (d) => (got += d));
  client.end('hello\n');
  await new Promise((r) => client.on('close', r));
  server.close();
  assert.equal(got, 'hello\ndone\n');
});

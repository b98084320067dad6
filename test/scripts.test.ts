// The shell-script clients (tcpcat, mconnect, who@, date@, finger@, http@) and mconnect-io, against
// servers on a random 127.x.y.z, next to Debian's scripts (which run the C tools): same output, same
// bytes sent to the server.
import * as assert from 'node:assert/strict';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { bindOnRandomLoopback } from './support/loopback';
import { cBinary, needC, ours, run } from './support/programs';

const SCRIPTS = ['tcpcat', 'mconnect', 'who@', 'date@', 'finger@', 'http@'];
const skipC = needC(...SCRIPTS, 'tcpclient', 'mconnect-io', 'addcr', 'delcr');
if (skipC) console.log(`scripts: comparisons with C skipped: ${skipC}`);

type Handler = (sock: Socket, received: () => Buffer) => void;
let ip: string;
const servers: Server[] = [];
/** Bytes each server got, per connection, latest last. */
const received = new Map<number, Buffer[]>();

function listen(port: number, handler: Handler): Promise<number> {
  const server = createServer((sock) => {
    const chunks: Buffer[] = [];
    const got = received.get(actual) ?? [];
    received.set(actual, got);
    const index = got.push(Buffer.alloc(0)) - 1;
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      got[index] = Buffer.concat(chunks);
      sock.emit('got');
    });
    sock.on('error', () => {});
    handler(sock, () => got[index]);
  });
  servers.push(server);
  let actual = port;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      actual = (server.address() as AddressInfo).port;
      resolve(actual);
    });
  });
}

/** Send `reply` once `until` holds for what was received (immediately when no condition). */
function replyWhen(reply: Buffer | string, until?: (b: Buffer) => boolean): Handler {
  return (sock, got) => {
    const go = (): void => {
      sock.end(reply);
    };
    if (!until) return go();
    sock.on('got', () => {
      if (until(got())) go();
    });
  };
}

const WEIRD = Buffer.from('line one\r\nctl \x01\xff\x7f end\r\nbare\rcr\r\n\r\nlast', 'latin1');
let spew: number;
let smtp: number;
let web: number;

before(async () => {
  // who@, date@ and finger@ have fixed ports: take an address where 11, 13 and 79 are free
  ip = await bindOnRandomLoopback(async (candidate) => {
    ip = candidate;
    await listen(11, replyWhen(WEIRD));
    return candidate;
  });
  await listen(13, replyWhen('Tue Nov 24 12:00:00 2026\r\n'));
  await listen(
    79,
    replyWhen(WEIRD, (b) => b.includes('\n')),
  );
  spew = await listen(0, replyWhen('a01 hello\na02 bye\n'));
  smtp = await listen(
    0,
    replyWhen('220 hi\r\n221 bye\r\n', (b) => b.includes('QUIT')),
  );
  web = await listen(
    0,
    replyWhen('HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody one\r\n\r\nbody\ttwo\r\n', (b) => b.includes('\r\n\r\n')),
  );
});

after(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function both(script: string, args: string[], input = ''): Promise<{ stdout: string; status: number | null; sent: string }> {
  const runOne = async (file: string) => {
    const r = await run(file, args, { input, timeout: 20_000 });
    return { stdout: r.stdout.toString('latin1'), status: r.status, stderr: r.stderr.toString('latin1') };
  };
  const fixed: Record<string, number> = { 'who@': 11, 'date@': 13, 'finger@': 79 };
  const port = fixed[script] ?? Number(args[script === 'http@' ? 2 : 1]);
  const mine = await runOne(ours(script));
  const sentMine = (received.get(port) ?? []).at(-1)?.toString('latin1') ?? '';
  assert.equal(mine.stderr, '', `${script} stderr`);
  const c = cBinary(script);
  if (c && !skipC) {
    const theirs = await runOne(c);
    const sentTheirs = (received.get(port) ?? []).at(-1)?.toString('latin1') ?? '';
    assert.deepEqual({ ...mine, sent: sentMine }, { ...theirs, sent: sentTheirs }, `${script} ${args.join(' ')}`);
  }
  return { stdout: mine.stdout, status: mine.status, sent: sentMine };
}

test('tcpcat prints what the server sends (Debian test_local_cat)', async () => {
  const r = await both('tcpcat', [ip, String(spew)]);
  assert.deepEqual(r, { stdout: 'a01 hello\na02 bye\n', status: 0, sent: '' });
});

test('tcpclient -R -- host port: the program reads fd 6 to the end (Debian test_local_client_spew)', async () => {
  const args = ['-R', '--', ip, String(spew), 'sh', '-c', 'set -e; exec <&6; exec cat'];
  const mine = await run(ours('tcpclient'), args);
  assert.equal(mine.status, 0);
  assert.equal(mine.stdout.toString(), 'a01 hello\na02 bye\n');
  const c = cBinary('tcpclient');
  if (c) {
    const theirs = await run(c, args);
    assert.deepEqual([mine.status, mine.stdout, mine.stderr], [theirs.status, theirs.stdout, theirs.stderr]);
  }
});

test("mconnect: lines typed go out with CR LF, the server's bytes come back unchanged", async () => {
  const r = await both('mconnect', [ip, String(smtp)], 'HELO x\r\nQUIT\n');
  assert.equal(r.stdout, '220 hi\r\n221 bye\r\n');
  assert.equal(r.sent, 'HELO x\r\r\nQUIT\r\n', 'a CR before every LF, as addcr');
  assert.equal(r.status, 0);
});

test('mconnect with no input (rts 26): the session ends when the server closes', async () => {
  const r = await both('mconnect', [ip, String(spew)]);
  assert.deepEqual(r, { stdout: 'a01 hello\na02 bye\n', status: 0, sent: '' });
});

test('who@ and date@: CR LF removed, control bytes shown by cat -v', async () => {
  const who = await both('who@', [ip]);
  assert.equal(who.stdout, 'line one\nctl ^AM-^?^? end\nbare^Mcr\n\nlast');
  const date = await both('date@', [ip]);
  assert.equal(date.stdout, 'Tue Nov 24 12:00:00 2026\n');
});

test('finger@ sends the user with CR LF', async () => {
  const r = await both('finger@', [ip, 'joe']);
  assert.equal(r.sent, 'joe\r\n');
  assert.equal(r.stdout, 'line one\nctl ^AM-^?^? end\nbare^Mcr\n\nlast');
  const empty = await both('finger@', [ip]);
  assert.equal(empty.sent, '\r\n');
});

test('http@ sends HTTP/1.0 with Host:port and prints the body without empty lines', async () => {
  const r = await both('http@', [ip, 'some/page', String(web)]);
  assert.equal(r.sent, `GET /some/page HTTP/1.0\r\nHost: ${ip}:${web}\r\n\r\n`);
  assert.equal(r.stdout, 'body one\nbody\ttwo\n');
});

test('the scripts find the tools beside them through a symlink', async () => {
  const { mkdtempSync, symlinkSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'ucspi-bin-'));
  try {
    symlinkSync(ours('tcpcat'), join(dir, 'tcpcat'));
    const r = await run(join(dir, 'tcpcat'), [ip, String(spew)], { env: { ...process.env, PATH: '/usr/local/bin:/bin' } });
    assert.equal(r.stdout.toString(), 'a01 hello\na02 bye\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mconnect-io alone: copies fd 6 to stdout and exits 0 when fd 6 ends', async () => {
  const script = (bin: string) => `exec 7>/dev/null; printf 'from server\\n' | '${bin}' 6<&0 < /dev/null; echo "rc=$?"`;
  const r = await run('sh', ['-c', script(ours('mconnect-io'))]);
  assert.equal(r.stdout.toString(), 'from server\nrc=0\n');
  const c = cBinary('mconnect-io');
  if (c) assert.deepEqual(r.stdout, (await run('sh', ['-c', script(c)])).stdout);
});

test("mconnect-io without fds 6 and 7 exits 0 at once, as C (Node's own descriptors there are not taken for them)", async () => {
  const r = await run(ours('mconnect-io'), [], { input: 'x\n' });
  assert.deepEqual([r.status, r.stdout.length, r.stderr.length], [0, 0, 0]);
  const c = cBinary('mconnect-io');
  if (c) assert.equal((await run(c, [], { input: 'x\n' })).status, 0);
});

// tcpclient end to end and next to Debian's C tcpclient (rts 1-9, 19-23): same stderr bytes, exit
// codes and program environment (ports normalised) for the same scenario. DNS comes only from the test
// DNS server (DNSCACHEIP); servers listen on random 127.x.y.z addresses.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { closeSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { libc, listenSocket } from '../src/ffi';
import { connectFirst, AttemptResult } from '../src/tcpclient/connect';
import { connectionEnvironment } from '../src/tcpclient/environment';
import { parseCommandLine, scanConnectTimeouts, scanIp4Prefix } from '../src/tcpclient/options';
import { DnsTestServer } from './support/dns-server';
import { IdentTestServer } from './support/ident-server';
import { randomLoopbackIp } from './support/loopback';
import { cBinary, needC, ours, run, RunResult } from './support/programs';
import { tempDir } from './support/tmp';

const skipC = needC('tcpclient');
if (skipC) console.log(`tcpclient: comparisons with C skipped: ${skipC}`);

const LONG_LABEL = 'thislabelistoolongbecausednshasalimitof63charactersinasinglelabel.';
let dns: DnsTestServer;
let ident: IdentTestServer;
/** Address of the test servers (the ident server listens on its port 113). */
let serverIp: string;
let server: Server;
let port: number;
let closedPort: number;
const print = join(tempDir(), 'print');
const open = new Set<Socket>();

before(async () => {
  ident = await IdentTestServer.start(() => '1 , 2 : USERID : UNIX : joe\r\n');
  serverIp = ident.address;
  dns = await DnsTestServer.start({});
  dns.setZone({
    'nonexistent.local': 'nxdomain',
    'one.test': { A: [serverIp] },
  });
  server = createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => {});
    sock.write('banner');
    sock.resume();
  });
  await new Promise<void>((r) => server.listen(0, serverIp, r));
  port = (server.address() as AddressInfo).port;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, serverIp, r));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  writeFileSync(
    print,
    '#!/bin/sh\ntrap "" 13\nfor v in PROTO TCPLOCALHOST TCPLOCALIP TCPLOCALPORT TCPREMOTEHOST TCPREMOTEIP TCPREMOTEPORT TCPREMOTEINFO; do eval "echo $v=\\${$v-unset}"; done\n',
  );
  chmodSync(print, 0o755);
});

after(async () => {
  for (const s of open) s.destroy();
  await new Promise((r) => server.close(r));
  await ident.close();
  await dns.close();
});

function normalise(r: RunResult): { status: number | null; stdout: string; stderr: string } {
  const fix = (s: string) =>
    s
      .split(serverIp)
      .join('SERVER')
      .replace(/(TCPLOCALPORT|TCPREMOTEPORT)=\d+/g, '$1=N')
      .replace(new RegExp(`port ${port}\\b`, 'g'), 'port P')
      .replace(new RegExp(`port ${closedPort}\\b`, 'g'), 'port CLOSED');
  return { status: r.status, stdout: fix(r.stdout.toString('latin1')), stderr: fix(r.stderr.toString('latin1')) };
}

/** Run our tcpclient and the C one with the same arguments; returns ours, asserts C agrees. */
async function compare(
  args: (string | number)[],
  opts: { env?: NodeJS.ProcessEnv; cOnly?: false } = {},
): Promise<ReturnType<typeof normalise>> {
  const argv = args.map(String);
  const env = opts.env ?? dns.env();
  const mine = normalise(await run(ours('tcpclient'), argv, { env }));
  const c = cBinary('tcpclient');
  if (c) {
    const theirs = normalise(await run(c, argv, { env }));
    assert.deepEqual(mine, theirs, `tcpclient ${argv.join(' ')}`);
  }
  return mine;
}

const USAGE =
  'tcpclient: usage: tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program\n';

test('usage and option errors (rts 1)', async () => {
  assert.deepEqual(await compare(['0', '0']), { status: 100, stdout: '', stderr: USAGE });
  assert.deepEqual(await compare([]), { status: 100, stdout: '', stderr: USAGE });
  assert.deepEqual(await compare(['-x', '0', '0', 'true']), {
    status: 100,
    stdout: '',
    stderr: 'tcpclient: illegal option -- x\n' + USAGE,
  });
  assert.deepEqual(await compare(['-t']), { status: 100, stdout: '', stderr: 'tcpclient: option requires an argument -- t\n' + USAGE });
  // -q silences what comes after option parsing, not what comes during it
  assert.deepEqual(await compare(['-q', '0']), { status: 100, stdout: '', stderr: '' });
  assert.deepEqual(await compare(['-q', '-i', '1.2.3', '0', '0', 'true']), { status: 100, stdout: '', stderr: USAGE });
});

test('port names (rts 2)', async () => {
  assert.deepEqual(await compare(['0', 'nonexistentport', 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: fatal: unable to figure out port number for nonexistentport\n',
  });
  // the port is checked before the program operand and before any DNS
  assert.equal((await compare([LONG_LABEL, 'nonexistentport'])).status, 111);
  assert.deepEqual(await compare([LONG_LABEL, '25']), { status: 100, stdout: '', stderr: USAGE });
});

test('connection refused, host spellings (rts 3-7)', async () => {
  const refused = { status: 111, stdout: '', stderr: 'tcpclient: unable to connect to SERVER port CLOSED: connection refused\n' };
  assert.deepEqual(await compare([serverIp, closedPort, 'echo', 'wrong']), refused);
  assert.deepEqual(await compare(['-q', serverIp, closedPort, 'echo', 'wrong']), { status: 111, stdout: '', stderr: '' });
  const [a, b, c, d] = serverIp.split('.');
  const padded = [a, b, c, d].map((x) => x.padStart(3, '0')).join('.');
  assert.deepEqual(await compare([padded, closedPort, 'echo', 'wrong']), refused);
  assert.deepEqual(await compare([`[${padded}]`, closedPort, 'echo', 'wrong']), refused);
  for (const host of ['', '0']) {
    const r = await compare([host, 16, 'echo', 'wrong']);
    assert.equal(r.status, 111);
    assert.match(r.stderr, /^tcpclient: unable to connect to 127\.0\.0\.1 port 16: /);
  }
});

test('DNS: no address, lookup failure (rts 8-9)', async () => {
  assert.deepEqual(await compare(['nonexistent.local.', port, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: fatal: no IP address for nonexistent.local.\n',
  });
  assert.deepEqual(await compare([LONG_LABEL, port, 'true']), {
    status: 111,
    stdout: '',
    stderr: `tcpclient: fatal: temporarily unable to figure out IP address for ${LONG_LABEL}: protocol error\n`,
  });
  const r = await compare(['one.test', port, 'sh', '-c', 'echo "$TCPREMOTEIP"'], { env: dns.env() });
  assert.equal(r.stdout, 'SERVER\n');
});

test('-T 0 still connects when the connection is ready at once (loopback), as timeoutconn', async () => {
  assert.deepEqual(await compare(['-RHl0', '-T', '0', serverIp, port, 'echo', 'ok']), { status: 0, stdout: 'ok\n', stderr: '' });
});

test('bind failure is fatal', async () => {
  assert.deepEqual(await compare(['-i', '1.2.3.4', serverIp, port, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: fatal: unable to bind socket: address not available\n',
  });
});

test('program environment (rts 21-23): -l, -H, -R, -v', async () => {
  const r = await compare(['-R', '-H', '-l', 'Local', serverIp, port, print]);
  assert.equal(r.status, 0);
  assert.equal(
    r.stdout,
    'PROTO=TCP\nTCPLOCALHOST=Local\nTCPLOCALIP=127.0.0.1\nTCPLOCALPORT=N\nTCPREMOTEHOST=unset\nTCPREMOTEIP=SERVER\nTCPREMOTEPORT=N\nTCPREMOTEINFO=unset\n',
  );
  const v = await compare(['-v', '-R', '-H', '-l', 'Local', serverIp, port, 'echo', 'ok']);
  assert.deepEqual(v, { status: 0, stdout: 'ok\n', stderr: 'tcpclient: connected to SERVER port P\n' });
  const empty = await compare(['-R', '-H', '-l', '', serverIp, port, 'sh', '-c', 'echo "[${TCPLOCALHOST-unset}]"']);
  assert.equal(empty.stdout, '[]\n');
});

test('host names: found, not found (set empty: the 0.88 tcpclient quirk), lookup failed (unset)', async () => {
  const ptr = (ip: string) => ip.split('.').reverse().join('.') + '.in-addr.arpa';
  dns.set(ptr(serverIp), { PTR: ['Server.Test.'] });
  dns.set(ptr('127.0.0.1'), { PTR: ['localhost'] });
  let r = await compare(['-R', serverIp, port, print]);
  assert.match(r.stdout, /^TCPLOCALHOST=localhost$/m);
  assert.match(r.stdout, /^TCPREMOTEHOST=server\.test$/m);
  dns.set(ptr(serverIp), 'nxdomain');
  dns.set(ptr('127.0.0.1'), {});
  r = await compare(['-R', serverIp, port, print]);
  assert.match(r.stdout, /^TCPLOCALHOST=$/m);
  assert.match(r.stdout, /^TCPREMOTEHOST=$/m);
  // a failing resolver: the C one takes 11 s per lookup on a refused server, so ours alone here
  const mine = normalise(
    await run(ours('tcpclient'), ['-R', serverIp, String(port), print], { env: { ...process.env, DNSCACHEIP: randomLoopbackIp() } }),
  );
  assert.match(mine.stdout, /^TCPLOCALHOST=unset$/m);
  assert.match(mine.stdout, /^TCPREMOTEHOST=unset$/m);
});

test('ident: TCPREMOTEINFO from the server host\'s port 113, asked "<serverport> , <clientport>"', async () => {
  const before = ident.requests.length;
  const r = await compare(['-H', '-l', 'x', serverIp, port, print]);
  assert.match(r.stdout, /^TCPREMOTEINFO=joe$/m);
  const asked = ident.requests.slice(before);
  assert.ok(asked.length >= 1);
  assert.match(asked[0].line, new RegExp(`^${port} , \\d+\\r\\n$`));
});

test("the server's first bytes reach the program (Node never reads the socket), fds 6 and 7 blocking", async () => {
  const r = await compare(['-RHl0', serverIp, port, 'sh', '-c', 'head -c 6 <&6; echo; echo hi >&7; echo sent']);
  assert.deepEqual(r, { status: 0, stdout: 'banner\nsent\n', stderr: '' });
});

test('inherited descriptors reach the program', async () => {
  const script = (bin: string) => `'${bin}' -RHl0 ${serverIp} ${port} sh -c 'cat <&3' 3<'${print}'`;
  const mine = await run('sh', ['-c', script(ours('tcpclient'))], { env: dns.env() });
  assert.match(mine.stdout.toString(), /^#!\/bin\/sh\n/);
  const c = cBinary('tcpclient');
  if (c) assert.deepEqual(mine.stdout, (await run('sh', ['-c', script(c)], { env: dns.env() })).stdout);
});

test('tcpclient becomes the program: same pid, no Node process left', async () => {
  const child = spawn(ours('tcpclient'), ['-RHl0', serverIp, String(port), 'sh', '-c', 'echo "$$ $(cat /proc/$$/comm)"'], {
    env: dns.env(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  assert.equal(out, `${child.pid} sh\n`);
});

test("exit status is the program's; unable to run", async () => {
  assert.equal((await compare(['-RHl0', serverIp, port, 'sh', '-c', 'exit 7'])).status, 7);
  assert.deepEqual(await compare(['-RHl0', serverIp, port, '/nonexistent/prog']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: fatal: unable to run /nonexistent/prog: file does not exist\n',
  });
});

test('option scanning as 0.88 (ip4_scan, -T x+y)', () => {
  assert.equal(scanIp4Prefix('127.0.0.1xyz'), '127.0.0.1');
  assert.equal(scanIp4Prefix('999.0.0.1'), '231.0.0.1');
  assert.equal(scanIp4Prefix('1.2.3'), null);
  assert.deepEqual(scanConnectTimeouts('5'), [5, 0]);
  assert.deepEqual(scanConnectTimeouts('+7'), [0, 7]);
  assert.deepEqual(scanConnectTimeouts('3+4x'), [3, 4]);
  const p = parseCommandLine(['-hHrRdDqQv', '-p', '70000', '-t5x', '--', 'h', 'p', 'prog', '-v']);
  assert.equal(p.kind, 'ok');
  if (p.kind !== 'ok') return;
  assert.deepEqual(p.operands, ['h', 'p', 'prog', '-v']);
  assert.equal(p.options.localPort, 4464);
  assert.equal(p.options.infoTimeout, 5);
  assert.equal(p.options.remoteHost, false);
  assert.equal(p.options.remoteInfo, false);
  assert.equal(p.options.delay, false);
  assert.equal(p.options.verbosity, 2);
});

test('connect passes: timed-out addresses get a second pass, other failures are reported at once', async () => {
  const tried: string[] = [];
  const fail = (code: string): AttemptResult => ({ kind: 'failed', error: Object.assign(new Error(code), { code }) });
  const reported: string[] = [];
  const outcome = await connectFirst(
    { addresses: ['a', 'b', 'c'], port: 1, localIp: '0.0.0.0', localPort: 0, timeouts: [2, 58] },
    (ip, e) => reported.push(`${ip} ${e.code}`),
    async (ip, _p, _l, _lp, seconds) => {
      tried.push(`${ip}/${seconds}`);
      return fail(ip === 'b' ? 'ECONNREFUSED' : 'ETIMEDOUT');
    },
  );
  assert.equal(outcome.kind, 'exhausted');
  assert.deepEqual(tried, ['a/2', 'b/2', 'c/2', 'a/58', 'c/58']);
  assert.deepEqual(reported, ['b ECONNREFUSED', 'a ETIMEDOUT', 'c ETIMEDOUT']);
  // one address: x+y in a single pass; -T x+0: no second pass
  tried.length = 0;
  await connectFirst(
    { addresses: ['a'], port: 1, localIp: '0.0.0.0', localPort: 0, timeouts: [2, 58] },
    () => {},
    async (ip, _p, _l, _lp, s) => {
      tried.push(`${ip}/${s}`);
      return fail('ETIMEDOUT');
    },
  );
  assert.deepEqual(tried, ['a/60']);
});

test('environment order and the -v line position', async () => {
  const events: string[] = [];
  const env = await connectionEnvironment(
    { localIp: '1.1.1.1', localPort: 5, remoteIp: '2.2.2.2', remotePort: 6 },
    { remoteHost: true, remoteInfo: true, infoTimeoutSeconds: 26 },
    {
      nameForIp: async (ip) => {
        events.push(`ptr ${ip}`);
        if (ip === '1.1.1.1') return null;
        throw new Error('SERVFAIL');
      },
      remoteInfo: async () => {
        events.push('ident');
        return '';
      },
    },
    () => events.push('connected'),
  );
  assert.deepEqual(events, ['ptr 1.1.1.1', 'connected', 'ptr 2.2.2.2', 'ident']);
  assert.deepEqual(env.apply(['X=1']), [
    'X=1',
    'PROTO=TCP',
    'TCPLOCALPORT=5',
    'TCPLOCALIP=1.1.1.1',
    'TCPLOCALHOST=',
    'TCPREMOTEPORT=6',
    'TCPREMOTEIP=2.2.2.2',
    'TCPREMOTEINFO=',
  ]);
});

test('connect deadlines end to end (-T): a listener whose queue is full never answers', {
  skip: libc() ? false : 'needs FFI for a listener with backlog 0',
}, async () => {
  // a socket listening with backlog 0 and never accepting: one connection fills its queue, and the
  // kernel drops later SYNs, so every further connect times out
  const lib = libc()!;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, serverIp, r));
  const fullPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const fd = listenSocket(lib, Buffer.from(serverIp.split('.').map(Number)), fullPort, 0);
  assert.equal(typeof fd, 'number');
  const fillers = [0, 1].map(() => netConnect(fullPort, serverIp).on('error', () => {}));
  await new Promise((r) => fillers[0].on('connect', r));
  try {
    const timedOut = (n: number) => 'tcpclient: unable to connect to SERVER port FULL: timed out\n'.repeat(n);
    const fix = (r: ReturnType<typeof normalise>) => ({ ...r, stderr: r.stderr.split(`port ${fullPort}`).join('port FULL') });
    // one address: x+y in one pass, one message
    assert.deepEqual(fix(await compare(['-T', '0+1', serverIp, fullPort, 'true'])), { status: 111, stdout: '', stderr: timedOut(1) });
    // two addresses: silent first pass (1 s each), reported second pass (1 s each)
    dns.set('two.test', { A: [serverIp, serverIp] });
    assert.deepEqual(fix(await compare(['-T', '1+1', 'two.test', fullPort, 'true'])), { status: 111, stdout: '', stderr: timedOut(2) });
  } finally {
    for (const f of fillers) f.destroy();
    closeSync(fd as number);
  }
});

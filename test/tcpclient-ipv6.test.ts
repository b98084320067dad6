// tcpclient with IPv6, end to end on ::1 and 127.x, next to Debian's ucspi-tcp-ipv6 tcpclient
// (unpacked from its .deb): same stderr bytes, exit codes and program environment (ports
// normalised) for the same scenario. Scenarios where the C variant is known to be wrong (names with
// several addresses, DNS failures, `::`, `[::1]`) run ours alone. DNS comes only from the test DNS
// server (DNSCACHEIP), ident from a test server on ::1 port 113.
import * as assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseIp6, reverseName6 } from '../src/dns/address';
import { ip6Literal, scanLocalIp, socketPlan, thisHost } from '../src/tcpclient/address';
import { parseCommandLine } from '../src/tcpclient/options';
import { debianIpv6Bin, needDebianIpv6 } from './support/debian-ipv6';
import { DnsTestServer } from './support/dns-server';
import { IdentTestServer } from './support/ident-server';
import { cBinary, ours, run, RunResult } from './support/programs';
import { tempDir } from './support/tmp';

const skip6 = needDebianIpv6();
if (skip6) console.log(`tcpclient IPv6: comparisons with C skipped: ${skip6}`);
const c6 = skip6 ? null : join(debianIpv6Bin() as string, 'tcpclient');

let dns: DnsTestServer;
let ident4: IdentTestServer;
/** The test servers' IPv4 address (a random 127.x.y.z; DNS on its port 53). */
let serverIp: string;
const servers: Server[] = [];
/** Listening on ::1 and on serverIp. */
let port6: number;
let port4: number;
/** Closed on ::1, 127.0.0.1 and serverIp. */
let closedPort: number;
const print = join(tempDir(), 'print6');
const open = new Set<Socket>();

function listen(host: string, port = 0): Promise<number> {
  const server = createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => {});
    sock.write('banner');
    sock.resume();
  });
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** A port nobody listens on at any of these addresses (bound once, then closed). */
async function freePort(hosts: string[]): Promise<number> {
  for (;;) {
    const probes: Server[] = [];
    try {
      let port = 0;
      for (const h of hosts) {
        const s = createServer();
        probes.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(port, h, () => resolve());
        });
        port = (s.address() as AddressInfo).port;
      }
      return port;
    } catch {
      // taken at one of the addresses: try another
    } finally {
      await Promise.all(probes.map((s) => new Promise((r) => s.close(r))));
    }
  }
}

before(async () => {
  ident4 = await IdentTestServer.start(() => '1 , 2 : USERID : UNIX : four\r\n');
  serverIp = ident4.address;
  dns = await DnsTestServer.start({});
  port6 = await listen('::1');
  port4 = await listen(serverIp);
  closedPort = await freePort(['::1', '127.0.0.1', serverIp]);
  writeFileSync(
    print,
    '#!/bin/sh\ntrap "" 13\nfor v in PROTO TCPLOCALHOST TCPLOCALIP TCPLOCALPORT TCPREMOTEHOST TCPREMOTEIP TCPREMOTEPORT TCPREMOTEINFO TCP6LOCALIP TCP6REMOTEIP TCP6LOCALPORT TCP6REMOTEPORT TCP6LOCALHOST TCP6REMOTEHOST TCP6REMOTEINFO TCP6INTERFACE; do eval "echo $v=\\${$v-unset}"; done\n',
  );
  chmodSync(print, 0o755);
});

after(async () => {
  for (const s of open) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await ident4.close();
  await dns.close();
});

type Normalised = { status: number | null; stdout: string; stderr: string };

function normalise(r: RunResult): Normalised {
  const fix = (s: string) =>
    s
      .split(serverIp)
      .join('SERVER')
      .replace(/(TCPLOCALPORT|TCPREMOTEPORT)=\d+/g, '$1=N')
      .replace(new RegExp(`port (${port6}|${port4})\\b`, 'g'), 'port P')
      .replace(new RegExp(`port ${closedPort}\\b`, 'g'), 'port CLOSED');
  return { status: r.status, stdout: fix(r.stdout.toString('latin1')), stderr: fix(r.stderr.toString('latin1')) };
}

async function mine(args: (string | number)[], env: NodeJS.ProcessEnv = dns.env()): Promise<Normalised> {
  return normalise(await run(ours('tcpclient'), args.map(String), { env }));
}

/** Ours, and Debian's IPv6 tcpclient with the same arguments when it is there: they must agree. */
async function compare6(args: (string | number)[], env: NodeJS.ProcessEnv = dns.env()): Promise<Normalised> {
  const r = await mine(args, env);
  if (c6) assert.deepEqual(r, normalise(await run(c6, args.map(String), { env })), `tcpclient ${args.join(' ')}`);
  return r;
}

/** The print script's output as a map. */
function vars(stdout: string): Map<string, string> {
  return new Map(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

const NO_TCP6 = [
  'TCP6LOCALIP',
  'TCP6REMOTEIP',
  'TCP6LOCALPORT',
  'TCP6REMOTEPORT',
  'TCP6LOCALHOST',
  'TCP6REMOTEHOST',
  'TCP6REMOTEINFO',
  'TCP6INTERFACE',
];

test('an IPv6 connection: PROTO=TCP6, IPv6 text, no TCP6* variables (as the C variant)', async () => {
  const r = await compare6(['-R', '-H', '-l', 'L', '::1', port6, print]);
  assert.equal(r.status, 0);
  const v = vars(r.stdout);
  assert.equal(v.get('PROTO'), 'TCP6');
  assert.equal(v.get('TCPLOCALIP'), '::1');
  assert.equal(v.get('TCPREMOTEIP'), '::1');
  assert.equal(v.get('TCPLOCALHOST'), 'L');
  assert.equal(v.get('TCPREMOTEHOST'), 'unset');
  for (const k of NO_TCP6) assert.equal(v.get(k), 'unset', k);
  // -I names the interface for scoped addresses; on ::1 it changes nothing
  assert.deepEqual(await compare6(['-R', '-H', '-l', 'L', '-I', 'lo', '::1', port6, print]), r);
  // -i with an IPv6 address, trailing bytes ignored as scan_ip6 does
  assert.deepEqual(await compare6(['-R', '-H', '-l', 'L', '-i', '::1xyz', '::1', port6, print]), r);
});

test('-v prints the server as the environment shows it; -6 gives IPv4 connections the IPv6 form', async () => {
  const v6 = await compare6(['-v', '-R', '-H', '-l', 'L', '::1', port6, 'true']);
  assert.deepEqual(v6, { status: 0, stdout: '', stderr: 'tcpclient: connected to ::1 port P\n' });
  const r = await compare6(['-v', '-6', '-R', '-H', '-l', 'L', serverIp, port4, print]);
  assert.equal(r.stderr, 'tcpclient: connected to ::ffff:SERVER port P\n');
  const v = vars(r.stdout);
  assert.equal(v.get('PROTO'), 'TCP6');
  assert.equal(v.get('TCPLOCALIP'), '::ffff:127.0.0.1');
  assert.equal(v.get('TCPREMOTEIP'), '::ffff:SERVER');
  for (const k of NO_TCP6) assert.equal(v.get(k), 'unset', k);
});

test("an IPv4 connection is 0.88's (and the C variant's): PROTO=TCP, dotted, also given v4-mapped", async () => {
  const r = await compare6(['-v', '-R', '-H', '-l', 'L', serverIp, port4, print]);
  const c88 = cBinary('tcpclient');
  if (c88)
    assert.deepEqual(r, normalise(await run(c88, ['-v', '-R', '-H', '-l', 'L', serverIp, String(port4), print], { env: dns.env() })));
  assert.equal(r.stderr, 'tcpclient: connected to SERVER port P\n');
  assert.equal(vars(r.stdout).get('PROTO'), 'TCP');
  assert.equal(vars(r.stdout).get('TCPREMOTEIP'), 'SERVER');
  assert.deepEqual(await compare6(['-v', '-R', '-H', '-l', 'L', `::ffff:${serverIp}`, port4, print]), r);
  // -4: an IPv4 socket, same environment
  assert.deepEqual(await compare6(['-v', '-4', '-R', '-H', '-l', 'L', serverIp, port4, print]), r);
});

test('error lines: IPv6 text, dotted for v4-mapped; address family mismatches as the C variant', async () => {
  const refused = (ip: string) => ({
    status: 111,
    stdout: '',
    stderr: `tcpclient: unable to connect to ${ip} port CLOSED: connection refused\n`,
  });
  assert.deepEqual(await compare6(['::1', closedPort, 'true']), refused('::1'));
  assert.deepEqual(await compare6(['-q', '::1', closedPort, 'true']), { status: 111, stdout: '', stderr: '' });
  assert.deepEqual(await compare6(['0:0:0:0:0:0:0:1', closedPort, 'true']), refused('::1'));
  assert.deepEqual(await compare6([`::ffff:${serverIp}`, closedPort, 'true']), refused('SERVER'));
  // -4: ::1 is reached as 127.0.0.1 but named as given; other IPv6 addresses cannot be
  assert.deepEqual(await compare6(['-4', '::1', closedPort, 'true']), refused('::1'));
  assert.deepEqual(await compare6(['-4', '::2', closedPort, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: unable to connect to ::2 port CLOSED: address family not supported\n',
  });
  // -i of the other family: IPv6 sockets with IPv4 written v4-mapped, so the kernel says no
  assert.deepEqual(await compare6(['-i', '::1', serverIp, closedPort, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: unable to connect to SERVER port CLOSED: network unreachable\n',
  });
  assert.deepEqual(await compare6(['-i', '127.0.0.1', '::1', closedPort, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: unable to connect to ::1 port CLOSED: address family not supported\n',
  });
  assert.deepEqual(await compare6(['-4', '-i', '::1', serverIp, closedPort, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: fatal: unable to bind socket: address family not supported\n',
  });
  assert.deepEqual(await compare6(['-i', '::2', '::1', closedPort, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: fatal: unable to bind socket: address not available\n',
  });
  // link-local needs a scope: the kernel refuses one without (-I gives it)
  assert.deepEqual(await compare6(['fe80::1', closedPort, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: unable to connect to fe80::1 port CLOSED: invalid argument\n',
  });
  const scoped = await compare6(['-I', 'lo', 'fe80::1', closedPort, 'true']);
  assert.equal(scoped.status, 111);
  assert.match(scoped.stderr, /^tcpclient: unable to connect to fe80::1 port CLOSED: (?!invalid argument)/);
  // an unparsable -i: usage, exit 100 (the usage line itself is 0.88's, not the variant's)
  const bad = await mine(['-i', 'fe80:', '0', closedPort, 'true']);
  assert.equal(bad.status, 100);
  assert.match(bad.stderr, /^tcpclient: usage: tcpclient \[ -hHrRdDqQv \]/);
});

test('host 0: 127.0.0.1 as 0.88 unless IPv6 is asked for (-6, an IPv6 -i); the C variant says ::1', async () => {
  const refused = (ip: string) => `tcpclient: unable to connect to ${ip} port CLOSED: connection refused\n`;
  assert.equal((await mine(['0', closedPort, 'true'])).stderr, refused('127.0.0.1'));
  assert.equal((await mine(['', closedPort, 'true'])).stderr, refused('127.0.0.1'));
  assert.equal((await compare6(['-4', '0', closedPort, 'true'])).stderr, refused('127.0.0.1'));
  assert.equal((await compare6(['-6', '0', closedPort, 'true'])).stderr, refused('::1'));
  assert.equal((await compare6(['-i', '::1', '0', closedPort, 'true'])).stderr, refused('::1'));
  if (c6) assert.equal(normalise(await run(c6, ['0', String(closedPort), 'true'], { env: dns.env() })).stderr, refused('::1'));
  const r = await compare6(['-6', '-R', '-H', '-l', 'L', '0', port6, print]);
  assert.equal(vars(r.stdout).get('TCPREMOTEIP'), '::1');
});

test('literals the C variant rejects: [::1] and ::', async () => {
  const r = await mine(['-R', '-H', '-l', 'L', '[::1]', port6, print]);
  assert.equal(r.status, 0);
  assert.equal(vars(r.stdout).get('TCPREMOTEIP'), '::1');
  // connecting to the unspecified address reaches this host (Linux)
  const any = await mine(['-R', '-H', '-l', 'L', '::', port6, print]);
  assert.equal(any.status, 0);
  assert.equal(vars(any.stdout).get('TCPREMOTEIP'), '::1');
  assert.equal(dns.queries.filter((q) => q.name.includes('::')).length, 0, 'literals never reach DNS');
  if (c6)
    assert.equal(
      normalise(await run(c6, ['[::1]', String(port6), 'true'], { env: dns.env() })).stderr,
      'tcpclient: fatal: no IP address for [::1]\n',
    );
});

test('names: an AAAA record (as the C variant), AAAA and A both tried in turn, -4 asks for A only', async () => {
  dns.set('six.test', { AAAA: ['::1'] });
  const r = await compare6(['-R', '-H', '-l', 'L', 'six.test', port6, print]);
  assert.equal(vars(r.stdout).get('TCPREMOTEIP'), '::1');
  // several addresses (the C variant steps 4 bytes over 16-byte entries here): each tried, whole
  dns.set('mixed.test', { AAAA: ['::1'], A: [serverIp] });
  const m = await mine(['-R', '-H', '-l', 'L', 'mixed.test', port4, print]);
  assert.equal(m.status, 0);
  assert.equal(m.stderr, 'tcpclient: unable to connect to ::1 port P: connection refused\n');
  assert.equal(vars(m.stdout).get('PROTO'), 'TCP');
  assert.equal(vars(m.stdout).get('TCPREMOTEIP'), 'SERVER');
  dns.set('three.test', { AAAA: ['::1', `::ffff:${serverIp}`], A: ['127.0.0.1'] });
  const t = await mine(['three.test', closedPort, 'true']);
  assert.equal(t.status, 111);
  assert.deepEqual(t.stderr.trim().split('\n').sort(), [
    'tcpclient: unable to connect to 127.0.0.1 port CLOSED: connection refused',
    'tcpclient: unable to connect to ::1 port CLOSED: connection refused',
    'tcpclient: unable to connect to SERVER port CLOSED: connection refused',
  ]);
  const before = dns.queries.length;
  const four = await mine(['-4', '-R', '-H', '-l', 'L', 'mixed.test', port4, 'true']);
  assert.deepEqual(four, { status: 0, stdout: '', stderr: '' });
  assert.deepEqual(
    dns.queries.slice(before).map((q) => q.type),
    [1],
    'one A query, no AAAA',
  );
});

test('DNS failures keep 0.88\'s "temporarily unable" (the C variant says "no IP address")', async () => {
  dns.set('broken.test', 'servfail');
  const r = await mine(['broken.test', port6, 'true']);
  assert.equal(r.status, 111);
  assert.match(r.stderr, /^tcpclient: fatal: temporarily unable to figure out IP address for broken\.test: \S/);
  dns.set('gone.test', 'nxdomain');
  assert.deepEqual(await compare6(['gone.test', port6, 'true']), {
    status: 111,
    stdout: '',
    stderr: 'tcpclient: fatal: no IP address for gone.test\n',
  });
});

test('host names under ip6.arpa: found, not found (empty, the 0.88 tcpclient quirk), failed (unset)', async () => {
  const ptr = reverseName6(parseIp6('::1') as Buffer);
  assert.match(ptr, /^1\.0\.0\.0\.(0\.){28}ip6\.arpa$/);
  dns.set(ptr, { PTR: ['Six.Test.'] });
  let r = await compare6(['-R', '::1', port6, print]);
  assert.equal(vars(r.stdout).get('TCPLOCALHOST'), 'six.test');
  assert.equal(vars(r.stdout).get('TCPREMOTEHOST'), 'six.test');
  assert.equal(vars(r.stdout).get('TCP6REMOTEHOST'), 'unset');
  dns.set(ptr, 'nxdomain');
  r = await compare6(['-R', '::1', port6, print]);
  assert.equal(vars(r.stdout).get('TCPLOCALHOST'), '');
  assert.equal(vars(r.stdout).get('TCPREMOTEHOST'), '');
  // -6 on an IPv4 connection still asks in-addr.arpa
  const ptr4 = serverIp.split('.').reverse().join('.') + '.in-addr.arpa';
  dns.set(ptr4, { PTR: ['four.test'] });
  r = await compare6(['-R', '-6', '-l', 'L', serverIp, port4, print]);
  assert.equal(vars(r.stdout).get('TCPREMOTEHOST'), 'four.test');
  // the C resolver takes seconds per lookup on a server that never answers: ours alone
  dns.set(ptr, 'servfail');
  r = await mine(['-R', '::1', port6, print]);
  assert.equal(vars(r.stdout).get('TCPLOCALHOST'), 'unset');
  assert.equal(vars(r.stdout).get('TCPREMOTEHOST'), 'unset');
});

test('ident over IPv6: the server host\'s ::1 port 113, asked "<serverport> , <clientport>"', async () => {
  let ident6: IdentTestServer;
  try {
    ident6 = await IdentTestServer.start(() => '1 , 2 : USERID : UNIX : six\r\n', '::1');
  } catch (err) {
    assert.fail(`cannot listen on [::1]:113 (${(err as Error).message})`);
  }
  try {
    const r = await compare6(['-H', '-l', 'L', '::1', port6, print]);
    assert.equal(vars(r.stdout).get('TCPREMOTEINFO'), 'six');
    assert.ok(ident6.requests.length >= 1);
    assert.match(ident6.requests[0].line, new RegExp(`^${port6} , \\d+\\r\\n$`));
    assert.equal(ident6.requests[0].fromIp, '::1');
  } finally {
    await ident6.close();
  }
});

test('unit: -i scanning, socket choice, host 0, IPv6 literals', () => {
  assert.deepEqual(scanLocalIp('::1xyz'), { ip: '::1' });
  assert.deepEqual(scanLocalIp('999.0.0.1'), { ip: '231.0.0.1' });
  assert.deepEqual(scanLocalIp('::ffff:10.0.0.1'), { ip: '10.0.0.1' });
  assert.deepEqual(scanLocalIp('::'), { ip: null });
  assert.equal(scanLocalIp('1.2.3'), null);
  assert.equal(scanLocalIp('fe80:'), null);
  const p = parseCommandLine(['-46', '-I', 'eth0', '-i', '2001:DB8::1', 'h', 'p', 'prog']);
  assert.equal(p.kind, 'ok');
  if (p.kind !== 'ok') return;
  assert.equal(p.options.ipv4Only, true);
  assert.equal(p.options.ipv6Form, true);
  assert.equal(p.options.interfaceName, 'eth0');
  assert.equal(p.options.localIp, '2001:db8::1');
  assert.equal(thisHost({ ipv4Only: false, ipv6Form: false, localIp: null }), '127.0.0.1');
  assert.equal(thisHost({ ipv4Only: false, ipv6Form: false, localIp: '10.0.0.1' }), '127.0.0.1');
  assert.equal(thisHost({ ipv4Only: false, ipv6Form: false, localIp: 'fe80::1' }), '::1');
  assert.equal(thisHost({ ipv4Only: true, ipv6Form: true, localIp: null }), '127.0.0.1');
  assert.equal(ip6Literal('[0:0::1]'), '::1');
  assert.equal(ip6Literal('::ffff:1.2.3.4'), '1.2.3.4');
  assert.equal(ip6Literal('1.2.3.4'), null);
  assert.equal(ip6Literal('fe80::1%eth0'), null);
  assert.deepEqual(socketPlan('1.2.3.4', null, false, null), { kind: 'socket', family: 4, host: '1.2.3.4', localAddress: '0.0.0.0' });
  assert.deepEqual(socketPlan('1.2.3.4', '::1', false, null), { kind: 'socket', family: 6, host: '::ffff:1.2.3.4', localAddress: '::1' });
  assert.deepEqual(socketPlan('fe80::1', null, false, 'eth0'), { kind: 'socket', family: 6, host: 'fe80::1%eth0', localAddress: '::' });
  assert.deepEqual(socketPlan('::1', '10.0.0.1', false, null), { kind: 'socket', family: 6, host: '::1', localAddress: '::ffff:10.0.0.1' });
  assert.deepEqual(socketPlan('::1', null, true, null), { kind: 'socket', family: 4, host: '127.0.0.1', localAddress: '0.0.0.0' });
  assert.deepEqual(socketPlan('::2', null, true, null), { kind: 'refuse', stage: 'connect', code: 'EAFNOSUPPORT' });
  assert.deepEqual(socketPlan('1.2.3.4', '::1', true, null), { kind: 'refuse', stage: 'bind', code: 'EAFNOSUPPORT' });
});

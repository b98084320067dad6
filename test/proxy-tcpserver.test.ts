// tcpserver with PROXYFROM, end to end over loopback: a trusted "balancer" address sends PROXY
// headers for other addresses; the program must see exactly what a direct connection from the real
// address would give it, and every byte after the header. Untrusted peers are never parsed; a
// trusted peer that sends no header, a bad one or half of one is dropped without holding its -c slot.
import * as assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseIp4 } from '../src/dns/address';
import { formatV1 } from '../src/proxy/v1';
import { formatV2, formatV2Local } from '../src/proxy/v2';
import { IdentTestServer } from './support/ident-server';
import { BIN, ours, runSync } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const TCPSERVER = ours('tcpserver');
const DIR = tempDir();
/** prints its PROTO/TCP/SSL variables, a line "--", then copies its input to its output */
const PROGRAM = join(DIR, 'program');
writeFileSync(PROGRAM, '#!/bin/sh\nenv | grep -E "^(PROTO|TCP|SSL_)" | sort\necho --\nexec cat\n');
chmodSync(PROGRAM, 0o755);
/** the same without reading its input, for clients that never end theirs */
const ENV_PROGRAM = join(DIR, 'env-program');
writeFileSync(ENV_PROGRAM, '#!/bin/sh\nenv | grep -E "^(PROTO|TCP|SSL_)" | sort\necho --\n');
chmodSync(ENV_PROGRAM, 0o755);

const A = randomInt(1, 255);
const B = randomInt(0, 255);
const ip = (n: number) => `127.${A}.${B}.${n}`;
const BALANCER = ip(1);
const SERVER_IP = ip(2);

const clients = new Set<Socket>();
after(() => {
  for (const c of clients) c.destroy();
});

interface Reply {
  readonly env: Map<string, string>;
  /** what the program echoed back */
  readonly data: Buffer;
  readonly raw: Buffer;
}

/** Connect from `from` (optionally from `localPort`), send `bytes` in one write, half-close, read all. */
function talk(port: number, from: string, bytes: Buffer, o: { localPort?: number; keepOpen?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: SERVER_IP, localAddress: from, localPort: o.localPort });
    clients.add(sock);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`no end from the server; got ${Buffer.concat(chunks)}`)), 15_000);
    sock.on('connect', () => {
      if (bytes.length) sock.write(bytes);
      if (!o.keepOpen) sock.end();
    });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      clients.delete(sock);
      const raw = Buffer.concat(chunks);
      const sep = raw.indexOf('--\n');
      const env = new Map<string, string>();
      for (const line of (sep < 0 ? '' : raw.subarray(0, sep).toString('latin1')).split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
      }
      resolve({ env, data: sep < 0 ? Buffer.alloc(0) : raw.subarray(sep + 3), raw });
    });
  });
}

const FLAGS = ['-v', '-1', '-R', '-H', '-l', 'L'];

async function start(
  env: Record<string, string>,
  flags = FLAGS,
  extra: Record<string, string> = {},
  program = PROGRAM,
): Promise<RunningServer> {
  const s = await startServer(TCPSERVER, [...flags, SERVER_IP, '0', program], { env: { ...process.env, ...env, ...extra } });
  await s.waitForLine(/^tcpserver: status: 0\//);
  return s;
}

const endpoint = (text: string, port: number) => ({ ip: parseIp4(text) as Buffer, port });

/** The pid-free form of a log line. */
const unpid = (line: string) => line.replace(/^(tcpserver: \w+) \d+/, '$1 N');

for (const mode of ['ffi', 'no-ffi'] as const) {
  const env = { PROXYFROM: `${BALANCER}, 2001:db8::/32`, ...(mode === 'no-ffi' ? { UCSPI_TS_NO_FFI: '1' } : {}) };

  describe(`PROXY header received (${mode})`, () => {
    it('v1 and v2: the program sees the real client, and every byte after the header', async () => {
      const s = await start(env);
      const payload = Buffer.alloc(200_000);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 8)) & 255;
      for (const header of [formatV1(endpoint(ip(7), 4711), endpoint(ip(8), 25)), formatV2(endpoint(ip(7), 4711), endpoint(ip(8), 25))]) {
        const r = await talk(s.port, BALANCER, Buffer.concat([header, payload]));
        assert.equal(r.env.get('TCPREMOTEIP'), ip(7));
        assert.equal(r.env.get('TCPREMOTEPORT'), '4711');
        assert.equal(r.env.get('TCPLOCALIP'), ip(8));
        assert.equal(r.env.get('TCPLOCALPORT'), '25');
        assert.equal(r.env.get('PROTO'), 'TCP');
        assert.ok(
          r.data.equals(payload),
          `the program got ${r.data.length} of ${payload.length} bytes, the same ones: ${r.data.equals(payload.subarray(0, r.data.length))}`,
        );
      }
      const ok = await s.waitForLines(/^tcpserver: ok /, 2);
      assert.deepEqual(ok.map(unpid), Array(2).fill(`tcpserver: ok N L:${ip(8)}:25 :${ip(7)}::4711`));
      assert.equal(s.lines().filter((l) => l.startsWith(`tcpserver: pid `) && l.endsWith(` from ${ip(7)}`)).length, 2);
    });

    it('a header arriving in pieces, data behind it: read to its end and no further', async () => {
      const s = await start(env);
      for (const header of [formatV1(endpoint(ip(7), 4711), endpoint(ip(8), 25)), formatV2(endpoint(ip(7), 4711), endpoint(ip(8), 25))]) {
        const r = await new Promise<Reply>((resolve, reject) => {
          // byte by byte for the first 20, then the rest with the data in one segment
          const pieces = [...Array(20).keys()].map((i) => header.subarray(i, i + 1));
          pieces.push(Buffer.concat([header.subarray(20), Buffer.from('the data')]));
          const sock = connect({ port: s.port, host: SERVER_IP, localAddress: BALANCER });
          clients.add(sock);
          sock.setNoDelay(true);
          const chunks: Buffer[] = [];
          const send = () => {
            const p = pieces.shift();
            if (!p) return void sock.end();
            sock.write(p);
            setTimeout(send, 5);
          };
          sock.on('connect', send);
          sock.on('data', (d: Buffer) => chunks.push(d));
          sock.on('error', reject);
          sock.on('close', () => {
            const raw = Buffer.concat(chunks);
            resolve({ env: new Map(), data: raw.subarray(raw.indexOf('--\n') + 3), raw });
          });
        });
        assert.match(r.raw.toString(), new RegExp(`^TCPREMOTEIP=${ip(7).replace(/\./g, '\\.')}$`, 'm'));
        assert.equal(r.data.toString(), 'the data');
      }
    });

    it('a proxied client looks to the program and the log exactly as a direct one from its address', async () => {
      const s = await start(env);
      const port = 20000 + randomInt(0, 20000);
      const direct = await talk(s.port, ip(9), Buffer.from('x'), { localPort: port });
      const proxied = await talk(
        s.port,
        BALANCER,
        Buffer.concat([formatV2(endpoint(ip(9), port), endpoint(SERVER_IP, s.port)), Buffer.from('x')]),
      );
      assert.deepEqual([...proxied.env], [...direct.env]);
      assert.equal(direct.env.get('TCPREMOTEIP'), ip(9));
      assert.ok(proxied.raw.equals(direct.raw));
      const lines = (await s.waitForLines(/^tcpserver: (pid|ok) /, 4)).map(unpid);
      assert.deepEqual(lines.slice(0, 2), lines.slice(2));
    });

    it('IPv6 clients: PROTO=TCP6 and the TCP6 variables, whatever the server socket', async () => {
      const s = await start(env);
      const src = { ip: Buffer.from('20010db8000000000000000000000007', 'hex'), port: 1 };
      const dst = { ip: Buffer.from('20010db8000000000000000000000025', 'hex'), port: 25 };
      const r = await talk(s.port, BALANCER, formatV1(src, dst));
      assert.equal(r.env.get('PROTO'), 'TCP6');
      assert.equal(r.env.get('TCPREMOTEIP'), '2001:db8::7');
      assert.equal(r.env.get('TCP6REMOTEIP'), '2001:db8::7');
      assert.equal(r.env.get('TCP6LOCALIP'), '2001:db8::25');
      assert.equal(r.env.get('TCP6LOCALPORT'), '25');
      assert.match(await s.waitForLine(/^tcpserver: ok /), /^tcpserver: ok \d+ L:2001:db8::25:25 :2001:db8::7::1$/);
    });

    it('a header from an untrusted peer is never parsed: it reaches the program as data', async () => {
      const s = await start(env);
      const header = formatV1(endpoint('192.0.2.1', 1), endpoint('192.0.2.2', 2));
      const r = await talk(s.port, ip(3), Buffer.concat([header, Buffer.from('after')]));
      assert.equal(r.env.get('TCPREMOTEIP'), ip(3));
      assert.equal(r.data.toString('latin1'), header.toString('latin1') + 'after');
    });

    it('LOCAL (health checks) and UNKNOWN: the balancer is served as itself', async () => {
      const s = await start(env);
      for (const header of [formatV2Local(), Buffer.from('PROXY UNKNOWN\r\n')]) {
        const r = await talk(s.port, BALANCER, Buffer.concat([header, Buffer.from('ping')]));
        assert.equal(r.env.get('TCPREMOTEIP'), BALANCER);
        assert.equal(r.data.toString(), 'ping');
      }
    });

    it('no header, a bad one, or half of one: dropped, never reaching the program, the -c slot given back', async () => {
      const s = await start(env, [...FLAGS, '-c', '1'], { PROXYTIMEOUT: '1' });
      const none = await talk(s.port, BALANCER, Buffer.from('EHLO example.org\r\n'));
      assert.equal(none.raw.length, 0);
      await s.waitForLine(/dropping connection, unable to parse PROXY header: not a PROXY header$/);
      const bad = await talk(s.port, BALANCER, Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 99999 1\r\ndata'));
      assert.equal(bad.raw.length, 0);
      await s.waitForLine(/dropping connection, unable to parse PROXY header: bad port$/);
      const truncated = await talk(s.port, BALANCER, formatV2(endpoint(ip(7), 1), endpoint(ip(8), 2)).subarray(0, 20));
      assert.equal(truncated.raw.length, 0);
      await s.waitForLine(/dropping connection, unable to read PROXY header: end of file$/);
      // half a header and then silence, holding the only -c slot until the timeout
      const started = Date.now();
      const slow = talk(s.port, BALANCER, Buffer.from('PROXY TCP4 1.2.'), { keepOpen: true });
      const waiting = talk(s.port, ip(3), Buffer.from('next'));
      assert.equal((await slow).raw.length, 0);
      await s.waitForLine(/dropping connection, unable to read PROXY header: timed out$/);
      assert.ok(Date.now() - started >= 900, 'dropped by the timeout, not before');
      const next = await waiting;
      assert.equal(next.data.toString(), 'next', 'the waiting client was served once the slot was free');
      // each drop is logged as 0.88 logs a dropped connection, from the balancer's address
      assert.equal(s.lines().filter((l) => l === `tcpserver: pid ${l.split(' ')[2]} from ${BALANCER}`).length, 4);
      assert.equal(s.lines().filter((l) => / status 28416$/.test(l)).length, 4);
    });

    it('TLVs: the authority and the TLS facts as s6-networking names them', async () => {
      const s = await start(env);
      const tlv = (type: number, value: Buffer) => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 255]), value]);
      const ssl = Buffer.concat([
        Buffer.from([0x03, 0, 0, 0, 0]),
        tlv(0x21, Buffer.from('TLSv1.3')),
        tlv(0x22, Buffer.from('client.example')),
        tlv(0x23, Buffer.from('TLS_AES_128_GCM_SHA256')),
      ]);
      const base = formatV2(endpoint(ip(7), 1), endpoint(ip(8), 2));
      const tlvs = Buffer.concat([tlv(0x02, Buffer.from('mail.example')), tlv(0x20, ssl)]);
      const header = Buffer.concat([base, tlvs]);
      header.writeUInt16BE(base.length - 16 + tlvs.length, 14);
      const r = await talk(s.port, BALANCER, header);
      assert.equal(r.env.get('SSL_TLS_SNI_SERVERNAME'), 'mail.example');
      assert.equal(r.env.get('SSL_PROTOCOL'), 'TLSv1.3');
      assert.equal(r.env.get('SSL_CIPHER'), 'TLS_AES_128_GCM_SHA256');
      assert.equal(r.env.get('SSL_PEER_CERT_CN'), 'client.example');
      assert.equal(r.env.get('TCPREMOTEIP'), ip(7));
    });
  });
}

describe('PROXY header and the lookups', () => {
  it("no ident query for a proxied client (its TCP connection is the balancer's); a direct one is asked", async () => {
    const ident = await IdentTestServer.start((req) => {
      const [rport, lport] = req.line.split(',').map((x) => x.trim());
      return `${rport} , ${lport} : USERID : UNIX : someone\r\n`;
    });
    after(() => ident.close());
    const s = await start({ PROXYFROM: BALANCER }, ['-v', '-1', '-r', '-t', '5', '-H', '-l', 'L']);
    const proxied = await talk(s.port, BALANCER, formatV1(endpoint(ident.address, 4711), endpoint(SERVER_IP, s.port)));
    assert.equal(proxied.env.get('TCPREMOTEIP'), ident.address);
    assert.equal(proxied.env.has('TCPREMOTEINFO'), false);
    assert.equal(ident.requests.length, 0);
    const direct = await talk(s.port, ident.address, Buffer.alloc(0));
    assert.equal(direct.env.get('TCPREMOTEINFO'), 'someone');
    assert.equal(ident.requests.length, 1);
  });

  it('a PROXYFROM that does not parse stops tcpserver at once (exit 100)', () => {
    const r = runSync(TCPSERVER, ['-1', SERVER_IP, '0', 'true'], { env: { ...process.env, PROXYFROM: '10.0.0.0/8,10.0.0.300' } });
    assert.equal(r.status, 100);
    assert.equal(r.stderr.toString(), 'tcpserver: fatal: unable to parse PROXYFROM: 10.0.0.300\n');
  });
});

describe('tcpclient -P: sending the header, to our own tcpserver', () => {
  const TCPCLIENT = ours('tcpclient');
  // the program run by tcpclient prints what the server's program sent back
  const readBack = ['sh', '-c', 'exec cat <&6'];

  it('-P1 and -P2 pass on the connection tcpclient runs under (TCPREMOTEIP ... as tcpserver sets them)', async () => {
    const s = await start({ PROXYFROM: BALANCER }, FLAGS, {}, ENV_PROGRAM);
    for (const version of ['1', '2']) {
      const given = { TCPREMOTEIP: '203.0.113.9', TCPREMOTEPORT: '4711', TCPLOCALIP: '2001:db8::25', TCPLOCALPORT: '25' };
      const r = runSync(TCPCLIENT, ['-RHl0', '-i', BALANCER, '-P', version, SERVER_IP, String(s.port), ...readBack], {
        env: { ...process.env, ...given },
      });
      assert.equal(r.status, 0, r.stderr.toString());
      const out = r.stdout.toString();
      // mixed families go out as IPv6, the IPv4 one v4-mapped
      assert.match(out, /^PROTO=TCP\n/m);
      assert.match(out, /^TCPREMOTEIP=203\.0\.113\.9$/m);
      assert.match(out, /^TCPREMOTEPORT=4711$/m);
      assert.match(out, /^TCPLOCALIP=2001:db8::25$/m);
      assert.match(out, /^TCPLOCALPORT=25$/m);
    }
  });

  it('without TCPREMOTEIP, its own connection; the program still gets every byte from the server', async () => {
    const s = await start({ PROXYFROM: BALANCER }, FLAGS, {}, ENV_PROGRAM);
    const env = { ...process.env };
    delete env.TCPREMOTEIP;
    const r = runSync(
      TCPCLIENT,
      ['-RHl0', '-i', BALANCER, '-p', '0', '-P2', SERVER_IP, String(s.port), 'sh', '-c', 'echo "$TCPLOCALPORT" >&2; exec cat <&6'],
      { env },
    );
    assert.equal(r.status, 0, r.stderr.toString());
    const myPort = r.stderr.toString().trim();
    assert.match(r.stdout.toString(), new RegExp(`^TCPREMOTEIP=${BALANCER.replace(/\./g, '\\.')}\\nTCPREMOTEPORT=${myPort}$`, 'm'));
    assert.match(r.stdout.toString(), /\n--\n$/);
  });

  it('a relay of tcpserver and tcpclient -P2 passes each client on to the backend (doc/tcpclient.md)', async () => {
    const backend = await start({ PROXYFROM: BALANCER }, FLAGS, {}, ENV_PROGRAM);
    const relay = ['tcpclient', '-RHl0', '-i', BALANCER, '-P2', SERVER_IP, String(backend.port), 'sh', '-c', 'cat <&6 & exec cat >&7'];
    const front = await startServer(TCPSERVER, ['-1', '-RHl0', SERVER_IP, '0', ...relay], {
      env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` },
    });
    const r = await talk(front.port, ip(9), Buffer.from('hello'));
    assert.equal(r.env.get('TCPREMOTEIP'), ip(9));
    assert.equal(r.env.get('TCPLOCALIP'), SERVER_IP);
    assert.equal(r.env.get('TCPLOCALPORT'), String(front.port));
  });

  it('variables that make no header stop tcpclient before the program runs; a bad version is a usage error', async () => {
    const s = await start({ PROXYFROM: BALANCER }, FLAGS, {}, ENV_PROGRAM);
    const bad = runSync(TCPCLIENT, ['-RHl0', '-i', BALANCER, '-P1', SERVER_IP, String(s.port), 'echo', 'ran'], {
      env: { ...process.env, TCPREMOTEIP: '203.0.113.9', TCPREMOTEPORT: '65536', TCPLOCALIP: '192.0.2.1', TCPLOCALPORT: '25' },
    });
    assert.equal(bad.status, 111);
    assert.equal(bad.stderr.toString(), 'tcpclient: fatal: unable to make PROXY header: TCPREMOTEPORT=65536 is not a port\n');
    assert.equal(bad.stdout.length, 0);
    await s.waitForLine(/dropping connection, unable to read PROXY header: end of file$/);
    const usage = runSync(TCPCLIENT, ['-P3', SERVER_IP, '1', 'true']);
    assert.equal(usage.status, 100);
    assert.match(usage.stderr.toString(), /^tcpclient: usage: /);
  });
});

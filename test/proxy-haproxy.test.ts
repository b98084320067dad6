// Behind a real HAProxy (TCP mode, send-proxy and send-proxy-v2): clients from 127.0.0.2, 127.0.0.3
// and ::1 must appear as themselves in TCPREMOTEIP, in the -v lines, to the rules and to MAXCONNIP.
// And the other way: our tcpclient -P in front of HAProxy's accept-proxy.
import * as assert from 'node:assert/strict';
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeCdb } from '../src/cdb/writer';
import { parseRules } from '../src/rules/parse';
import { NEED_HAPROXY, RunningHaproxy, startHaproxy } from './support/haproxy';
import { ours, runSync } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const TCPSERVER = ours('tcpserver');
const DIR = tempDir();
const PROGRAM = join(DIR, 'program');
// one line about the connection, then held open until the client closes
writeFileSync(
  PROGRAM,
  '#!/bin/sh\nexec 2>/dev/null\necho "$PROTO $TCPREMOTEIP $TCPLOCALIP $TCPLOCALPORT ${MAXCONNIP-}"\nexec cat >/dev/null\n',
);
chmodSync(PROGRAM, 0o755);

const clients = new Set<Socket>();
after(() => {
  for (const c of clients) c.destroy();
});

interface Attempt {
  readonly sock: Socket;
  /** the first line the server sent, '' if it closed without one */
  readonly line: string;
  /** the client's own port (kept: a closed socket forgets it) */
  readonly port: number;
}

function attempt(port: number, from: string): Promise<Attempt> {
  const host = from.includes(':') ? '::1' : '127.0.0.1';
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host, localAddress: from });
    clients.add(sock);
    let data = '';
    let done = false;
    let own = 0;
    sock.on('connect', () => (own = sock.localPort as number));
    const timer = setTimeout(() => reject(new Error(`no line for ${from}: ${JSON.stringify(data)}`)), 15_000);
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ sock, line: data.split('\n')[0], port: own });
    };
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      data += d;
      if (data.includes('\n')) finish();
    });
    sock.on('error', () => {});
    sock.on('close', finish);
  });
}

function rulesFile(text: string): string {
  const path = join(DIR, `rules-${Math.random().toString(36).slice(2)}.cdb`);
  const records = parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const);
  writeFileSync(path + '.tmp', makeCdb(records));
  renameSync(path + '.tmp', path);
  return path;
}

async function serverBehindHaproxy(args: string[], env: Record<string, string> = {}): Promise<{ s: RunningServer; h: RunningHaproxy }> {
  const s = await startServer(TCPSERVER, ['-v', '-1', '-R', '-H', '-l', 'L', ...args, '127.0.0.1', '0', PROGRAM], {
    env: { ...process.env, PROXYFROM: '127.0.0.1', ...env },
  });
  await s.waitForLine(/^tcpserver: status: 0\//);
  const to = `127.0.0.1:${s.port}`;
  const h = await startHaproxy(DIR, [
    { name: 'v1', serverOptions: 'send-proxy', to },
    { name: 'v2', serverOptions: 'send-proxy-v2', to },
    { name: 'v2crc', serverOptions: 'send-proxy-v2 proxy-v2-options crc32c,unique-id', to },
  ]);
  return { s, h };
}

const CLIENTS = ['127.0.0.2', '127.0.0.3', '::1'];
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('tcpserver behind HAProxy', { skip: NEED_HAPROXY }, () => {
  it('v1, v2 and v2 with a CRC32C: each client appears as itself to the program and in the -v lines; a rule denies one of them', async () => {
    // started here, not in before(): the helpers stop what they start when the current test ends
    const { s, h } = await serverBehindHaproxy(['-x', rulesFile('127.0.0.3:deny\n:allow\n')]);
    for (const version of ['v1', 'v2', 'v2crc']) {
      const port = h.ports[version];
      for (const from of CLIENTS) {
        const a = await attempt(port, from);
        const frontend = from.includes(':') ? '::1' : '127.0.0.1';
        const localPort = escape(String(port));
        if (from === '127.0.0.3') {
          assert.equal(a.line, '', 'denied by the rule: no program');
          await s.waitForLine(new RegExp(`^tcpserver: deny \\d+ L:127\\.0\\.0\\.1:${localPort} :127\\.0\\.0\\.3::${a.port}$`));
        } else {
          assert.equal(a.line, `${from.includes(':') ? 'TCP6' : 'TCP'} ${from} ${frontend} ${port} `, `${version} ${from}`);
          await s.waitForLine(new RegExp(`^tcpserver: pid \\d+ from ${escape(from)}$`));
          await s.waitForLine(new RegExp(`^tcpserver: ok \\d+ L:${escape(frontend)}:${localPort} :${escape(from)}::${a.port}$`));
        }
        a.sock.destroy();
      }
    }
  });
});

describe('HAProxy health checks with a PROXY header (v2 LOCAL)', { skip: NEED_HAPROXY }, () => {
  it('are served as the balancer itself, never dropped', async () => {
    const s = await startServer(TCPSERVER, ['-v', '-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'echo "$TCPREMOTEIP"'], {
      env: { ...process.env, PROXYFROM: '127.0.0.1' },
    });
    await startHaproxy(DIR, [
      { name: 'checked', serverOptions: 'send-proxy-v2 check inter 200 check-send-proxy', to: `127.0.0.1:${s.port}` },
    ]);
    // the start-up probe's one connection also comes as 127.0.0.1: three lines mean two checks
    await s.waitForLines(/^tcpserver: ok \d+ L:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+$/, 3);
    assert.deepEqual(
      s.lines().filter((l) => l.includes('warning')),
      [],
    );
  });
});

describe('MAXCONNIP counts the real clients behind HAProxy', { skip: NEED_HAPROXY }, () => {
  it('two clients from one address are limited, another address is not', async () => {
    const { s, h } = await serverBehindHaproxy([], { MAXCONNIP: '1', DIEMSG: '421 one at a time' });
    for (const version of ['v1', 'v2']) {
      const port = h.ports[version];
      const first = await attempt(port, '127.0.0.2');
      assert.match(first.line, /^TCP 127\.0\.0\.2 /);
      const second = await attempt(port, '127.0.0.2');
      assert.equal(second.line, '421 one at a time\r');
      await s.waitForLine(new RegExp(`^tcpserver: deny \\d+ .*:127\\.0\\.0\\.2::${second.port} MAXCONNIP:1$`));
      const other = await attempt(port, '127.0.0.3');
      assert.match(other.line, /^TCP 127\.0\.0\.3 /);
      const six = await attempt(port, '::1');
      assert.match(six.line, /^TCP6 ::1 /);
      // the held ones' pids, by their client ports (HAProxy's own health checks end in between)
      const pids = await Promise.all(
        [first, other, six].map(async (a) => (await s.waitForLine(new RegExp(`^tcpserver: ok (\\d+) .*::${a.port}$`))).split(' ')[2]),
      );
      for (const a of [first, second, other, six]) a.sock.destroy();
      // wait for the held ones to end before the next round reuses the addresses
      for (const pid of pids) await s.waitForLine(new RegExp(`^tcpserver: end ${pid} status 0$`));
    }
  });
});

describe('tcpclient -P in front of HAProxy accept-proxy', { skip: NEED_HAPROXY }, () => {
  it('HAProxy takes our v1 and v2 headers and passes the claimed client on', async () => {
    const s = await startServer(
      TCPSERVER,
      ['-v', '-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'echo "$TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT"'],
      {
        env: { ...process.env, PROXYFROM: '127.0.0.1' },
      },
    );
    const h = await startHaproxy(DIR, [
      { name: 'in', bindOptions: 'accept-proxy', serverOptions: 'send-proxy-v2', to: `127.0.0.1:${s.port}` },
    ]);
    for (const version of ['1', '2']) {
      const given = { TCPREMOTEIP: '198.51.100.' + version, TCPREMOTEPORT: '4711', TCPLOCALIP: '192.0.2.25', TCPLOCALPORT: '25' };
      const r = runSync(ours('tcpclient'), ['-RHl0', '-P', version, '127.0.0.1', String(h.ports.in), 'sh', '-c', 'exec cat <&6'], {
        env: { ...process.env, ...given },
      });
      assert.equal(r.status, 0, r.stderr.toString());
      assert.equal(r.stdout.toString(), `198.51.100.${version} 4711 192.0.2.25 25\n`);
    }
  });
});

// tcpserver's status socket (TCPSERVERSTATUS) end to end, under load: connections held open from
// several loopback addresses in two /24s while short connections churn from another, and the
// counts the report gives per address and per network are the ones the test holds; asking does
// not disturb the held connections; the socket is the operator's only, replaces a stale one, goes
// away with tcpserver, and a path that cannot be bound is a fatal error.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ours, runSync } from './support/programs';
import { exchange, RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const TCPSERVER = ours('tcpserver');
const DIR = tempDir();
// says it runs, then echoes: a held connection is one whose program is running
const PROGRAM = join(DIR, 'program');
writeFileSync(PROGRAM, '#!/bin/sh\nexec 2>/dev/null\necho ready\nexec cat\n');
chmodSync(PROGRAM, 0o755);

const A = randomInt(1, 255);
const B = randomInt(0, 254);
const ip = (n: number) => `127.${A}.${B}.${n}`;
const other = (n: number) => `127.${A}.${B + 1}.${n}`;

const held = new Set<Socket>();
after(() => {
  for (const s of held) s.destroy();
});

/** A connection from `from` whose program has started (it said `ready`). */
function hold(port: number, from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1', localAddress: from });
    held.add(sock);
    sock.on('close', () => held.delete(sock));
    let data = '';
    const timer = setTimeout(() => reject(new Error(`no ready from the program for ${from}`)), 10_000);
    const onData = (d: Buffer) => {
      data += d.toString('latin1');
      if (data === 'ready\n') {
        clearTimeout(timer);
        sock.off('data', onData);
        resolve(sock);
      }
    };
    sock.on('data', onData);
    sock.on('error', reject);
  });
}

/** What the status socket answers. */
function ask(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path });
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (data += d));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
    setTimeout(() => reject(new Error('no answer from the status socket')), 10_000).unref();
  });
}

/** Ask until the report has a line (the server ends connections asynchronously), at most 10 s. */
async function askUntil(path: string, line: string): Promise<string> {
  for (let i = 0; ; i++) {
    const report = await ask(path);
    if (report.split('\n').includes(line) || i === 100) return report;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A line of one address or network, or null. */
function countOf(report: string, kind: 'ip' | 'net', key: string): number | null {
  const line = report.split('\n').find((l) => l.startsWith(`tcpserver: ${kind} ${key} `));
  return line === undefined ? null : Number(line.split(' ')[3]);
}

function startWithStatus(path: string, env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
  return startServer(TCPSERVER, ['-v', '-1', '-RHl0', '-c', '100', '127.0.0.1', '0', PROGRAM], {
    env: { ...process.env, TCPSERVERSTATUS: path, ...env },
  });
}

describe('tcpserver status socket', () => {
  it('gives the counts the test holds, per address and per /24, while connections churn', async () => {
    const path = join(DIR, 'status');
    // a rate that refills slowly enough to be read exactly
    const server = await startWithStatus(path, { MAXRATEIP: '1000/86400', MAXCONNIP: '60' });
    const st = statSync(path);
    assert.ok(st.isSocket(), 'a socket at the path');
    assert.equal(st.mode & 0o777, 0o600, "the operator's only");
    const plan: Array<[string, number]> = [
      [ip(1), 3],
      [ip(2), 2],
      [other(7), 4],
    ];
    const sockets = new Map<string, Socket[]>();
    for (const [from, n] of plan) {
      const list: Socket[] = [];
      for (let i = 0; i < n; i++) list.push(await hold(server.port, from));
      sockets.set(from, list);
    }

    // churn: 120 short connections from ip(50), five at a time, while reports are asked for one
    // after another (the socket answers a few clients at once, and closes others unanswered)
    let churning = true;
    const churn = (async () => {
      const one = async () => {
        for (let i = 0; i < 24; i++) await exchange(server.port, { localAddress: ip(50) });
      };
      await Promise.all([one(), one(), one(), one(), one()]);
      churning = false;
    })();
    const reports: string[] = [];
    while (churning || reports.length < 30) {
      reports.push(await ask(path));
      if (reports.length > 3000) break;
    }
    await churn;
    for (const r of reports) {
      assert.match(r, /^tcpserver: status: /);
      assert.equal(countOf(r, 'ip', ip(1)), 3, r);
      assert.equal(countOf(r, 'ip', ip(2)), 2, r);
      assert.equal(countOf(r, 'ip', other(7)), 4, r);
      assert.equal(countOf(r, 'net', `127.${A}.${B + 1}.0/24`), 4, r);
      assert.ok(countOf(r, 'net', `127.${A}.${B}.0/24`)! >= 5, r);
      const running = Number(/^tcpserver: status: (\d+)\/100$/m.exec(r)?.[1]);
      // the churn's connections count from accept until their program is reaped
      assert.ok(running >= 9, r);
    }

    // the churn over, exactly what is held
    const settled = await askUntil(path, 'tcpserver: status: 9/100');
    assert.match(settled, /^tcpserver: status: 9\/100$/m);
    assert.match(
      settled,
      /^tcpserver: limits: 9 running from 3 addresses in 2 networks, 4 addresses in the rate table, 0 refused clients held$/m,
    );
    assert.match(settled, /^tcpserver: defaults: MAXCONNIP:60 MAXRATEIP:1000\/86400$/m);
    assert.equal(countOf(settled, 'ip', ip(50)), null, 'the churning address is gone from the counts');
    assert.equal(countOf(settled, 'net', `127.${A}.${B}.0/24`), 5);
    const rates = settled.split('\n').filter((l) => l.startsWith('tcpserver: rate '));
    assert.equal(rates.length, 4);
    assert.match(
      rates[0],
      new RegExp(`^tcpserver: rate ${ip(50).replace(/\./g, '\\.')} 880(\\.\\d)? left of 1000/86400$`),
      'the hottest first',
    );

    // nothing the reports did reached the held connections: each still echoes, nothing was logged
    for (const list of sockets.values()) {
      for (const s of list) {
        const echoed = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
        s.write('ping\n');
        assert.equal(await echoed, 'ping\n');
      }
    }
    assert.deepEqual(
      server.lines().filter((l) => !/^tcpserver: (status:|pid|ok|end) /.test(l)),
      [],
      'no warning, no other line on stderr',
    );

    // two of other(7)'s end: the counts follow
    for (const s of sockets.get(other(7))!.slice(0, 2)) s.end();
    const after2 = await askUntil(path, `tcpserver: ip ${other(7)} 2`);
    assert.equal(countOf(after2, 'ip', other(7)), 2, after2);
    assert.equal(countOf(after2, 'net', `127.${A}.${B + 1}.0/24`), 2, after2);
    assert.match(after2, /^tcpserver: status: 7\/100$/m);

    await server.stop();
    assert.equal(existsSync(path), false, 'removed when tcpserver ends');
  });

  it('counts without any limit set, and bounds the clients it answers at once', async () => {
    const path = join(DIR, 'status-nolimits');
    const server = await startWithStatus(path);
    const s1 = await hold(server.port, ip(3));
    const report = await ask(path);
    assert.match(report, /^tcpserver: defaults: none$/m);
    assert.equal(countOf(report, 'ip', ip(3)), 1, report);
    // four clients that never read nor close take every place; a fifth is closed unanswered, and
    // tcpserver goes on accepting meanwhile
    const silent = await Promise.all(
      [1, 2, 3, 4].map(
        () =>
          new Promise<Socket>((resolve) => {
            const s = connect({ path }, () => resolve(s));
            s.pause();
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await ask(path), '', 'past the bound a client is closed at once');
    const s2 = await hold(server.port, ip(4));
    for (const s of silent) s.destroy();
    assert.equal(countOf(await askUntil(path, `tcpserver: ip ${ip(4)} 1`), 'ip', ip(4)), 1);
    s1.destroy();
    s2.destroy();
  });

  it('replaces the socket of a killed tcpserver; a path it cannot bind is fatal', async () => {
    const path = join(DIR, 'status-stale');
    const first = await startWithStatus(path);
    first.proc.kill('SIGKILL');
    await first.exited;
    assert.ok(existsSync(path), 'a killed tcpserver leaves its socket behind');
    const second = await startWithStatus(path);
    assert.match(await ask(path), /^tcpserver: status: 0\/100$/m);
    await second.stop();

    const missing = join(DIR, 'no-such-dir', 'status');
    const r = runSync(TCPSERVER, ['-1', '127.0.0.1', '0', 'true'], { env: { ...process.env, TCPSERVERSTATUS: missing } });
    assert.equal(r.status, 111);
    assert.equal(r.stderr.toString(), `tcpserver: fatal: unable to bind status socket ${missing}: file does not exist\n`);
  });
});

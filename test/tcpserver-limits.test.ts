// tcpserver's connection limits end to end: MAXCONNIP, MAXCONNC, MAXLOAD, DIEMSG, MAXRATEIP and
// -C, from tcpserver's environment and from rules, with clients on several loopback addresses
// (each run takes its own random 127.x.y.0/24 and the /24 after it), and a storm of resets,
// killed children and failed spawns after which every count is back at zero.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeCdb } from '../src/cdb/writer';
import { parseRules } from '../src/rules/parse';
import { ours, runSync } from './support/programs';
import { childrenOf } from './support/proc';
import { RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const TCPSERVER = ours('tcpserver');
const QUIET = ['-v', '-1', '-R', '-H', '-l', 'L'];
const DIR = tempDir();
// prints what it was given, then lives as long as the client's side is open; quiet on stderr,
// which it shares with tcpserver's log lines
const PROGRAM = join(DIR, 'program');
writeFileSync(PROGRAM, '#!/bin/sh\nexec 2>/dev/null\necho "ok $MAXCONNIP|$MAXCONNC|$MAXRATEIP|$DIEMSG"\nexec cat >/dev/null\n');
chmodSync(PROGRAM, 0o755);

const A = randomInt(1, 255);
const B = randomInt(0, 255);
/** an address in this run's /24 */
const ip = (n: number) => `127.${A}.${B}.${n}`;
/** an address in the /24 after it */
const other = (n: number) => `127.${A}.${B + 1}.${n}`;

function writeRules(name: string, text: string): string {
  const path = join(DIR, name);
  const records = parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const);
  writeFileSync(path + '.tmp', makeCdb(records));
  renameSync(path + '.tmp', path);
  return path;
}

// every client socket, closed when the file ends: a failed assertion must not leave a connection
// (and the program on its other end) keeping the test process alive
const clients = new Set<Socket>();
after(() => {
  for (const c of clients) c.destroy();
});

function track(sock: Socket): Socket {
  clients.add(sock);
  sock.on('close', () => clients.delete(sock));
  return sock;
}

interface Attempt {
  readonly sock: Socket;
  /** the first line the server sent ('' if it closed without one) */
  readonly line: string;
  /** whether the server had closed when that line arrived */
  readonly closedAtLine: boolean;
  /** resolves when the connection is closed */
  readonly closed: Promise<void>;
}

/** Connect from `from` and wait for the first line (or the close). */
function attempt(port: number, from: string, host = '127.0.0.1'): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const sock = track(connect({ port, host, localAddress: from }));
    let data = '';
    let ended = false;
    let done = false;
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    const timer = setTimeout(() => reject(new Error(`no line from the server for ${from}`)), 10_000);
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const nl = data.indexOf('\n');
      resolve({ sock, line: nl < 0 ? data : data.slice(0, nl + 1), closedAtLine: ended, closed });
    };
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      data += d;
      if (data.includes('\n')) finish();
    });
    sock.on('end', () => (ended = true));
    sock.on('error', () => {});
    sock.on('close', () => {
      ended = true;
      finish();
    });
  });
}

const admitted = (a: Attempt) => a.line.startsWith('ok ');

/**
 * Close an admitted client's side and wait until its program has ended. (Its `ok` line is the last
 * one for its address and port; pids are reused, so its `end` is the first after that line.)
 */
async function release(s: RunningServer, a: Attempt): Promise<void> {
  const okRe = new RegExp(`^tcpserver: ok \\d+ .*:${a.sock.localAddress}::${a.sock.localPort}$`);
  await s.waitForLine(okRe);
  const lines = s.lines();
  let at = lines.length - 1;
  while (!okRe.test(lines[at])) at--;
  const pid = lines[at].split(' ')[2];
  const endRe = new RegExp(`^tcpserver: end ${pid} status `);
  const before = lines.slice(0, at).filter((l) => endRe.test(l)).length;
  a.sock.end();
  await s.waitForLines(endRe, before + 1);
}

const ends = (s: RunningServer) => s.lines().filter((l) => l.startsWith('tcpserver: end ')).length;

async function start(args: string[], env: Record<string, string> = {}, host = '127.0.0.1'): Promise<RunningServer> {
  const s = await startServer(TCPSERVER, [...QUIET, ...args, host, '0', PROGRAM], { env: { ...process.env, ...env } });
  await s.waitForLine(/^tcpserver: status: 0\//);
  return s;
}

describe('MAXCONNIP and MAXCONNC', () => {
  it('MAXCONNIP=3 admits three at once from one address, refuses the fourth with DIEMSG', async () => {
    const s = await start([], { MAXCONNIP: '3', DIEMSG: '421 busy here' });
    const held = [await attempt(s.port, ip(1)), await attempt(s.port, ip(1)), await attempt(s.port, ip(1))];
    assert.deepEqual(
      held.map((h) => h.line),
      Array(3).fill('ok 3|||421 busy here\n'),
      'the program sees the limit',
    );
    const fourth = await attempt(s.port, ip(1));
    assert.equal(fourth.line, '421 busy here\r\n');
    assert.equal(fourth.closedAtLine, false, 'held open after DIEMSG (the delay), not closed with it');
    const deny = await s.waitForLine(/^tcpserver: deny /);
    assert.match(deny, new RegExp(`^tcpserver: deny \\d+ L:127\\.0\\.0\\.1:${s.port} :${ip(1).replace(/\./g, '\\.')}::\\d+ MAXCONNIP:3$`));
    await fourth.closed;
    // the same /24, another address: unaffected
    const neighbour = await attempt(s.port, ip(2));
    assert.ok(admitted(neighbour), neighbour.line);
    // one place freed, one admitted again, and no more
    await release(s, held[0]);
    const again = await attempt(s.port, ip(1));
    assert.ok(admitted(again), again.line);
    assert.equal((await attempt(s.port, ip(1))).line, '421 busy here\r\n');
    for (const h of [...held, again, neighbour]) h.sock.destroy();
  });

  it('MAXCONNC counts the /24; the address reason wins when both are full', async () => {
    const s = await start([], { MAXCONNC: '2', MAXCONNIP: '1', DIEMSG: 'full' });
    const a = await attempt(s.port, ip(1));
    const b = await attempt(s.port, ip(2));
    assert.ok(admitted(a) && admitted(b));
    assert.equal((await attempt(s.port, ip(3))).line, 'full\r\n');
    await s.waitForLine(/ MAXCONNC:2$/);
    assert.equal((await attempt(s.port, ip(1))).line, 'full\r\n');
    await s.waitForLine(/ MAXCONNIP:1$/);
    const elsewhere = await attempt(s.port, other(3));
    assert.ok(admitted(elsewhere), 'the next /24 is another network');
    const denies = s.lines().filter((l) => l.includes(' deny '));
    assert.deepEqual(
      denies.map((l) => l.slice(l.lastIndexOf(' ') + 1)),
      ['MAXCONNC:2', 'MAXCONNIP:1'],
    );
    for (const h of [a, b, elsewhere]) h.sock.destroy();
  });

  it('without DIEMSG a refused client gets nothing, and a rules deny gets DIEMSG but no suffix', async () => {
    const rules = writeRules('deny.cdb', `${ip(9)}:deny,DIEMSG="554 go away"\n:allow\n`);
    const s = await start(['-x', rules], { MAXCONNIP: '0' });
    const r = await attempt(s.port, ip(1));
    assert.equal(r.line, '');
    assert.equal(r.closedAtLine, true);
    await s.waitForLine(/ MAXCONNIP:0$/);
    const d = await attempt(s.port, ip(9));
    assert.equal(d.line, '554 go away\r\n');
    const line = await s.waitForLine(new RegExp(`deny \\d+ .*:${ip(9).replace(/\./g, '\\.')}::\\d+$`));
    assert.doesNotMatch(line, /MAX|LOAD/);
  });

  it('a refused connection gives its -c slot back at once', async () => {
    const s = await start(['-c', '2'], { MAXCONNIP: '1', DIEMSG: 'no' });
    const a = await attempt(s.port, ip(1));
    assert.ok(admitted(a));
    const refused = [];
    for (let i = 0; i < 4; i++) refused.push(await attempt(s.port, ip(1)));
    assert.ok(refused.every((r) => r.line === 'no\r\n'));
    const b = await attempt(s.port, other(1));
    assert.ok(admitted(b), 'a slot was free for another address');
    // every deny's end is followed at once by the count going back to 1 of 2
    const lines = s.lines();
    const denyEnds = lines.flatMap((l, i) => (/^tcpserver: end \d+ status 25600$/.test(l) ? [lines[i + 1]] : []));
    assert.deepEqual(denyEnds, Array(4).fill('tcpserver: status: 1/2'));
    for (const h of [a, b, ...refused]) h.sock.destroy();
  });
});

describe('limits from rules and -C', () => {
  it('rules override the environment per address, and the program sees the rule values', async () => {
    const rules = writeRules(
      'override.cdb',
      `${ip(20)}:allow,MAXCONNIP="3"\n${ip(21)}:allow,MAXCONNIP="0",DIEMSG="never you"\n${ip(22)}:allow,MAXCONNIP="99999999999999999999999"\n:allow\n`,
    );
    const s = await start(['-x', rules], { MAXCONNIP: '1', DIEMSG: 'default' });
    const three = [await attempt(s.port, ip(20)), await attempt(s.port, ip(20)), await attempt(s.port, ip(20))];
    assert.deepEqual(
      three.map((h) => h.line),
      Array(3).fill('ok 3|||default\n'),
    );
    assert.equal((await attempt(s.port, ip(20))).line, 'default\r\n');
    await s.waitForLine(/ MAXCONNIP:3$/);
    const one = await attempt(s.port, ip(1));
    assert.equal(one.line, 'ok 1|||default\n');
    assert.equal((await attempt(s.port, ip(1))).line, 'default\r\n');
    await s.waitForLine(/ MAXCONNIP:1$/);
    assert.equal((await attempt(s.port, ip(21))).line, 'never you\r\n', 'MAXCONNIP=0 always refuses');
    await s.waitForLine(/ MAXCONNIP:0$/);
    const many = [];
    for (let i = 0; i < 5; i++) many.push(await attempt(s.port, ip(22)));
    assert.ok(many.every(admitted));
    for (const h of [...three, one, ...many]) h.sock.destroy();
  });

  it('-C n:message is MAXCONNIP with DIEMSG, and rules still override it', async () => {
    const rules = writeRules('c.cdb', `${ip(30)}:allow,MAXCONNIP="1"\n:allow\n`);
    const s = await start(['-x', rules, '-C', '2:421 too many: try later'], { MAXCONNIP: '50', DIEMSG: 'env' });
    const two = [await attempt(s.port, ip(1)), await attempt(s.port, ip(1))];
    assert.deepEqual(
      two.map((h) => h.line),
      Array(2).fill('ok 2|||421 too many: try later\n'),
    );
    assert.equal((await attempt(s.port, ip(1))).line, '421 too many: try later\r\n');
    await s.waitForLine(/ MAXCONNIP:2$/);
    const r = await attempt(s.port, ip(30));
    assert.ok(admitted(r));
    assert.equal((await attempt(s.port, ip(30))).line, '421 too many: try later\r\n');
    await s.waitForLine(/ MAXCONNIP:1$/);
    for (const h of [...two, r]) h.sock.destroy();
  });

  it('-C without a number is a usage error', () => {
    for (const bad of ['x', '', ':msg', '5x']) {
      const r = runSync(TCPSERVER, ['-C', bad, '127.0.0.1', '0', 'true']);
      assert.equal(r.status, 100, bad);
      assert.match(r.stderr.toString(), /^tcpserver: usage: /);
    }
  });
});

describe('MAXLOAD', () => {
  const loadNow = () => {
    const [whole, frac] = readFileSync('/proc/loadavg', 'latin1').split(' ')[0].split('.');
    return Number(whole) * 100 + Number(frac.slice(0, 2));
  };
  it('0 means no check, a value above the load admits', async () => {
    const s = await start([], { MAXLOAD: '0' });
    const a = await attempt(s.port, ip(1));
    assert.ok(admitted(a));
    const t = await start([], { MAXLOAD: String(loadNow() * 10 + 100000) });
    const b = await attempt(t.port, ip(1));
    assert.ok(admitted(b));
    a.sock.destroy();
    b.sock.destroy();
  });
  it('a value below the load refuses, logging the load', async (t) => {
    const load = loadNow();
    if (load < 4) return t.skip(`load ${load / 100} is too low to set MAXLOAD below it`);
    const max = Math.floor(load / 4);
    const s = await start([], { MAXLOAD: String(max), DIEMSG: 'load' });
    assert.equal((await attempt(s.port, ip(1))).line, 'load\r\n');
    const line = await s.waitForLine(/ LOAD:\d+$/);
    assert.ok(Number(/LOAD:(\d+)$/.exec(line)![1]) > max, line);
  });
});

describe('MAXRATEIP', () => {
  it('refuses the excess of one address, only that address, and never turns the service off', async () => {
    const rules = writeRules('rate.cdb', `${ip(41)}:allow,MAXRATEIP=""\n:allow\n`);
    const s = await start(['-x', rules], { MAXRATEIP: '3/3600', DIEMSG: 'slow down' });
    for (let i = 0; i < 3; i++) {
      const a = await attempt(s.port, ip(1));
      assert.equal(a.line, 'ok ||3/3600|slow down\n');
      await release(s, a);
    }
    for (let i = 0; i < 5; i++) assert.equal((await attempt(s.port, ip(1))).line, 'slow down\r\n', 'not concurrency: all closed');
    await s.waitForLines(/ deny \d+ .* MAXRATEIP:3\/3600$/, 5);
    const neighbour = await attempt(s.port, ip(2));
    assert.ok(admitted(neighbour), 'another address keeps its own count');
    for (let i = 0; i < 5; i++) {
      const lifted = await attempt(s.port, ip(41));
      assert.ok(admitted(lifted), 'a rule lifts the default');
      lifted.sock.destroy();
    }
    neighbour.sock.destroy();
  });
});

describe('IPv6', () => {
  const hasIpv6 = runSync('sh', ['-c', 'test -f /proc/net/if_inet6 && grep -q "^0\\{31\\}1 " /proc/net/if_inet6']).status === 0;
  it('::1 has its own count, and an IPv4 client of a dual-stack socket counts as IPv4', { skip: !hasIpv6 && 'no ::1' }, async () => {
    const s = await start(['-6'], { MAXCONNIP: '1', MAXCONNC: '1', DIEMSG: 'v6' }, '0');
    const six = await attempt(s.port, '::1', '::1');
    assert.ok(admitted(six), six.line);
    assert.equal((await attempt(s.port, '::1', '::1')).line, 'v6\r\n');
    await s.waitForLine(/ deny \d+ .*:::1::\d+ MAXCONNIP:1$/);
    // with -6 IPv4 clients are reported as ::ffff:a.b.c.d; they still count per /24, not as one /64
    const v4 = await attempt(s.port, ip(1));
    assert.ok(admitted(v4), v4.line);
    assert.equal((await attempt(s.port, ip(2))).line, 'v6\r\n');
    await s.waitForLine(/ MAXCONNC:1$/);
    const v4other = await attempt(s.port, other(1));
    assert.ok(admitted(v4other), 'another /24');
    for (const h of [six, v4, v4other]) h.sock.destroy();
  });
});

describe('storm', () => {
  it('after resets, killed children, failed spawns and denials every count is zero again', async () => {
    // X is the abuser, Y a neighbour, Z denied by rules; all three in one /24
    const [X, Y, Z] = [ip(1), ip(2), ip(3)];
    const rules = join(DIR, 'storm.cdb');
    writeRules('storm.cdb', `${Z}:deny\n${ip(0).slice(0, -1)}:allow,MAXCONNIP="8",MAXCONNC="12"\n:allow\n`);
    const program = join(DIR, 'storm-program');
    writeFileSync(program, readFileSync(PROGRAM));
    chmodSync(program, 0o755);
    const s = await startServer(TCPSERVER, [...QUIET, '-c', '30', '-b', '100', '-x', rules, '127.0.0.1', '0', program], {
      env: { ...process.env, DIEMSG: 'busy' },
    });
    const pid = s.proc.pid as number;
    let storming = true;
    // children killed at random moments
    const killer = (async () => {
      while (storming) {
        for (const { pid: c } of childrenOf(pid))
          if (Math.random() < 0.3)
            try {
              process.kill(c, 'SIGKILL');
            } catch {
              /* gone */
            }
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    // the program vanishing and coming back: spawn failures
    const toggler = (async () => {
      let present = true;
      while (storming) {
        renameSync(present ? program : program + '.off', present ? program + '.off' : program);
        present = !present;
        await new Promise((r) => setTimeout(r, randomInt(5, 40)));
      }
      if (!present) renameSync(program + '.off', program);
    })();
    const counts = { ok: 0, refused: 0, reset: 0 };
    const one = (from: string) =>
      new Promise<void>((resolve) => {
        const sock = track(connect({ port: s.port, host: '127.0.0.1', localAddress: from }));
        const mode = randomInt(0, 4);
        const timer = setTimeout(() => sock.destroy(), 5_000);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        sock.on('error', () => {});
        sock.on('close', done);
        sock.on('connect', () => {
          // mode 0: reset at once, before the server has looked at it
          if (mode === 0) {
            counts.reset++;
            sock.resetAndDestroy();
          }
        });
        sock.setEncoding('latin1');
        sock.on('data', (d: string) => {
          if (d.startsWith('ok')) counts.ok++;
          else counts.refused++;
          if (mode === 1)
            sock.resetAndDestroy(); // reset mid-way
          else if (mode === 2)
            sock.end(); // a normal close
          else setTimeout(() => sock.destroy(), randomInt(0, 50)); // a while, then close
        });
      });
    const worker = async (i: number) => {
      for (let k = 0; k < 25; k++) await one(i % 5 === 4 ? (k % 2 ? Y : Z) : X);
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => worker(i)));
    storming = false;
    await Promise.all([killer, toggler]);
    assert.ok(counts.ok > 0 && counts.refused > 0 && counts.reset > 0, JSON.stringify(counts));
    assert.ok(
      s.lines().some((l) => / MAXCONNIP:8$/.test(l)),
      'the limit tripped',
    );
    assert.ok(
      s.lines().some((l) => /unable to run .*: file does not exist$/.test(l)),
      'spawns failed',
    );

    // every child gone, every connection ended: -c count back at zero
    for (
      let i = 0;
      i < 200 &&
      (childrenOf(pid).length > 0 ||
        s
          .lines()
          .filter((l) => l.startsWith('tcpserver: status: '))
          .at(-1) !== 'tcpserver: status: 0/30');
      i++
    ) {
      for (const { pid: c } of childrenOf(pid))
        try {
          process.kill(c, 'SIGKILL');
        } catch {
          /* gone */
        }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(
      s
        .lines()
        .filter((l) => l.startsWith('tcpserver: status: '))
        .at(-1),
      'tcpserver: status: 0/30',
    );
    const starts = s.lines().filter((l) => / pid \d+ from /.test(l)).length;
    const endPids = new Set(s.lines().flatMap((l) => /^tcpserver: end (\d+) /.exec(l)?.[1] ?? []));
    const unended = s
      .lines()
      .flatMap((l) => /^tcpserver: pid (\d+) from /.exec(l)?.[1] ?? [])
      .filter((p) => !endPids.has(p));
    if (unended.length) writeFileSync('/tmp/storm.log', s.lines().join('\n'));
    assert.deepEqual(
      unended,
      [],
      s
        .lines()
        .filter((l) => unended.some((p) => l.includes(` ${p} `)))
        .join('\n'),
    );
    assert.equal(ends(s), starts, 'an end for every connection');

    // now one connection per address and per /24: admitted only if the counts are zero
    writeRules('storm.cdb', `${ip(0).slice(0, -1)}:allow,MAXCONNIP="1",MAXCONNC="1"\n:allow\n`);
    for (const from of [X, Y, Z]) {
      const a = await attempt(s.port, from);
      if (!admitted(a)) writeFileSync('/tmp/storm.log', s.lines().join('\n'));
      assert.ok(admitted(a), `${from} admitted again: ${a.line}`);
      // and the count is exactly one: the neighbour is refused for the /24, the address for itself
      assert.equal((await attempt(s.port, from === X ? Y : X)).line, 'busy\r\n');
      assert.equal((await attempt(s.port, from)).line, 'busy\r\n');
      await release(s, a);
    }
    const stranger = await attempt(s.port, other(7));
    assert.ok(admitted(stranger), 'everyone else still served');
    stranger.sock.destroy();
  });
});

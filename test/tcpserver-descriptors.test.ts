// tcpserver short of descriptors (a low `ulimit -n`), next to the C tcpserver: every client of a
// burst is served, none dropped; clients wait in the listen queue while descriptors are short, as they
// wait at -c, and the log says once that descriptors ran out.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DescriptorRoom, descriptorsPerConnection, isOutOfDescriptors, openFilesLimit } from '../src/server/descriptors';
import { defaultServerOptions } from '../src/server/options';
import type { Launcher } from '../src/server/children';
import { ServerLog } from '../src/server/log';
import { ConnectionServer } from '../src/server/server';
import { Diagnostics } from '../src/messages';
import { makeCdb } from '../src/cdb/writer';
import { cBinary, needC, ours } from './support/programs';
import { exchange, RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const DIR = tempDir();
const RULES = join(DIR, 'rules.cdb');
writeFileSync(RULES, makeCdb([[Buffer.from('127.0.0.1'), Buffer.from('+RULE=yes\0')]]));

/** A tcpserver under `ulimit -n`, with a rules file and a program printing a rule's variable. */
function underLimit(file: string, limit: number, args: string[]): Promise<RunningServer> {
  const words = [file, '-v', '-1', '-RHl0', '-b', '250', '-x', RULES, ...args, '127.0.0.1', '0', 'sh', '-c', 'echo "ok $RULE"'];
  return startServer('/bin/sh', ['-c', `ulimit -n ${limit} && exec "$@"`, 'sh', ...words]);
}

/** `n` clients at once; how many got the program's answer. */
async function burst(port: number, n: number): Promise<number> {
  const answers = await Promise.all(
    Array.from({ length: n }, () =>
      exchange(port, { timeoutMs: 60_000 }).then(
        (r) => r.data.toString(),
        () => '',
      ),
    ),
  );
  return answers.filter((a) => a === 'ok yes\n').length;
}

describe('the descriptor room', () => {
  it('counts what one connection takes: its socket, the rules file, a socket per lookup', () => {
    const o = defaultServerOptions();
    assert.equal(descriptorsPerConnection(o), 4);
    Object.assign(o, { localName: '', remoteHostLookup: false, remoteInfoLookup: false });
    assert.equal(descriptorsPerConnection(o), 1);
    o.rulesFile = 'x.cdb';
    assert.equal(descriptorsPerConnection(o), 2);
  });
  it('is short when the socket just accepted leaves too few numbers below the limit', () => {
    const room = new DescriptorRoom(2, 24);
    assert.equal(room.afterAccept(20), false);
    assert.equal(room.afterAccept(21), false);
    assert.equal(room.afterAccept(22), true);
    assert.equal(room.short, true);
  });
  it('finds room again by the lowest free descriptor', () => {
    const room = new DescriptorRoom(2, openFilesLimit());
    room.short = true;
    assert.equal(room.recheck(), true);
    assert.equal(room.short, false);
    assert.equal(new DescriptorRoom(1 << 30, 1 << 20).recheck(), false);
  });
  it('counts near the limit: descriptors above the one accepted may be taken', () => {
    let counts = 0;
    let open = 30;
    const room = new DescriptorRoom(2, 100, () => (counts++, open));
    // far from the limit: no count
    assert.equal(room.afterAccept(10), false);
    assert.equal(counts, 0);
    // a low descriptor again and again (a freed one reused) while the table fills up above it
    open = 99;
    let short = false;
    for (let i = 0; i < 40 && !short; i++) short = room.afterAccept(10);
    assert.equal(short, true);
    assert.ok(counts >= 1 && counts <= 2, `counted ${counts} times`);
    // room again once descriptors are let go
    open = 40;
    assert.equal(room.recheck(), true);
    // connections still in progress want their share too
    assert.equal(new DescriptorRoom(2, 100, () => 92).recheck(4), false);
    assert.equal(new DescriptorRoom(2, 100, () => 92).recheck(1), true);
  });
  it('tells EMFILE and ENFILE from other failures', () => {
    assert.equal(isOutOfDescriptors(Object.assign(new Error(), { code: 'EMFILE' })), true);
    assert.equal(isOutOfDescriptors(Object.assign(new Error(), { code: 'ENFILE' })), true);
    assert.equal(isOutOfDescriptors(Object.assign(new Error(), { code: 'ENOENT' })), false);
    assert.equal(isOutOfDescriptors(null), false);
  });
});

describe('a connection step that finds no descriptor', () => {
  it('is tried again, never dropped, and the log says so once', async () => {
    let failures = 1;
    const tries: number[] = [];
    const step = () => {
      tries.push(failures);
      if (failures-- > 0) throw Object.assign(new Error('open'), { code: 'EMFILE' });
    };
    const said: string[] = [];
    const log = new (class extends ServerLog {
      override outOfDescriptors(): void {
        said.push('out');
      }
      override drop(reason: string): void {
        said.push(`drop ${reason}`);
      }
    })(Object.assign(new Diagnostics('tcpserver', ''), { verbosity: 0 }));
    const launcher: Launcher = {
      kind: 'posix_spawn',
      onExit: () => {},
      launch(req) {
        req.socket.write('launched\n');
        setImmediate(() => launcher.onExit(4242, 0));
        return Promise.resolve(4242);
      },
      launchOnPipes() {
        return Promise.reject(new Error('not relayed here'));
      },
      launchUcspiTls() {
        return Promise.reject(new Error('no UCSPI-TLS here'));
      },
    };
    const options = { ...defaultServerOptions(), verbosity: 0 as const };
    const server = new ConnectionServer({ options, program: ['x'], environ: [], launcher, log, steps: [step] });
    // accepting without attach(), which keeps the process alive for good
    const listening = createServer({ pauseOnConnect: true }, server.accept).listen(0, '127.0.0.1');
    await once(listening, 'listening');
    const r = await exchange((listening.address() as AddressInfo).port);
    listening.close();
    assert.equal(r.data.toString(), 'launched\n');
    assert.deepEqual(tries, [1, 0]);
    assert.deepEqual(said, ['out']);
  });
});

describe('tcpserver out of descriptors, next to the C tcpserver', { skip: needC('tcpserver') }, () => {
  // ours holds about 20 descriptors idle: 24 leaves room for one connection at a time, 28 for a few
  for (const [limit, clients, args] of [
    [24, 200, []],
    [28, 200, []],
    [64, 300, ['-c', '200']],
  ] as const) {
    it(`ulimit -n ${limit}, ${clients} clients at once${args.length ? ' with ' + args.join(' ') : ''}: every one served`, async () => {
      const c = await underLimit(cBinary('tcpserver')!, limit, [...args]);
      const mine = await underLimit(ours('tcpserver'), limit, [...args]);
      const [fromC, fromOurs] = await Promise.all([burst(c.port, clients), burst(mine.port, clients)]);
      assert.equal(fromC, clients, 'the C tcpserver served them all');
      assert.equal(
        fromOurs,
        clients,
        mine
          .lines()
          .filter((l) => /warning/.test(l))
          .slice(0, 5)
          .join('\n'),
      );
      assert.deepEqual(
        mine.lines().filter((l) => /dropping/.test(l)),
        [],
      );
      // every connection's lines are there, paired
      await mine.waitForLines(/^tcpserver: end \d+ status 0$/, clients);
      const warned = mine.lines().filter((l) => /out of descriptors/.test(l));
      assert.ok(warned.length <= 1, warned.join('\n'));
      if (limit === 24) assert.deepEqual(warned, ['tcpserver: warning: out of descriptors: new connections wait until some are free']);
      // and it goes on serving once the burst is over
      assert.equal((await exchange(mine.port)).data.toString(), 'ok yes\n');
    });
  }
});

describe('tcpserver out of descriptors without a rules file', () => {
  // no step opens a descriptor of its own: the room alone must hold the next client back
  it('ulimit -n 24, 200 clients at once: every one served, none closed unanswered', async () => {
    const s = await startServer('/bin/sh', [
      '-c',
      'ulimit -n 24 && exec "$@"',
      'sh',
      ours('tcpserver'),
      '-v',
      '-1',
      '-RHl0',
      '-b',
      '250',
      '127.0.0.1',
      '0',
      'sh',
      '-c',
      'echo "ok yes"',
    ]);
    try {
      assert.equal(await burst(s.port, 200), 200);
      await s.waitForLines(/^tcpserver: end \d+ status 0$/, 200);
    } finally {
      await s.stop();
    }
  });
});

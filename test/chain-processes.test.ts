// What the in-process chain costs in processes, counted in /proc while connections are held open:
// none for a blocked SMTP client, exactly the SMTP program for one let through (recordio, fixcrio
// and argv0 in the chain add none); and how the server tells its own helpers from other programs.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsTestServer } from './support/dns-server';
import { chainEnv, Mode, writeFakeSmtpd } from './support/chain';
import { childrenOf } from './support/proc';
import { BIN, needC, ours } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const dir = tempDir('chain-processes-');
const SMTPD = join(dir, 'fake-smtpd');
let dns: DnsTestServer;

before(async () => {
  dns = await DnsTestServer.start({ '2.0.0.127.rbl.test': { TXT: ['listed'] } });
  writeFakeSmtpd(SMTPD);
});
after(() => dns?.close());

function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
}

/** A client that stays connected until `close`, with what it has received so far. */
async function holdOpen(port: number, from: string): Promise<{ socket: Socket; received: () => string; close: () => Promise<void> }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  return {
    socket,
    received: () => data,
    close: () =>
      new Promise((resolve) => {
        if (socket.closed) return resolve();
        socket.once('close', () => resolve());
        socket.end();
      }),
  };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((res) => setTimeout(res, 20));
  assert.ok(ok(), `timed out waiting for ${what}`);
}

/** The server's processes below it: [comm of each child, with its own children's count]. */
function processesBelow(pid: number): string[] {
  return childrenOf(pid).map((c) => `${comm(c.pid)}+${childrenOf(c.pid).length}`);
}

async function serve(mode: Mode, chain: string[], env: Record<string, string> = {}, path?: string): Promise<RunningServer> {
  const e = chainEnv(mode, dns.address, env);
  if (path !== undefined) e.PATH = path;
  const s = await startServer(ours('tcpserver'), ['-v', '-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', ...chain], { env: e });
  await s.waitForLine(/^tcpserver: status: 0\//);
  return s;
}

describe('processes per connection', () => {
  it('a blocked SMTP client starts no process at all (and one with the chain switched off)', async () => {
    for (const [mode, expected] of [
      ['in-process', []],
      ['external', ['node+0']],
    ] as const) {
      const s = await serve(mode, ['rblsmtpd', '-r', 'rbl.test', 'recordio', SMTPD]);
      const client = await holdOpen(s.port, '127.0.0.2');
      await until('the greeting', () => client.received().startsWith('220 rblsmtpd.local'));
      assert.deepEqual(processesBelow(s.proc.pid!), expected, mode);
      await client.close();
      await s.waitForLine(/^tcpserver: end /);
      await s.stop();
    }
  });

  it('an allowed client starts exactly its program, whatever helpers are in the chain', async () => {
    for (const chain of [
      ['rblsmtpd', '-r', 'rbl.test', SMTPD],
      ['rblsmtpd', '-r', 'rbl.test', 'recordio', 'fixcrio', 'argv0', SMTPD, 'smtpd'],
      ['recordio', 'rblsmtpd', '-r', 'rbl.test', SMTPD],
    ]) {
      const s = await serve('in-process', chain);
      const client = await holdOpen(s.port, '127.0.0.1');
      await until('the greeting', () => client.received().includes('220 fake.smtpd'));
      assert.deepEqual(processesBelow(s.proc.pid!), ['fake-smtpd+0'], chain.join(' '));
      await client.close();
      await s.waitForLine(/^tcpserver: end /);
      await s.stop();
    }
  });

  it('addcr and delcr at the end of a chain start no process', async () => {
    const s = await serve('in-process', ['recordio', 'addcr']);
    const client = await holdOpen(s.port, '127.0.0.1');
    client.socket.write('a\n');
    await until('the echo', () => client.received() === 'a\r\n');
    assert.deepEqual(processesBelow(s.proc.pid!), []);
    await client.close();
    await s.waitForLine(/^tcpserver: end \d+ status 0$/);
    await s.stop();
  });

  it('a held in-process session keeps its -c slot until it ends', async () => {
    const s = await serve('in-process', ['rblsmtpd', '-r', 'rbl.test', SMTPD]);
    const client = await holdOpen(s.port, '127.0.0.2');
    await until('the greeting', () => client.received().startsWith('220 '));
    assert.equal(
      s
        .lines()
        .filter((l) => l.startsWith('tcpserver: status: '))
        .at(-1),
      'tcpserver: status: 1/40',
    );
    client.socket.write('quit\r\n');
    await s.waitForLine(/^tcpserver: end \d+ status 0$/);
    await until('the slot back', () => s.lines().at(-1) === 'tcpserver: status: 0/40');
    await client.close();
    await s.stop();
  });
});

describe("rblsmtpd's -t in the server", () => {
  it("lets go of a blocked client that sends and never reads, at -t as 0.88's alarm does, and frees its slot", async () => {
    const s = await serve('in-process', ['rblsmtpd', '-t1', '-r', 'rbl.test', SMTPD]);
    const socket = connect({ port: s.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    socket.on('error', () => {});
    socket.pause();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // replies outgrow every buffer on the way: the session waits on a client that never reads
    socket.write(Buffer.from('rcpt to:<x@y>\r\n'.repeat(600_000)));
    await s.waitForLine(/^tcpserver: end \d+ status 0$/, 15_000);
    await until('the slot back', () => s.lines().at(-1) === 'tcpserver: status: 0/40');
    socket.destroy();
    await closed;
    await s.stop();
  });
});

describe('which programs are ours', () => {
  it('by the real path: a symlink of another name to our rblsmtpd is ours; a script named rblsmtpd is not', async () => {
    const mine = join(dir, 'mine');
    const other = join(dir, 'other');
    for (const d of [mine, other]) mkdirSync(d);
    symlinkSync(join(BIN, 'rblsmtpd'), join(mine, 'spamcheck'));
    writeFileSync(join(other, 'rblsmtpd'), '#!/bin/sh\necho "not ours: $*"\n', { mode: 0o755 });
    const path = (first: string) => `${first}:${BIN}:${chainEnv('in-process', '').PATH}`;

    const s = await serve('in-process', ['spamcheck', '-r', 'rbl.test', SMTPD], {}, path(mine));
    const client = await holdOpen(s.port, '127.0.0.2');
    await until('the greeting', () => client.received().startsWith('220 rblsmtpd.local'));
    assert.deepEqual(processesBelow(s.proc.pid!), []);
    await client.close();
    await s.stop();

    const t = await serve('in-process', ['rblsmtpd', '-r', 'rbl.test', SMTPD], {}, path(other));
    const c2 = await holdOpen(t.port, '127.0.0.2');
    await until('the script', () => c2.received() === 'not ours: -r rbl.test ' + SMTPD + '\n');
    await c2.close();
    await t.stop();
  });

  it('a C rblsmtpd found first in $PATH runs as a program', { skip: needC('rblsmtpd') }, async () => {
    const s = await serve('in-process', ['rblsmtpd', '-r', 'rbl.test', SMTPD], {}, `/usr/bin:${chainEnv('in-process', '').PATH}`);
    const client = await holdOpen(s.port, '127.0.0.2');
    await until('the greeting', () => client.received().startsWith('220 rblsmtpd.local'));
    assert.deepEqual(processesBelow(s.proc.pid!), ['rblsmtpd+0']);
    await client.close();
    await s.stop();
  });

  it('$PATH is searched again: a program of the same name put before ours counts from then on', async () => {
    const early = join(dir, 'early');
    mkdirSync(early);
    const s = await serve('in-process', ['rblsmtpd', '-r', 'rbl.test', SMTPD], {}, `${early}:${chainEnv('in-process', '').PATH}`);
    const first = await holdOpen(s.port, '127.0.0.2');
    await until('the greeting', () => first.received().startsWith('220 rblsmtpd.local'));
    await first.close();
    writeFileSync(join(early, 'rblsmtpd'), '#!/bin/sh\necho replaced\n', { mode: 0o755 });
    // searched at most once a second: within a few seconds the new program runs
    let seen = '';
    for (let i = 0; i < 50 && seen !== 'replaced\n'; i++) {
      const c = await holdOpen(s.port, '127.0.0.2');
      await until('an answer', () => c.received().includes('\n'));
      seen = c.received();
      await c.close();
      if (seen !== 'replaced\n') await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(seen, 'replaced\n');
    await s.stop();
  });
});

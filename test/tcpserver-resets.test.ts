// Clients that reset while they wait in the listen queue: 0.88 has their address from accept() and
// serves and logs them like any other (its program then reads a reset socket); Node's remoteAddress
// is gone by then, so ours asks the kernel (SO_PEERNAME). Every one gets its pid, ok and end lines.
import assert from 'node:assert/strict';
import { connect, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { libc } from '../src/ffi';
import { cBinary, needC, ours } from './support/programs';
import { RunningServer, startServer } from './support/server';

const CLIENTS = 12;

/** A server at -c 1 kept busy by one client while CLIENTS more connect and reset; then let go. */
async function resetWhileQueued(file: string, host: string): Promise<{ server: RunningServer; ports: number[] }> {
  // the program is quiet: its stderr is tcpserver's, and `cat: Connection reset` would cut log lines
  const args = ['-v', '-1', '-RHl0', '-c', '1', '-b', '64', host, '0', 'sh', '-c', 'exec cat >/dev/null 2>&1'];
  const server = await startServer(file, args);
  const connected = (s: Socket) => new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  const holder = connect(server.port, host);
  await connected(holder);
  await server.waitForLine(/^tcpserver: ok /);
  const ports: number[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const s = connect(server.port, host);
    await connected(s);
    ports.push(s.localPort!);
    s.resetAndDestroy();
  }
  holder.end();
  await server.waitForLines(/^tcpserver: end /, CLIENTS + 1);
  return { server, ports };
}

/** The remote ports of the `ok` lines after the first (the holder's). */
function servedPorts(server: RunningServer): number[] {
  return server
    .lines()
    .filter((l) => / ok /.test(l))
    .slice(1)
    .map((l) => Number(l.slice(l.lastIndexOf(':') + 1)));
}

describe('clients that reset in the listen queue', () => {
  it('are logged as the C tcpserver logs them: pid, ok with their port, end', {
    skip: needC('tcpserver') || (!libc() && 'needs FFI'),
  }, async () => {
    const c = await resetWhileQueued(cBinary('tcpserver')!, '127.0.0.1');
    const mine = await resetWhileQueued(ours('tcpserver'), '127.0.0.1');
    for (const { server, ports } of [c, mine]) {
      const lines = server.lines();
      assert.equal(lines.filter((l) => /^tcpserver: pid \d+ from 127\.0\.0\.1$/.test(l)).length, CLIENTS + 1, lines.join('\n'));
      assert.deepEqual(servedPorts(server), ports);
      // each pid has its end
      const pids = lines.flatMap((l) => /^tcpserver: pid (\d+) /.exec(l)?.[1] ?? []);
      for (const pid of pids)
        assert.ok(
          lines.some((l) => l.startsWith(`tcpserver: end ${pid} status `)),
          pid,
        );
    }
  });
  it('over IPv6 too', { skip: !libc() && 'needs FFI' }, async () => {
    const { server, ports } = await resetWhileQueued(ours('tcpserver'), '::1');
    assert.equal(server.lines().filter((l) => /^tcpserver: pid \d+ from ::1$/.test(l)).length, CLIENTS + 1, server.lines().join('\n'));
    assert.deepEqual(servedPorts(server), ports);
  });
});

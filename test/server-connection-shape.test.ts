// Every connection's objects on the hot path have one shape (V8 map) between them. An object literal
// with a getter gets a new closure per connection and, with it, a map of its own: long-lived garbage
// that once cost 10 µs per connection in major GCs (bench/RESULTS.md, issue 14). V8's own check,
// %HaveSameMap, in a Node started with --allow-natives-syntax.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';

const SRC = join(__dirname, '..', 'src', 'server');

it('accepted connections, and their launch requests, share one map each', () => {
  const script = `
    const { acceptedConnection } = require(${JSON.stringify(join(SRC, 'connection.js'))});
    const { OnItsSocket } = require(${JSON.stringify(join(SRC, 'server.js'))});
    const addresses = (port) => ({ proto6: false, tcp6Vars: false, localIp: '127.0.0.1', localIp6: '::ffff:127.0.0.1',
      localPort: 7, remoteIp: '127.0.0.2', remoteIp6: '::ffff:127.0.0.2', remotePort: port, interfaceName: null });
    const client = (name) => ({ socket: () => name });
    const a = acceptedConnection(client('a'), 5, addresses(1000));
    const b = acceptedConnection(client('b'), 6, addresses(1001));
    const request = { program: 'p', argv: ['p'], env: [], idle: false };
    const ra = new OnItsSocket(request, a);
    const rb = new OnItsSocket(request, b);
    console.log(JSON.stringify([%HaveSameMap(a, b), %HaveSameMap(ra, rb), a.socket, rb.socket, rb.fd, b.remotePort]));
  `;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [true, true, 'a', 'b', 6, 1001]);
});

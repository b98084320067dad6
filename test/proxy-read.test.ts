// Reading the PROXY header off an accepted connection with FFI: exactly the header's bytes are
// taken (the program reads the rest from the descriptor), at once when they have arrived, and the
// connection's net.Socket is never asked for (the server makes one only for a step that talks).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { AddressInfo, connect, createServer, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { libc, peekReceived } from '../src/ffi';
import { ProxiedConnection, readProxyHeader } from '../src/proxy/read';
import { formatV1 } from '../src/proxy/v1';
import { formatV2 } from '../src/proxy/v2';

const SOURCE = { ip: Buffer.from([192, 0, 2, 7]), port: 4711 };
const DESTINATION = { ip: Buffer.from([198, 51, 100, 1]), port: 25 };

/** A server side of a loopback connection, paused, and a client that sends `pieces` with a pause between. */
async function accepted(pieces: Buffer[], gapMs: number): Promise<{ server: Socket; client: Socket }> {
  const listening = createServer({ pauseOnConnect: true }).listen(0, '127.0.0.1');
  await once(listening, 'listening');
  const client = connect((listening.address() as AddressInfo).port, '127.0.0.1');
  const [server] = (await once(listening, 'connection')) as [Socket];
  listening.close();
  void (async () => {
    for (const p of pieces) {
      client.write(p);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })();
  return { server, client };
}

/** The connection as the PROXY step sees it, counting the times its net.Socket was asked for. */
function viewOf(server: Socket): ProxiedConnection & { asked: number } {
  return {
    fd: (server as unknown as { _handle: { fd: number } })._handle.fd,
    asked: 0,
    get socket(): Socket {
      this.asked++;
      return server;
    },
  };
}

/** What the connection's own socket reads after the header (a program would read these bytes). */
async function rest(server: Socket, length: number): Promise<string> {
  let got = '';
  server.resume();
  for await (const chunk of server) {
    got += chunk;
    if (got.length >= length) break;
  }
  return got;
}

describe('readProxyHeader with FFI', { skip: !libc() && 'FFI (koffi) not available' }, () => {
  for (const [name, header] of [
    ['v1', formatV1(SOURCE, DESTINATION)],
    ['v2', formatV2(SOURCE, DESTINATION)],
  ] as const) {
    it(`${name}: a header that has arrived is taken at once, and only its bytes`, async () => {
      const whole = Buffer.concat([header, Buffer.from('EHLO x\r\n')]);
      const { server, client } = await accepted([whole], 0);
      // until all of it is there to peek at
      const fd = viewOf(server).fd;
      while ((peekReceived(libc()!, fd, Buffer.alloc(whole.length)) ?? 0) < whole.length) await new Promise((r) => setTimeout(r, 10));
      const view = viewOf(server);
      const r = readProxyHeader(libc(), view, 5000);
      assert.ok(!(r instanceof Promise), 'no promise for a header that is there');
      assert.equal(r.kind, 'header');
      assert.deepEqual(r.kind === 'header' && r.header.addresses?.source, SOURCE);
      assert.equal(view.asked, 0, 'no net.Socket asked for');
      assert.equal(await rest(server, 8), 'EHLO x\r\n');
      client.destroy();
    });

    it(`${name}: a header that comes in pieces is awaited, and only its bytes taken`, async () => {
      const whole = Buffer.concat([header, Buffer.from('EHLO x\r\n')]);
      const { server, client } = await accepted([whole.subarray(0, 5), whole.subarray(5, 14), whole.subarray(14)], 30);
      const view = viewOf(server);
      const r = await readProxyHeader(libc(), view, 5000);
      assert.equal(r.kind, 'header');
      assert.deepEqual(r.kind === 'header' && r.header.addresses?.destination, DESTINATION);
      assert.equal(view.asked, 0, 'no net.Socket asked for');
      assert.equal(await rest(server, 8), 'EHLO x\r\n');
      client.destroy();
    });
  }
});

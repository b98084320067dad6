// The in-process chain behind a client side that is not the socket itself, as sslserver's TLS
// layer will be: a step before the chain sets relayOf(c).client, and everything the chain does in
// the server (a blocked client's dialogue, addcr, fixcrio around a real program) must go through
// it. The layer here is a stand-in that XORs every byte with 0x20 both ways; the client speaks it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { AddressInfo, connect, createServer, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { after, describe, it } from 'node:test';
import { inProcessChain } from '../src/chain/step';
import { Diagnostics } from '../src/messages';
import { makeLauncher } from '../src/server/children';
import { relayOf, Step, STEPS } from '../src/server/connection';
import { ServerLog } from '../src/server/log';
import { defaultServerOptions } from '../src/server/options';
import { ConnectionServer } from '../src/server/server';
import { BIN } from './support/programs';

const flip = (b: Buffer): Buffer => Buffer.from(b.map((v) => v ^ 0x20));

/**
 * A duplex over the socket that flips every byte, with the socket's flow control. Like a TLS layer
 * it must keep the socket open after the client's half-close: the program's answer still goes out.
 */
function flippingLayer(socket: Socket): Duplex {
  socket.allowHalfOpen = true;
  const layer = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(flip(chunk), callback),
    final: (callback) => void socket.end(callback),
    destroy: (err, callback) => {
      socket.destroy();
      callback(err);
    },
  });
  socket.on('data', (b: Buffer) => {
    if (!layer.push(flip(b))) socket.pause();
  });
  socket.on('end', () => layer.push(null));
  socket.on('close', () => layer.destroy());
  socket.on('error', () => {});
  return layer;
}

const flipped: Step = (c) => {
  relayOf(c).client = flippingLayer(c.socket);
};

async function serverFor(program: string[], extraEnv: string[] = []): Promise<number> {
  const environ = [`PATH=${BIN}:/usr/bin:/bin`, ...extraEnv];
  const chain = inProcessChain(program, environ);
  assert.ok(chain, 'our helpers are installed beside the code under test');
  chain.prime();
  const options = { ...defaultServerOptions(), remoteInfoLookup: false, remoteHostLookup: false, localName: '' };
  const diag = new Diagnostics('tcpserver', '');
  diag.verbosity = 0;
  const server = new ConnectionServer({
    options,
    program,
    environ,
    launcher: makeLauncher(environ),
    log: new ServerLog(diag),
    steps: [...STEPS, flipped],
    programSteps: [chain.step],
  });
  const listener = createServer({ pauseOnConnect: true }, server.accept);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  after(() => listener.close());
  return (listener.address() as AddressInfo).port;
}

/** Send `input` through the flipping layer, half-close, and read everything back, unflipped. */
async function talk(port: number, input: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  await once(socket, 'connect');
  socket.end(flip(Buffer.from(input, 'latin1')));
  await once(socket, 'close');
  return flip(Buffer.concat(chunks)).toString('latin1');
}

describe('the chain behind a client layer (as under TLS)', () => {
  it("a blocked client's dialogue goes through the layer", async () => {
    const port = await serverFor(['rblsmtpd', 'cat'], ['RBLSMTPD=-go away']);
    assert.equal(
      await talk(port, 'helo x\r\nrcpt to:<a@b>\r\nquit\r\n'),
      '220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n553 go away\r\n221 rblsmtpd.local\r\n',
    );
  });

  it('addcr at the end of a chain answers through the layer', async () => {
    const port = await serverFor(['argv0', 'addcr', 'x']);
    assert.equal(await talk(port, 'a\nb\r\n'), 'a\r\nb\r\r\n');
  });

  it("fixcrio around a real program works on the layer's bytes", async () => {
    const port = await serverFor(['rblsmtpd', 'fixcrio', 'sh', '-c', 'echo one; cat'], ['RBLSMTPD=']);
    assert.equal(await talk(port, 'a\nb'), 'one\r\na\r\nb');
  });
});

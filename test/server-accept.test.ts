// The two ways a connection reaches the server: from the listening handle as libuv accepted it (the
// fast path: no net.Socket unless a step asks for one) and as a net.Server's socket (no FFI, tests).
// Both must give the program the same environment and descriptors, and the log the same lines.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { AddressInfo, connect, createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { libc, listenSocket } from '../src/ffi';
import { Diagnostics } from '../src/messages';
import { makeLauncher } from '../src/server/children';
import { adoptListener } from '../src/server/listener';
import { ServerLog } from '../src/server/log';
import { defaultServerOptions, ServerOptions } from '../src/server/options';
import { ConnectionServer } from '../src/server/server';

/** What the program reports: its environment's TCP variables, and whether fds 0 and 1 are one socket. */
const PROGRAM = [
  'sh',
  '-c',
  'for v in PROTO TCPLOCALIP TCPLOCALPORT TCPLOCALHOST TCPREMOTEIP TCPREMOTEPORT TCPREMOTEHOST; do eval "echo $v=\\${$v-unset}"; done; ' +
    'test /proc/self/fd/0 -ef /proc/self/fd/1 && echo same-socket; cat',
];

class LinesLog extends Diagnostics {
  readonly lines: string[] = [];
  override line(text: string): void {
    this.lines.push(text);
  }
}

interface Served {
  /** the program's output, with the client's own port for TCPREMOTEPORT */
  readonly output: string;
  /** the log lines, with pids and ports made generic */
  readonly log: string[];
}

type Path = 'handle' | 'net.Server';

async function serveOne(path: Path, options: ServerOptions, input: string): Promise<Served> {
  const diag = new LinesLog('tcpserver', '');
  diag.verbosity = 2;
  const environ = ['PATH=/usr/bin:/bin'];
  const server = new ConnectionServer({ options, program: PROGRAM, environ, launcher: makeLauncher(environ), log: new ServerLog(diag) });
  let port: number;
  let close: () => void;
  if (path === 'handle') {
    const lib = libc()!;
    const fd = listenSocket(lib, Buffer.from([127, 0, 0, 1]), 0, 20);
    assert.equal(typeof fd, 'number');
    const listener = await adoptListener(lib, fd as number, 20, server.accept, false);
    port = listener.port;
    // (not attached: the server's local port is 0 either way)
    close = () => listener.pause();
  } else {
    const listening = createServer({ pauseOnConnect: true }, server.accept).listen(0, '127.0.0.1');
    await once(listening, 'listening');
    port = (listening.address() as AddressInfo).port;
    close = () => listening.close();
  }
  after(close);
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const clientPort = client.localPort;
  const chunks: Buffer[] = [];
  client.on('data', (d: Buffer) => chunks.push(d));
  client.end(input);
  await once(client, 'close');
  const deadline = Date.now() + 10_000;
  while (!diag.lines.some((l) => / end /.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const generic = (s: string) =>
    s.replaceAll(`:${clientPort}`, ':CLIENTPORT').replaceAll(`=${clientPort}`, '=CLIENTPORT').replace(/ \d+ /g, ' PID ');
  return { output: generic(Buffer.concat(chunks).toString('latin1')), log: diag.lines.map(generic) };
}

describe('a connection from the listening handle and from a net.Server', { skip: !libc() && 'FFI (koffi) not available' }, () => {
  const base = { ...defaultServerOptions(), remoteHostLookup: false, remoteInfoLookup: false, localName: 'here', verbosity: 2 as const };
  for (const [name, options] of [
    ['plain', base],
    ['with a banner (a step that writes to the socket)', { ...base, banner: 'hello\r\n' }],
    ['with -D (no delay)', { ...base, noDelay: true }],
  ] as const) {
    it(`${name}: the same environment, descriptors, output and log lines`, async () => {
      const fast = await serveOne('handle', options, 'one\ntwo\n');
      const slow = await serveOne('net.Server', options, 'one\ntwo\n');
      assert.deepEqual(fast, slow);
      assert.match(fast.output, /TCPREMOTEPORT=CLIENTPORT\n/);
      assert.match(fast.output, /same-socket\none\ntwo\n$/);
      assert.deepEqual(
        fast.log.filter((l) => !l.startsWith('tcpserver: status')),
        ['tcpserver: pid PID from 127.0.0.1', 'tcpserver: ok PID here:127.0.0.1:0 :127.0.0.1::CLIENTPORT', 'tcpserver: end PID status 0'],
      );
    });
  }
});

// The listening socket and the one control tcpserver needs over it: stop accepting while -c
// children run, so new clients wait in the kernel backlog (sized by -b), and start again.
//
// libuv can only pause accepting on a handle opened from a descriptor, and only after a
// readStart() has marked it as reading (measured on Node 20/libuv 1.46: readStop on a plain
// listen() handle is a no-op and readStart answers ENOTCONN). So the socket is made through FFI
// and adopted with listen({ fd }), as is a listening socket tcpserver inherits (socket activation).
// Node's listen({ fd }) calls listen(2) again with a backlog of 511: our own backlog is applied
// after it. Without FFI, accepted sockets are held paused in a queue instead: the client sees the
// same thing, at the cost of one descriptor each.
//
// Connections are taken from the handle as libuv accepts them, before net.Server makes a net.Socket
// of each (see accepted.ts); without FFI, net.Server's sockets are passed on as they are.
import { createServer, Server, Socket } from 'node:net';
import { hasPendingConnections, Libc, libc, listenSocket } from '../ffi';
import { AcceptedClient, ClientHandle } from './accepted';

export interface Listener {
  readonly port: number;
  /** An IPv6 socket (dual stack or v6-only). */
  readonly ipv6: boolean;
  /** Clients are waiting to be accepted. */
  waiting(): boolean;
  pause(): void;
  resume(): void;
}

export type ListenError = { readonly step: 'socket' | 'bind' | 'listen'; readonly error: unknown };

interface ListeningHandle {
  readStart(): number;
  readStop(): number;
  /** libuv's accept callback as Node's TCPWrap calls it: status 0 and the new connection's handle */
  onconnection: (status: number, client?: ClientHandle) => void;
}

export type OnConnection = (client: AcceptedClient) => void;

function listening(server: Server, what: Parameters<Server['listen']>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(what, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Listen on ip:port (ip as 4 or 16 bytes); `onConnection` gets each accepted connection, paused. */
export async function openListener(
  ip: Buffer,
  ipText: string,
  port: number,
  backlog: number,
  onConnection: OnConnection,
  opts: { v6only?: boolean; scopeId?: number } = {},
): Promise<Listener> {
  const lib = libc();
  if (lib) {
    const fd = listenSocket(lib, ip, port, backlog, opts);
    if (typeof fd !== 'number') throw fd satisfies ListenError;
    return adoptListener(lib, fd, backlog, onConnection, ip.length === 16);
  }
  const server = createServer({ pauseOnConnect: true });
  server.on('error', () => {}); // as in adoptListener
  let paused = false;
  const held: Socket[] = [];
  server.on('connection', (s: Socket) => {
    if (paused) held.push(s);
    else onConnection(AcceptedClient.fromSocket(s));
  });
  try {
    await listening(server, { host: ipText, port, backlog, ipv6Only: opts.v6only });
  } catch (error) {
    throw { step: 'bind', error } satisfies ListenError;
  }
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    ipv6: ip.length === 16,
    waiting: () => held.length > 0,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      while (!paused && held.length) onConnection(AcceptedClient.fromSocket(held.shift() as Socket));
    },
  };
}

/**
 * Serve a socket that is already listening (made here, or inherited); its queue is sized to
 * `backlog`. `ipv6`: an IPv6 socket.
 */
export async function adoptListener(lib: Libc, fd: number, backlog: number, onConnection: OnConnection, ipv6: boolean): Promise<Listener> {
  const server = createServer({ pauseOnConnect: true });
  try {
    await listening(server, { fd });
  } catch (error) {
    throw { step: 'listen', error } satisfies ListenError;
  }
  lib.listen(fd, backlog);
  const handle = (server as unknown as { _handle: ListeningHandle })._handle;
  // accept errors (EMFILE, ECONNABORTED ...) are retried silently, as 0.88's accept loop does
  handle.onconnection = (status, client) => {
    if (status === 0 && client) onConnection(AcceptedClient.fromHandle(client));
  };
  handle.readStart();
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    ipv6,
    waiting: () => hasPendingConnections(lib, fd),
    pause: () => void handle.readStop(),
    resume: () => void handle.readStart(),
  };
}

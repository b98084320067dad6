// A connection as the listener accepted it: the descriptor the program is given, the two addresses,
// and a net.Socket made only for a step that talks to the client itself (banner, PROXY header,
// relay, DIEMSG). Most connections never need one: the program gets the descriptor, and a net.Socket
// made and destroyed per connection cost more server CPU than the rest of the accept path together
// (bench/RESULTS.md).
import { Socket } from 'node:net';

/** An accepted TCP connection as libuv hands it to Node (a TCPWrap), before any net.Socket. */
export interface ClientHandle {
  readonly fd: number;
  getpeername(out: HandleAddress): number;
  getsockname(out: HandleAddress): number;
  setNoDelay(on: boolean): number;
  close(callback?: () => void): void;
}

/** What getpeername/getsockname fill in. */
export interface HandleAddress {
  address?: string;
  port?: number;
  family?: string;
}

/** One end of the connection as Node reports it ('127.0.0.1', '::ffff:127.0.0.1', 'fe80::1%eth0'). */
export interface NodeAddress {
  readonly address: string;
  readonly port: number;
}

function addressOf(fill: (out: HandleAddress) => number): NodeAddress | undefined {
  const out: HandleAddress = {};
  if (fill(out) !== 0 || out.address === undefined) return undefined;
  return { address: out.address, port: out.port ?? 0 };
}

// a client that resets is the program's business, or the step's that waits on the socket
const ignoreErrors = (): void => {};

export class AcceptedClient {
  private made: Socket | null;

  private constructor(
    private readonly handle: ClientHandle | null,
    socket: Socket | null,
  ) {
    this.made = socket;
  }

  /** From the listener's handle: nothing made yet. */
  static fromHandle(handle: ClientHandle): AcceptedClient {
    return new AcceptedClient(handle, null);
  }

  /** From a net.Socket that exists already (a net.Server's connection: no FFI, tests). */
  static fromSocket(socket: Socket): AcceptedClient {
    socket.on('error', ignoreErrors);
    return new AcceptedClient(null, socket);
  }

  /** The descriptor, or -1 when Node does not tell it. */
  get fd(): number {
    const h = this.handle ?? (this.made as unknown as { _handle?: { fd?: number } })._handle;
    return h?.fd ?? -1;
  }

  /** The client's address and port; undefined when the kernel no longer knows (a reset client). */
  remote(): NodeAddress | undefined {
    if (this.handle) return addressOf((out) => this.handle!.getpeername(out));
    const s = this.made!;
    return s.remoteAddress === undefined ? undefined : { address: s.remoteAddress, port: s.remotePort ?? 0 };
  }

  local(): NodeAddress | undefined {
    if (this.handle) return addressOf((out) => this.handle!.getsockname(out));
    const s = this.made!;
    return s.localAddress === undefined ? undefined : { address: s.localAddress, port: s.localPort ?? 0 };
  }

  setNoDelay(): void {
    if (this.made) this.made.setNoDelay(true);
    else this.handle!.setNoDelay(true);
  }

  /** The connection as a paused net.Socket, made on first use, as a net.Server would have made it. */
  socket(): Socket {
    if (this.made) return this.made;
    this.made = new Socket({
      handle: this.handle,
      allowHalfOpen: false,
      pauseOnCreate: true,
      readable: true,
      writable: true,
    } as ConstructorParameters<typeof Socket>[0]);
    return this.made.on('error', ignoreErrors);
  }

  /** Whether a net.Socket was made (it then owns the descriptor). */
  get hasSocket(): boolean {
    return this.made !== null;
  }

  /** Close this process's copy of the connection. */
  close(): void {
    if (this.made) this.made.destroy();
    else this.handle!.close();
  }
}

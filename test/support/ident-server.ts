// An RFC 1413 (ident) server for tests on port 113 of its own random 127.x.y.z (clients always use
// port 113). Needs root. Each connection's request line goes to a handler that says what to send.
import { createServer, Server, Socket } from 'node:net';
import { bindOnRandomLoopback } from './loopback';

export interface IdentRequest {
  /** The request line as received, CRLF included (latin1). */
  readonly line: string;
  /** Address the query came from (the ident client's bound local IP). */
  readonly fromIp: string;
}

/**
 * What to do: send these bytes then close; `{ send, keepOpen: true }` to send and leave the
 * connection open (for timeouts); 'hang' to send nothing and keep it open; 'close' to close at once.
 */
export type IdentAction = string | Buffer | { send: string | Buffer; keepOpen: true } | 'hang' | 'close';

export class IdentTestServer {
  /** Requests received, in order. */
  readonly requests: IdentRequest[] = [];
  private readonly open = new Set<Socket>();

  private constructor(
    readonly address: string,
    private readonly server: Server,
    public handler: (req: IdentRequest) => IdentAction,
  ) {
    server.on('connection', (sock) => this.serve(sock));
  }

  static start(handler: (req: IdentRequest) => IdentAction, address?: string): Promise<IdentTestServer> {
    const listen = (ip: string): Promise<IdentTestServer> =>
      new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(113, ip, () => resolve(new IdentTestServer(ip, server, handler)));
      });
    return address ? listen(address) : bindOnRandomLoopback(listen);
  }

  close(): Promise<void> {
    for (const s of this.open) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(sock: Socket): void {
    this.open.add(sock);
    sock.on('close', () => this.open.delete(sock));
    sock.on('error', () => {});
    let line = '';
    sock.on('data', (d: Buffer) => {
      if (line.includes('\n')) return;
      line += d.toString('latin1');
      if (!line.includes('\n')) return;
      const req = { line, fromIp: sock.remoteAddress?.replace(/^::ffff:/, '') ?? '' };
      this.requests.push(req);
      const action = this.handler(req);
      if (action === 'hang') return;
      if (action === 'close') {
        sock.end();
        return;
      }
      if (typeof action === 'string' || Buffer.isBuffer(action)) {
        sock.end(typeof action === 'string' ? Buffer.from(action, 'latin1') : action);
        return;
      }
      sock.write(typeof action.send === 'string' ? Buffer.from(action.send, 'latin1') : action.send);
    });
  }
}

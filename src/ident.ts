// RFC 1413 client as 0.88's remoteinfo.c: from the connection's own local IP, ask the peer's
// port 113 about the connection, and keep what follows the third colon of the reply line.
import { connect, Socket } from 'node:net';

export interface IdentQuery {
  /** Local IP of the connection being described; the ident socket is bound to it. */
  readonly localIp: string;
  readonly remoteIp: string;
  readonly localPort: number;
  readonly remotePort: number;
  /** One deadline for connect, query and reply. */
  readonly timeoutMs: number;
}

/** Longest result kept; reading stops (successfully) once it is reached. */
const MAX_INFO = 257;

/**
 * Reads an ident reply byte by byte: spaces, tabs and CRs are dropped, LF ends it, bytes after
 * the third colon are kept. `feed` returns the answer once complete.
 */
export class IdentReplyParser {
  private colons = 0;
  private info = '';

  /** Feed received bytes; returns the result (latin1) when the reply is complete, else null. */
  feed(chunk: Buffer): string | null {
    for (const b of chunk) {
      if (b === 0x20 || b === 0x09 || b === 0x0d) continue;
      if (b === 0x0a) return this.info;
      if (this.colons < 3) {
        if (b === 0x3a) this.colons++;
      } else {
        this.info += String.fromCharCode(b);
        if (this.info.length >= MAX_INFO) return this.info;
      }
    }
    return null;
  }
}

/**
 * TCPREMOTEINFO for a connection: the ident answer (latin1, possibly empty), or null on any
 * failure (bind, connect, timeout, EOF before the line ended, read error).
 */
export function remoteInfo(q: IdentQuery): Promise<string | null> {
  return new Promise((resolve) => {
    let socket: Socket;
    let done = false;
    const finish = (info: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(info);
    };
    const timer = setTimeout(() => finish(null), q.timeoutMs);
    const parser = new IdentReplyParser();
    try {
      socket = connect({ host: q.remoteIp, port: 113, localAddress: q.localIp });
    } catch {
      finish(null);
      return;
    }
    socket.on('connect', () => socket.write(`${q.remotePort} , ${q.localPort}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      const info = parser.feed(chunk);
      if (info !== null) finish(info);
    });
    socket.on('error', () => finish(null));
    socket.on('end', () => finish(null));
    socket.on('close', () => finish(null));
  });
}

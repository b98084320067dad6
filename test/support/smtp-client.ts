// An SMTP client for the STARTTLS tests: replies read line by line from a plaintext socket, then
// STARTTLS and TLS over the same socket (optionally pipelined: the ClientHello sent right behind
// the STARTTLS command, before the 220).
import { connect, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, TLSSocket } from 'node:tls';

/** A line-at-a-time reader over a stream: `reply()` waits for one whole SMTP reply (its last line). */
export class ReplyReader {
  private text = '';
  private ended = false;
  private waiter: (() => void) | null = null;

  constructor(stream: Duplex) {
    stream.on('data', (d: Buffer) => this.add(d.toString('latin1')));
    stream.on('end', () => this.end());
    stream.on('close', () => this.end());
    stream.on('error', () => this.end());
  }

  private add(d: string): void {
    this.text += d;
    this.waiter?.();
  }

  private end(): void {
    this.ended = true;
    this.waiter?.();
  }

  /** Everything received and not taken by reply() yet. */
  rest(): string {
    return this.text;
  }

  /** The next reply's lines joined with \n (without CRs); null at end of file. */
  reply(ms = 10_000): Promise<string | null> {
    return this.take(/^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/, ms);
  }

  /** The next line (a client's command, say) without its CRLF; null at end of file. */
  line(ms = 10_000): Promise<string | null> {
    return this.take(/^[^\n]*\n/, ms);
  }

  private take(form: RegExp, ms: number): Promise<string | null> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms; have ${JSON.stringify(this.text)}`)), ms);
      const check = (): void => {
        const m = form.exec(this.text);
        if (m) {
          this.text = this.text.slice(m[0].length);
          this.waiter = null;
          clearTimeout(timer);
          return resolve(m[0].replace(/\r/g, '').replace(/\n$/, ''));
        }
        if (this.ended) {
          this.waiter = null;
          clearTimeout(timer);
          return resolve(null);
        }
        this.waiter = check;
      };
      check();
    });
  }
}

export interface SmtpSession {
  readonly socket: Socket;
  readonly replies: ReplyReader;
  /** Send a command line (CRLF added) and read its reply. */
  command(line: string): Promise<string | null>;
}

/** Connect and read the greeting. */
export async function smtpConnect(
  port: number,
  host = '127.0.0.1',
  localAddress?: string,
): Promise<{ session: SmtpSession; greeting: string | null }> {
  const socket = connect({ port, host, localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const replies = new ReplyReader(socket);
  const session: SmtpSession = {
    socket,
    replies,
    command: (line) => {
      socket.write(line + '\r\n');
      return replies.reply();
    },
  };
  return { session, greeting: await replies.reply() };
}

/**
 * STARTTLS with the ClientHello pipelined right behind it: the server's 220 is taken off the socket
 * before TLS reads it. Resolves with the 220 and the TLS socket once the handshake is done.
 */
export function pipelinedStartTls(socket: Socket, ca: Buffer, ms = 10_000): Promise<{ ready: string; tls: TLSSocket }> {
  return new Promise((resolve, reject) => {
    let inClear = '';
    let ready: string | null = null;
    const below = new Duplex({
      read() {},
      write(chunk, _encoding, callback) {
        socket.write(chunk, callback);
      },
      final(callback) {
        socket.end();
        callback();
      },
    });
    socket.removeAllListeners('data');
    socket.on('data', (chunk: Buffer) => {
      if (ready !== null) return void below.push(chunk);
      inClear += chunk.toString('latin1');
      const nl = inClear.indexOf('\n');
      if (nl < 0) return;
      ready = inClear.slice(0, nl + 1);
      const after = Buffer.from(inClear.slice(nl + 1), 'latin1');
      if (after.length) below.push(after);
    });
    socket.on('end', () => below.push(null));
    socket.write('STARTTLS\r\n');
    const tls = tlsConnect({ socket: below, ca: [ca], servername: 'localhost' });
    const timer = setTimeout(() => reject(new Error('no TLS within the time')), ms);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ ready: ready ?? '', tls });
    });
    tls.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

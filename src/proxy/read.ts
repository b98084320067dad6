// Reading a PROXY header off an accepted, paused socket, and not one byte more: the program gets the
// socket's descriptor itself, so whatever this process read past the header would be lost to it.
//
// With FFI: usually the whole header is there already (a balancer sends it as it connects), so it
// is peeked at (recv MSG_PEEK) and exactly its bytes are taken, without waiting. Otherwise a
// close-on-exec copy of the descriptor is read by a second net.Socket in Node's user-buffer mode
// (the `onread` option), where each read(2) fills at most the buffer it is given.
// The buffer is always sized to the inspector's `need`, a lower bound of what is left of any valid
// header, so no read goes past the end of the header, whichever way the bytes arrive (typically
// 2 reads for v2, 4 to 6 for v1). The accepted socket itself is never read and stays paused, for the
// program or for a TLS layer over it. Without FFI there is no copy to read from: the socket is read
// as a stream and the bytes after the header are put back into it (`buffered`), so the program must
// then be given the connection through the server's relay.
import { OnReadOpts, Socket, SocketConstructorOpts } from 'node:net';
import { errorText } from '../errstr';
import { duplicateDescriptor, Libc, peekReceived, receiveNow } from '../ffi';
import { inspectHeader } from './header';
import { Inspection, MAX_HEADER_LENGTH, ProxyHeader } from './inspection';

export type ReadOutcome =
  | {
      readonly kind: 'header';
      readonly header: ProxyHeader;
      /** bytes after the header wait in the socket's own stream buffer (no FFI): relay the program */
      readonly buffered: boolean;
    }
  /** the bytes are not a PROXY header (the parser's reason) */
  | { readonly kind: 'invalid'; readonly reason: string }
  /** the header did not arrive: `timed out`, `end of file`, or the socket's error */
  | { readonly kind: 'unreadable'; readonly reason: string };

const TIMED_OUT: ReadOutcome = { kind: 'unreadable', reason: 'timed out' };
const END_OF_FILE: ReadOutcome = { kind: 'unreadable', reason: 'end of file' };

function settled(i: Exclude<Inspection, { kind: 'more' }>, buffered: boolean): ReadOutcome {
  return i.kind === 'complete' ? { kind: 'header', header: i.header, buffered } : i;
}

/** An accepted connection: its descriptor, and a net.Socket over it made only when asked for. */
export interface ProxiedConnection {
  readonly fd: number;
  readonly socket: Socket;
}

/**
 * Read the header from the connection within `timeoutMs`: at once when it has all arrived (the
 * usual case with FFI), else when it has. With FFI the connection's net.Socket is never asked for.
 */
export function readProxyHeader(lib: Libc | null, c: ProxiedConnection, timeoutMs: number): ReadOutcome | Promise<ReadOutcome> {
  if (!lib) return readBuffered(c.socket, timeoutMs);
  return readArrived(lib, c.fd) ?? readExactly(lib, c.fd, timeoutMs);
}

// a whole v1 line, or a v2 header with a few TLVs
const PEEK = Buffer.alloc(512);

/** The header from what has arrived already; null when it has not all arrived yet. */
function readArrived(lib: Libc, fd: number): ReadOutcome | null {
  try {
    const n = peekReceived(lib, fd, PEEK);
    if (n === null) return null;
    if (n === 0) return END_OF_FILE;
    const i = inspectHeader(PEEK.subarray(0, n));
    if (i.kind === 'more') return null;
    if (i.kind === 'invalid') return i;
    if (receiveNow(lib, fd, PEEK.subarray(0, i.length)) !== i.length) return { kind: 'unreadable', reason: 'short read' };
    return settled(i, false);
  } catch (err) {
    return { kind: 'unreadable', reason: errorText(err) };
  }
}

function readExactly(lib: Libc, fd: number, timeoutMs: number): Promise<ReadOutcome> {
  let copy: number;
  try {
    copy = duplicateDescriptor(lib, fd);
  } catch (err) {
    return Promise.resolve({ kind: 'unreadable', reason: errorText(err) });
  }
  return new Promise((resolve) => {
    let space = Buffer.allocUnsafe(256);
    let have = 0;
    let need = (inspectHeader(space.subarray(0, 0)) as { need: number }).need;
    let done = false;
    const finish = (o: ReadOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // closes the copy only; the connection stays open on `fd`
      reader.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish(TIMED_OUT), timeoutMs);
    // the constructor reads `onread` as connect() does (Node 12.2+), though @types/node lists it for connect only
    const options: SocketConstructorOpts & { onread: OnReadOpts } = {
      fd: copy,
      readable: true,
      writable: false,
      // an end of file must never shut the connection down under the program
      allowHalfOpen: true,
      onread: {
        buffer: () => space.subarray(have, have + need),
        callback: (n: number): boolean => {
          have += n;
          const i = inspectHeader(space.subarray(0, have));
          if (i.kind !== 'more') {
            finish(settled(i, false));
            return false;
          }
          need = i.need;
          if (have + need > space.length) {
            const bigger = Buffer.allocUnsafe(Math.min(MAX_HEADER_LENGTH, Math.max(have + need, 2 * space.length)));
            space.copy(bigger, 0, 0, have);
            space = bigger;
          }
          return true;
        },
      },
    };
    const reader = new Socket(options);
    reader.on('end', () => finish(END_OF_FILE));
    reader.on('error', (err) => finish({ kind: 'unreadable', reason: errorText(err) }));
  });
}

function readBuffered(socket: Socket, timeoutMs: number): Promise<ReadOutcome> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (o: ReadOutcome, rest?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('error', onError);
      socket.pause();
      if (rest && rest.length > 0) socket.unshift(rest);
      resolve(o);
    };
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      const i = inspectHeader(got);
      if (i.kind === 'more') return;
      finish(settled(i, true), i.kind === 'complete' ? got.subarray(i.length) : undefined);
    };
    const onEnd = (): void => finish(END_OF_FILE);
    const onError = (err: Error): void => finish({ kind: 'unreadable', reason: errorText(err) });
    const timer = setTimeout(() => finish(TIMED_OUT), timeoutMs);
    socket.allowHalfOpen = true;
    socket.on('data', onData).on('end', onEnd).on('error', onError);
    socket.resume();
  });
}

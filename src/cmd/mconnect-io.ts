// mconnect-io: mconnect's helper under tcpclient. stdin -> fd 7 with a CR before every LF, fd 6 -> stdout.
// 0.88 forks one process per direction and the parent SIGTERMs the child at end of fd 6; one process
// that stops at end of fd 6 behaves the same. fd 7 is never closed, so the server sees no end of file
// from mconnect (as in 0.88). Every outcome exits 0.
import { AddCr, maxOutput } from '../crlf';
import { readableFd, writableFd } from '../fdstream';
import { wasInherited } from '../inherited';
import type { Readable, Writable } from 'node:stream';

function open<T>(make: () => T): T | null {
  try {
    return make();
  } catch {
    return null;
  }
}

export function main(): void {
  // Node puts its own descriptors in free slots at start-up: a 6 or 7 that was not inherited is
  // Node's, and 0.88 would have found it closed (and exited 0, or not copied stdin)
  const fromServer = wasInherited(6) ? open(() => readableFd(6)) : null;
  if (!fromServer) process.exit(0);
  const done = (): void => {
    if (process.stdout.writableLength === 0) process.exit(0);
    process.stdout.once('drain', () => process.exit(0));
  };
  copy(fromServer, process.stdout, (c) => c, done, done);

  const toServer = wasInherited(7) ? open(() => writableFd(7)) : null;
  if (toServer) {
    const addcr = new AddCr();
    const stop = (): void => {
      process.stdin.pause();
    };
    copy(
      process.stdin,
      toServer,
      (c) => {
        const out = Buffer.allocUnsafe(maxOutput(c.length));
        return out.subarray(0, addcr.push(c, out));
      },
      stop,
      stop,
    );
  }
}

function copy(from: Readable, to: Writable, map: (c: Buffer) => Buffer, atEnd: () => void, writeFailed: () => void): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(map(chunk))) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', atEnd);
  from.on('error', atEnd);
  to.on('error', writeFailed);
}

// Node streams over inherited descriptors of any kind. net.Socket only takes pipes and sockets, and
// process.stdin/stdout exist only for 0 and 1; mconnect-io also needs 6 and 7 (sockets from tcpclient,
// or pipes and files when tested by hand).
import { createReadStream, createWriteStream, fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

function isStreamLike(fd: number): boolean {
  const st = fstatSync(fd);
  return st.isFIFO() || st.isSocket();
}

/** A readable stream on fd; throws (EBADF) when fd is not open. */
export function readableFd(fd: number): Readable {
  if (isStreamLike(fd)) return new Socket({ fd, readable: true, writable: false });
  return createReadStream('', { fd, autoClose: false });
}

/** A writable stream on fd; throws (EBADF) when fd is not open. */
export function writableFd(fd: number): Writable {
  if (isStreamLike(fd)) return new Socket({ fd, readable: false, writable: true });
  return createWriteStream('', { fd, autoClose: false });
}

// A cdb file opened for every use, as tcpserver opens its rules for every connection, but read
// from disk only when it changed. The file is opened and fstat'ed each time, so a missing file, a
// permission change or a replacement counts at once; when its identity (device, inode, size,
// ctime, mtime, in ns) is the one seen last time, the copy in memory answers. tcprules replaces
// rules by renaming a new file over the old one, and the new file always has a new inode (it is
// created while the old one still exists): a replaced file is never served from memory.
import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { CdbFormatError, CdbReader } from './reader';

/** Regular files up to this size are kept in memory; larger ones are read probe by probe. */
const CACHE_LIMIT = 16 * 1024 * 1024;

/** What CdbReader.open gives: a reader to close() when done. */
export type OpenedCdb = CdbReader & { close(): void };

function readWhole(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const n = readSync(fd, buf, done, size - done, done);
    if (n === 0) throw new CdbFormatError('file shrank while reading');
    done += n;
  }
  return buf;
}

export class CdbFileCache {
  private identity = '';
  private reader: OpenedCdb | null = null;

  constructor(private readonly limit = CACHE_LIMIT) {}

  /** Errors are those of CdbReader.open (ENOENT, EACCES ...); close() the result when done. */
  open(path: string): OpenedCdb {
    const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    let st;
    try {
      st = fstatSync(fd, { bigint: true });
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    // empty files, directories and FIFOs keep the reader's own (0.88's) errors
    if (!st.isFile() || st.size === 0n || st.size > BigInt(this.limit)) {
      closeSync(fd);
      return CdbReader.open(path);
    }
    const identity = `${st.dev}:${st.ino}:${st.size}:${st.ctimeNs}:${st.mtimeNs}`;
    try {
      if (identity !== this.identity || this.reader === null) {
        // in memory: closing it is nothing, the next connection reuses it
        this.reader = Object.assign(CdbReader.fromBuffer(readWhole(fd, Number(st.size))), { close: () => {} });
        this.identity = identity;
      }
    } finally {
      closeSync(fd);
    }
    return this.reader;
  }
}

// A cdb file looked up for every use, as tcpserver looks up its rules for every connection, but read
// from disk only when it changed. Its path is stat'ed each time (one system call), so a missing file,
// a permission change or a replacement counts at once; when its identity (device, inode, size,
// ctime, mtime) is the one seen last time, what was read last time answers. tcprules replaces rules
// by renaming a new file over the old one, and the new file always has a new inode (it is created
// while the old one still exists): a replaced file is never answered from memory. A chmod or chown
// changes the ctime, so a file made unreadable is opened again, and fails as it would have.
//
// Files up to the limit are kept in memory. Larger ones are kept open, with their header, and read
// probe by probe. Either way the first bytes of the keys are found once (key-starts.ts), so that a
// lookup skips the kinds of keys the file does not have.
import { closeSync, fstatSync, openSync, readSync, Stats, statSync, constants as fsConstants } from 'node:fs';
import { scanKeyStarts } from './key-starts';
import { BufferSource, CdbFormatError, CdbReader, FdSource } from './reader';

/** Regular files up to this size are kept in memory; larger ones are read probe by probe. */
const CACHE_LIMIT = 16 * 1024 * 1024;

/** What CdbReader.open gives: a reader to close() when done. */
export type OpenedCdb = CdbReader & { close(): void };

function readFully(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new CdbFormatError('file shrank while reading');
    done += n;
  }
  return buf;
}

/** What must be unchanged for the file to be the one read last time. */
function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/** A file as read last time: in memory, or kept open. */
interface KnownFile {
  readonly stats: Stats;
  /** a reader for one use (those of an open file share its descriptor and header) */
  reader(): OpenedCdb;
  /** let its descriptor go, if it holds one */
  forget(): void;
}

const NOTHING_TO_CLOSE = (): void => {};

function inMemory(bytes: Buffer, stats: Stats): KnownFile {
  const reader = Object.assign(
    new CdbReader(
      new BufferSource(bytes),
      scanKeyStarts(bytes.length, (p, n) => bytes.subarray(p, p + n)),
    ),
    {
      close: NOTHING_TO_CLOSE,
    },
  );
  return { stats, reader: () => reader, forget: NOTHING_TO_CLOSE };
}

function keptOpen(fd: number, stats: Stats): KnownFile {
  const source = new FdSource(fd);
  const starts = scanKeyStarts(source.size, (p, n) => readFully(fd, p, Math.min(n, source.size - p)));
  const header = source.size >= 2048 ? readFully(fd, 0, 2048) : null;
  return {
    stats,
    reader: () => Object.assign(new CdbReader(source, starts, header), { close: NOTHING_TO_CLOSE }),
    forget: () => closeSync(fd),
  };
}

export class CdbFileCache {
  private known: KnownFile | null = null;

  constructor(private readonly limit = CACHE_LIMIT) {}

  /** Errors are those of CdbReader.open (ENOENT, EACCES ...); close() the result when done. */
  open(path: string): OpenedCdb {
    const seen = statSync(path);
    if (this.known && sameFile(seen, this.known.stats)) return this.known.reader();
    this.known?.forget();
    this.known = null;
    // empty files, directories and FIFOs keep the reader's own (0.88's) errors
    if (!seen.isFile() || seen.size === 0) return CdbReader.open(path);
    const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    let kept = false;
    try {
      // the identity of what is read (the path may have been replaced since the stat)
      const stats = fstatSync(fd);
      if (!stats.isFile() || stats.size === 0) return CdbReader.open(path);
      if (stats.size > this.limit) {
        this.known = keptOpen(fd, stats);
        kept = true;
      } else {
        this.known = inMemory(readFully(fd, 0, stats.size), stats);
      }
      return this.known.reader();
    } finally {
      if (!kept) closeSync(fd);
    }
  }
}

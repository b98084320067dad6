// cdb reader (cdb.c semantics), over positional reads so that only the bytes a lookup touches are
// read: nothing is loaded or built per record. Every read is bounds-checked and every probe loop is
// bounded by the table's slot count, so a corrupt or hostile file gives CdbFormatError, never a
// crash or a hang.
import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { SystemError } from '../errstr';
import { cdbHash } from './hash';

/** A malformed cdb file; cdb.c reports it as EPROTO ("protocol error"). */
export class CdbFormatError extends Error {
  readonly code = 'EPROTO';
  readonly errno = -71;
  constructor(message = 'cdb format error') {
    super(message);
  }
}

export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `position`; the caller has checked the range. */
  read(position: number, length: number): Buffer;
  /** What a read outside the source throws, when that is not CdbFormatError. */
  outOfRange?(): Error;
}

export class BufferSource implements ByteSource {
  constructor(private readonly buf: Uint8Array) {}
  get size(): number {
    return this.buf.length;
  }
  read(position: number, length: number): Buffer {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + position, length);
  }
}

export class FdSource implements ByteSource {
  readonly size: number;
  private readonly scratch = Buffer.allocUnsafe(8);
  constructor(readonly fd: number) {
    this.size = fstatSync(fd).size;
  }
  read(position: number, length: number): Buffer {
    const buf = length <= 8 ? this.scratch.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, position + done);
      if (n === 0) throw new CdbFormatError('file shrank while reading');
      done += n;
    }
    return buf;
  }
  outOfRange(): Error {
    // Debian's 0.88 build: mmap of an empty file (or a FIFO, /dev/null) fails, but the compiler
    // drops cdb.c's `if (x + 1)` check, so the failed map is kept with size 0; every read is then a
    // format error, and cdb_free's munmap of it overwrites errno with EINVAL ("invalid argument").
    return this.size === 0 ? new SystemError('EINVAL') : new CdbFormatError();
  }
}

/** cdb.c compares a candidate key 32 bytes at a time and stops at the first differing chunk. */
const MATCH_CHUNK = 32;

export class CdbReader {
  constructor(private readonly source: ByteSource) {}

  /** Open a cdb file read-only (as tcpserver does, O_NONBLOCK so a FIFO cannot hang us). */
  static open(path: string): CdbReader & { close(): void } {
    const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const reader = new CdbReader(new FdSource(fd)) as CdbReader & { close(): void };
      reader.close = () => closeSync(fd);
      return reader;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  static fromBuffer(buf: Uint8Array): CdbReader {
    return new CdbReader(new BufferSource(buf));
  }

  private readAt(position: number, length: number): Buffer {
    if (position > this.source.size || this.source.size - position < length) {
      throw this.source.outOfRange?.() ?? new CdbFormatError();
    }
    return this.source.read(position, length);
  }

  /** Data of the first record with this key, or null. */
  find(key: Uint8Array): Buffer | null {
    for (const data of this.findAll(key)) return data;
    return null;
  }

  /** Data of every record with this key, in insertion order (cdb_findnext). */
  *findAll(key: Uint8Array): Generator<Buffer, void, undefined> {
    const h = cdbHash(key);
    const header = this.readAt((h << 3) & 2047, 8);
    const hpos = header.readUInt32LE(0);
    const hslots = header.readUInt32LE(4);
    if (hslots === 0) return;
    const tableEnd = (hpos + hslots * 8) % 0x100000000; // uint32 arithmetic, as in cdb.c
    let kpos = (hpos + (((h >>> 8) % hslots) * 8) % 0x100000000) % 0x100000000;
    // cdb.c probes up to hslots slots. A walk longer than the file has slot positions (of the two
    // alignments a probe can have: the start's and hpos's) only revisits slots already read and so
    // cannot change the answer; stopping there keeps a corrupt slot count of 2^32 from costing 2^32
    // reads. (On such a cycle findAll may repeat a record fewer times than cdb_findnext would.)
    const probes = Math.min(hslots, 2 * Math.floor(this.source.size / 8) + 2);
    for (let loop = 0; loop < probes; loop++) {
      const slot = this.readAt(kpos, 8);
      const slotHash = slot.readUInt32LE(0);
      const rpos = slot.readUInt32LE(4);
      if (rpos === 0) return;
      kpos = (kpos + 8) % 0x100000000;
      if (kpos === tableEnd) kpos = hpos;
      if (slotHash !== h) continue;
      const lens = this.readAt(rpos, 8);
      const keyLen = lens.readUInt32LE(0);
      const dataLen = lens.readUInt32LE(4);
      if (keyLen !== key.length || !this.keyMatches(key, rpos + 8)) continue;
      // copy: an FdSource's scratch buffer is reused by the next read
      yield Buffer.from(this.readAt(rpos + 8 + keyLen, dataLen));
    }
  }

  /** Whether the stored key at `position` equals `key`, read chunk by chunk as cdb.c's match() does
   * (a mismatch in an early chunk means a later chunk past the end of the file is never read). */
  private keyMatches(key: Uint8Array, position: number): boolean {
    for (let off = 0; off < key.length; off += MATCH_CHUNK) {
      const n = Math.min(MATCH_CHUNK, key.length - off);
      const stored = this.readAt(position + off, n);
      for (let i = 0; i < n; i++) if (stored[i] !== key[off + i]) return false;
    }
    return true;
  }
}

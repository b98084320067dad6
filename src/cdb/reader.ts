// cdb reader (cdb.c semantics), over positional reads so that only the bytes a lookup touches are
// read: nothing is loaded or built per record. Every read is bounds-checked and every probe loop is
// bounded by the table's slot count, so a corrupt or hostile file gives CdbFormatError, never a
// crash or a hang.
import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { SystemError } from '../errstr';
import { cdbHash } from './hash';
import type { KeyStarts } from './key-starts';

/** The header: 256 (position, slot count) pairs. */
const HEADER_SIZE = 2048;

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
  /** Hold the whole source in memory from now on if it is at most `limit` bytes. */
  preload?(limit: number): void;
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

/** Files up to this size are read whole on the first read: one read instead of one per probe. */
const WHOLE_FILE_LIMIT = 32 * 1024;

export class FdSource implements ByteSource {
  readonly size: number;
  private readonly scratch = Buffer.allocUnsafe(8);
  /** The whole file, once read (small files only). */
  private whole: Buffer | null = null;
  constructor(readonly fd: number) {
    this.size = fstatSync(fd).size;
  }
  preload(limit: number): void {
    if (this.whole === null && this.size > 0 && this.size <= limit)
      this.whole = this.readFully(0, this.size, Buffer.allocUnsafe(this.size));
  }
  read(position: number, length: number): Buffer {
    this.preload(WHOLE_FILE_LIMIT);
    if (this.whole !== null) return this.whole.subarray(position, position + length);
    return this.readFully(position, length, length <= 8 ? this.scratch.subarray(0, length) : Buffer.allocUnsafe(length));
  }
  private readFully(position: number, length: number, buf: Buffer): Buffer {
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
  /** The header, read once on the first lookup (a lookup tries up to ~140 keys). */
  private header: Buffer | null = null;

  /**
   * `keyStarts`: the first bytes of the file's keys, when someone has scanned it (see key-starts.ts);
   * `header`: its first 2048 bytes, when already read.
   */
  constructor(
    private readonly source: ByteSource,
    readonly keyStarts: KeyStarts | null = null,
    header: Buffer | null = null,
  ) {
    this.header = header;
  }

  /** Whether a key beginning with `byte` may be in the file (true unless known otherwise). */
  mayHaveKeyStartingWith(byte: number): boolean {
    return this.keyStarts === null || this.keyStarts.has(byte);
  }

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

  /**
   * Read the whole file now if it is at most `limit` bytes, when many probes are to come: one read
   * of the file can cost less than one read per probe. Answers are the same either way.
   */
  preload(limit: number): void {
    this.source.preload?.(limit);
  }

  /** Offset in the header of the (position, slots) pair for hash `h`. */
  private headerPair(h: number): number {
    // read once per reader; a file shorter than the header fails on the pairs it lacks, as a read
    // of just that pair would
    this.header ??= Buffer.from(this.readAt(0, Math.min(HEADER_SIZE, this.source.size)));
    const pair = (h << 3) & 2047;
    if (pair + 8 > this.header.length) throw this.source.outOfRange?.() ?? new CdbFormatError();
    return pair;
  }

  /** Data of the first record with this key, or null. `h` is the key's cdbHash, if known. */
  find(key: Uint8Array, h = cdbHash(key)): Buffer | null {
    return this.findPrefix(key, key.length, h);
  }

  /**
   * find() for the key key[0, length) with hash `h`, without making that key: a rules lookup
   * tries up to 127 prefixes of one string.
   */
  findPrefix(key: Uint8Array, length: number, h: number): Buffer | null {
    let found: Buffer | null = null;
    this.walk(key, length, h, (data) => {
      found = data;
      return false;
    });
    return found;
  }

  /** Data of every record with this key, in insertion order (cdb_findnext). */
  *findAll(key: Uint8Array, h = cdbHash(key)): Generator<Buffer, void, undefined> {
    const all: Buffer[] = [];
    this.walk(key, key.length, h, (data) => all.push(data) > 0);
    yield* all;
  }

  /** Calls `onRecord` with the data of each record with key key[0, keyLength), while it returns true. */
  private walk(key: Uint8Array, keyLength: number, h: number, onRecord: (data: Buffer) => boolean): void {
    const pair = this.headerPair(h);
    const hslots = this.header!.readUInt32LE(pair + 4);
    if (hslots === 0) return; // most probes of a rules lookup end here
    const hpos = this.header!.readUInt32LE(pair);
    const tableEnd = (hpos + hslots * 8) % 0x100000000; // uint32 arithmetic, as in cdb.c
    let kpos = (hpos + ((((h >>> 8) % hslots) * 8) % 0x100000000)) % 0x100000000;
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
      if (keyLen !== keyLength || !this.keyMatches(key, keyLength, rpos + 8)) continue;
      // copy: an FdSource's scratch buffer is reused by the next read
      if (!onRecord(Buffer.from(this.readAt(rpos + 8 + keyLen, dataLen)))) return;
    }
  }

  /** Whether the stored key at `position` equals `key`, read chunk by chunk as cdb.c's match() does
   * (a mismatch in an early chunk means a later chunk past the end of the file is never read). */
  private keyMatches(key: Uint8Array, keyLength: number, position: number): boolean {
    for (let off = 0; off < keyLength; off += MATCH_CHUNK) {
      const n = Math.min(MATCH_CHUNK, keyLength - off);
      const stored = this.readAt(position + off, n);
      for (let i = 0; i < n; i++) if (stored[i] !== key[off + i]) return false;
    }
    return true;
  }
}

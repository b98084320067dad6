// cdb writer (cdb_make.c), byte-identical to the C one: records in insertion order from offset
// 2048, then the 256 hash tables (2 slots per record, linear probing in insertion order), then the
// header at offset 0. Per record only (hash, position) is kept, in typed arrays; records can be
// written in place into the writer's buffer (recordSpace, commitRecord), which tcprules' byte
// parser does to avoid a string or an object per line.
import { writeSync } from 'node:fs';
import { cdbHash, cdbHashLatin1 } from './hash';

const MAX_OFFSET = 0xffffffff;

/** The file would pass 4 GiB; cdb_make.c reports ENOMEM ("out of memory"). */
export class CdbTooLargeError extends Error {
  readonly code = 'ENOMEM';
  constructor() {
    super('cdb file would exceed 4 GiB');
  }
}

export interface CdbOutput {
  append(bytes: Uint8Array): void;
  writeAt(position: number, bytes: Uint8Array): void;
  /** Push out anything buffered. */
  flush(): void;
}

/** Buffered writes to a file descriptor; errors propagate as Node system errors. */
export class FdOutput implements CdbOutput {
  private buf = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  private position = 0;
  constructor(private readonly fd: number) {}
  append(bytes: Uint8Array): void {
    if (bytes.length > this.buf.length - this.used) {
      this.flush();
      if (bytes.length > this.buf.length) {
        this.writeFully(bytes, this.position);
        this.position += bytes.length;
        return;
      }
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }
  writeAt(position: number, bytes: Uint8Array): void {
    this.flush();
    this.writeFully(bytes, position);
  }
  flush(): void {
    if (this.used === 0) return;
    this.writeFully(this.buf.subarray(0, this.used), this.position);
    this.position += this.used;
    this.used = 0;
  }
  private writeFully(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
  }
}

/** Collects the file in memory (tests, small tools). */
export class MemoryOutput implements CdbOutput {
  private chunks: Buffer[] = [];
  private length = 0;
  private patches: Array<[number, Buffer]> = [];
  append(bytes: Uint8Array): void {
    this.chunks.push(Buffer.from(bytes));
    this.length += bytes.length;
  }
  writeAt(position: number, bytes: Uint8Array): void {
    this.patches.push([position, Buffer.from(bytes)]);
  }
  flush(): void {}
  result(): Buffer {
    const out = Buffer.concat(this.chunks, this.length);
    for (const [pos, bytes] of this.patches) out.set(bytes, pos);
    return out;
  }
}

// Host byte order, to hand an Int32Array of little-endian words to the output without converting.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Records are buffered and handed to the output in pieces of this size (one write each). */
const RECORD_BUFFER = 1 << 20;

function grown(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

export class CdbWriter {
  // hash and file position of each record, in insertion order; int32 (read back with >>> 0 where
  // it matters) so that the hot loops stay in small integers
  private hashes: Int32Array = new Int32Array(1024);
  private positions: Int32Array = new Int32Array(1024);
  private count = 0;
  /** File position of the next record (records handed to the output and buffered ones). */
  private position = 2048;
  private records = Buffer.allocUnsafe(RECORD_BUFFER);
  private used = 0;

  constructor(private readonly out: CdbOutput) {
    out.append(Buffer.alloc(2048));
  }

  private advance(n: number): void {
    if (this.position + n > MAX_OFFSET) throw new CdbTooLargeError();
    this.position += n;
  }

  /**
   * Room for one record of at most `size` bytes (its 8 bytes of lengths included), to be written
   * in place: the caller puts key and data at `recordStart + 8` of the buffer returned, then calls
   * commitRecord. What is written there without a commit is overwritten by the next record.
   */
  recordSpace(size: number): Buffer {
    if (size > this.records.length - this.used) {
      this.flushRecords();
      if (size > this.records.length) this.records = Buffer.allocUnsafe(size);
    }
    return this.records;
  }

  /** Where recordSpace's record starts in its buffer. */
  get recordStart(): number {
    return this.used;
  }

  /** Complete the record written after recordSpace: `hash` is cdbHash of its key (any 32 bits). */
  commitRecord(hash: number, keyLength: number, dataLength: number): void {
    const size = 8 + keyLength + dataLength;
    if (this.count === this.hashes.length) {
      this.hashes = grown(this.hashes);
      this.positions = grown(this.positions);
    }
    this.hashes[this.count] = hash;
    this.positions[this.count] = this.position;
    this.advance(size);
    this.count++;
    const b = this.records;
    const at = this.used;
    b[at] = keyLength;
    b[at + 1] = keyLength >>> 8;
    b[at + 2] = keyLength >>> 16;
    b[at + 3] = keyLength >>> 24;
    b[at + 4] = dataLength;
    b[at + 5] = dataLength >>> 8;
    b[at + 6] = dataLength >>> 16;
    b[at + 7] = dataLength >>> 24;
    this.used += size;
  }

  add(key: Uint8Array, data: Uint8Array): void {
    const b = this.recordSpace(8 + key.length + data.length);
    b.set(key, this.used + 8);
    b.set(data, this.used + 8 + key.length);
    this.commitRecord(cdbHash(key), key.length, data.length);
  }

  /** add() for byte strings held as latin1 JS strings (one char per byte). */
  addLatin1(key: string, data: string): void {
    const b = this.recordSpace(8 + key.length + data.length);
    // a loop, not Buffer.write: the strings are short, and a native call each cost more
    let o = this.used + 8;
    for (let i = 0; i < key.length; i++) b[o++] = key.charCodeAt(i);
    for (let i = 0; i < data.length; i++) b[o++] = data.charCodeAt(i);
    this.commitRecord(cdbHashLatin1(key), key.length, data.length);
  }

  private flushRecords(): void {
    if (this.used === 0) return;
    this.out.append(this.records.subarray(0, this.used));
    this.used = 0;
  }

  /** Write the hash tables and the header. */
  finish(): void {
    this.flushRecords();
    const n = this.count;
    const hashes = this.hashes;
    const positions = this.positions;
    const perTable = new Int32Array(256);
    for (let i = 0; i < n; i++) perTable[hashes[i] & 255]++;
    // the records bucketed by table, in insertion order within each table: first[t] is where
    // table t's records begin
    const first = new Int32Array(257);
    for (let t = 0; t < 256; t++) first[t + 1] = first[t] + perTable[t];
    const sortedHashes = new Int32Array(n);
    const sortedPositions = new Int32Array(n);
    const fill = first.slice(0, 256);
    for (let i = 0; i < n; i++) {
      const k = fill[hashes[i] & 255]++;
      sortedHashes[k] = hashes[i];
      sortedPositions[k] = positions[i];
    }

    // a table as (hash, position) word pairs, 2 slots per record, built in one buffer reused for
    // every table (it stays in the cache while probed); position 0 never occurs (records start at
    // 2048), so it marks an empty slot
    let largest = 0;
    for (let t = 0; t < 256; t++) largest = Math.max(largest, perTable[t]);
    const words = new Int32Array(largest * 2 * 2);
    const header = Buffer.alloc(2048);
    for (let t = 0; t < 256; t++) {
      const slots = perTable[t] * 2;
      header.writeUInt32LE(this.position, t * 8);
      header.writeUInt32LE(slots, t * 8 + 4);
      if (slots === 0) continue;
      const table = words.subarray(0, slots * 2);
      table.fill(0);
      for (let k = first[t]; k < first[t + 1]; k++) {
        const h = sortedHashes[k];
        let slot = (h >>> 8) % slots;
        while (table[slot * 2 + 1] !== 0) slot = slot + 1 === slots ? 0 : slot + 1;
        table[slot * 2] = h;
        table[slot * 2 + 1] = sortedPositions[k];
      }
      const bytes = Buffer.from(table.buffer, table.byteOffset, table.byteLength);
      if (!LITTLE_ENDIAN) bytes.swap32();
      this.advance(bytes.length);
      this.out.append(bytes);
    }
    this.out.writeAt(0, header);
    this.out.flush();
  }
}

/** A whole cdb file from records, in memory. */
export function makeCdb(records: Iterable<readonly [Uint8Array, Uint8Array]>): Buffer {
  const out = new MemoryOutput();
  const writer = new CdbWriter(out);
  for (const [k, v] of records) writer.add(k, v);
  writer.finish();
  return out.result();
}

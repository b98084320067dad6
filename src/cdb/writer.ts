// cdb writer (cdb_make.c), byte-identical to the C one: records in insertion order from offset
// 2048, then the 256 hash tables (2 slots per record, linear probing in insertion order), then the
// header at offset 0. Per record only (hash, position) is kept, in typed arrays.
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

// Host byte order, to hand a Uint32Array of little-endian words to the output without converting.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class CdbWriter {
  private hashes = new Uint32Array(1024);
  private positions = new Uint32Array(1024);
  private count = 0;
  private position = 2048;
  /** Records added with addLatin1 and not yet handed to the output, as latin1 strings. */
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(private readonly out: CdbOutput) {
    out.append(Buffer.alloc(2048));
  }

  private advance(n: number): void {
    if (this.position + n > MAX_OFFSET) throw new CdbTooLargeError();
    this.position += n;
  }

  private track(hash: number, size: number): void {
    if (this.count === this.hashes.length) {
      const grow = (a: Uint32Array) => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.hashes = grow(this.hashes);
      this.positions = grow(this.positions);
    }
    const start = this.position;
    this.advance(size);
    this.hashes[this.count] = hash;
    this.positions[this.count] = start;
    this.count++;
  }

  add(key: Uint8Array, data: Uint8Array): void {
    this.flushPending();
    this.track(cdbHash(key), 8 + key.length + data.length);
    const lengths = Buffer.allocUnsafe(8);
    lengths.writeUInt32LE(key.length, 0);
    lengths.writeUInt32LE(data.length, 4);
    this.out.append(lengths);
    this.out.append(key);
    this.out.append(data);
  }

  /**
   * add() for byte strings held as latin1 JS strings (one char per byte). tcprules' hot path:
   * records are joined into one string and converted to bytes once per 64 KiB, because a
   * string-to-Buffer conversion per record cost more than the rest of tcprules together.
   */
  addLatin1(key: string, data: string): void {
    const k = key.length;
    const d = data.length;
    this.track(cdbHashLatin1(key), 8 + k + d);
    // the two little-endian lengths, one char per byte
    this.pending.push(
      String.fromCharCode(k & 255, (k >>> 8) & 255, (k >>> 16) & 255, k >>> 24, d & 255, (d >>> 8) & 255, (d >>> 16) & 255, d >>> 24),
      key,
      data,
    );
    this.pendingBytes += 8 + k + d;
    if (this.pendingBytes >= 1 << 16) this.flushPending();
  }

  private flushPending(): void {
    if (this.pending.length === 0) return;
    this.out.append(Buffer.from(this.pending.join(''), 'latin1'));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Write the hash tables and the header. */
  finish(): void {
    this.flushPending();
    const n = this.count;
    const hashes = this.hashes;
    const positions = this.positions;
    const perTable = new Uint32Array(256);
    for (let i = 0; i < n; i++) perTable[hashes[i] & 255]++;
    // bucket the records by table, keeping insertion order within each table
    const start = new Uint32Array(257);
    for (let t = 0; t < 256; t++) start[t + 1] = start[t] + perTable[t];
    const order = new Uint32Array(n);
    const fill = start.slice(0, 256);
    for (let i = 0; i < n; i++) order[fill[hashes[i] & 255]++] = i;

    const header = Buffer.alloc(2048);
    let largest = 0;
    for (let t = 0; t < 256; t++) largest = Math.max(largest, perTable[t]);
    // a table as (hash, position) word pairs; position 0 never occurs (records start at 2048), so
    // it marks an empty slot
    const words = new Uint32Array(largest * 2 * 2);
    for (let t = 0; t < 256; t++) {
      const slots = perTable[t] * 2;
      header.writeUInt32LE(this.position, t * 8);
      header.writeUInt32LE(slots, t * 8 + 4);
      if (slots === 0) continue;
      const table = words.subarray(0, slots * 2);
      table.fill(0);
      for (let k = start[t]; k < start[t + 1]; k++) {
        const i = order[k];
        const h = hashes[i];
        let slot = (h >>> 8) % slots;
        while (table[slot * 2 + 1] !== 0) slot = slot + 1 === slots ? 0 : slot + 1;
        table[slot * 2] = h;
        table[slot * 2 + 1] = positions[i];
      }
      const bytes = Buffer.from(table.buffer, table.byteOffset, slots * 8);
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

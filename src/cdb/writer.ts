// cdb writer (cdb_make.c), byte-identical to the C one: records in insertion order from offset
// 2048, then the 256 hash tables (2 slots per record, linear probing in insertion order), then the
// header at offset 0. Per record only (hash, position) is kept, in typed arrays.
import { writeSync } from 'node:fs';
import { cdbHash } from './hash';

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

export class CdbWriter {
  private hashes = new Uint32Array(1024);
  private positions = new Uint32Array(1024);
  private count = 0;
  private position = 2048;
  private readonly lengths = Buffer.alloc(8);

  constructor(private readonly out: CdbOutput) {
    out.append(Buffer.alloc(2048));
  }

  private advance(n: number): void {
    if (this.position + n > MAX_OFFSET) throw new CdbTooLargeError();
    this.position += n;
  }

  add(key: Uint8Array, data: Uint8Array): void {
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
    this.advance(8 + key.length + data.length);
    this.hashes[this.count] = cdbHash(key);
    this.positions[this.count] = start;
    this.count++;
    this.lengths.writeUInt32LE(key.length, 0);
    this.lengths.writeUInt32LE(data.length, 4);
    this.out.append(this.lengths);
    this.out.append(key);
    this.out.append(data);
  }

  /** Write the hash tables and the header. */
  finish(): void {
    const n = this.count;
    const perTable = new Uint32Array(256);
    for (let i = 0; i < n; i++) perTable[this.hashes[i] & 255]++;
    // bucket the records by table, keeping insertion order within each table
    const start = new Uint32Array(257);
    for (let t = 0; t < 256; t++) start[t + 1] = start[t] + perTable[t];
    const order = new Uint32Array(n);
    const fill = start.slice(0, 256);
    for (let i = 0; i < n; i++) order[fill[this.hashes[i] & 255]++] = i;

    const header = Buffer.alloc(2048);
    let largest = 0;
    for (let t = 0; t < 256; t++) largest = Math.max(largest, perTable[t]);
    const table = Buffer.alloc(largest * 2 * 8);
    for (let t = 0; t < 256; t++) {
      const slots = perTable[t] * 2;
      header.writeUInt32LE(this.position, t * 8);
      header.writeUInt32LE(slots, t * 8 + 4);
      if (slots === 0) continue;
      const bytes = table.subarray(0, slots * 8);
      bytes.fill(0);
      for (let k = start[t]; k < start[t + 1]; k++) {
        const i = order[k];
        const h = this.hashes[i];
        let slot = (h >>> 8) % slots;
        while (bytes.readUInt32LE(slot * 8 + 4) !== 0) slot = slot + 1 === slots ? 0 : slot + 1;
        bytes.writeUInt32LE(h, slot * 8);
        bytes.writeUInt32LE(this.positions[i], slot * 8 + 4);
      }
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

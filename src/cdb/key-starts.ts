// Which bytes the keys of a cdb file begin with, found by one pass over its records when the file is
// loaded: a lookup can then skip every probe for a kind of key the file does not have (a rules file
// without CIDR rules has no key beginning with '_' or '^', and a client from 10.0.0.1 would
// otherwise cost 31 probes for them). Unknown (null) for a file whose records do not add up: such
// a file is probed as before, and fails as before.

/** The first bytes of a file's keys: a 256-bit set. */
export class KeyStarts {
  private readonly bits = new Uint32Array(8);

  add(byte: number): void {
    this.bits[byte >> 5] |= 1 << (byte & 31);
  }

  has(byte: number): boolean {
    return (this.bits[byte >> 5] & (1 << (byte & 31))) !== 0;
  }
}

const HEADER_SIZE = 2048;

/** Reads `length` bytes at `position` (fewer only at the end of the file). */
export type ReadAt = (position: number, length: number) => Buffer;

/** Where the records end: the first hash table, as cdb_make writes them after the records. */
function recordsEnd(header: Buffer, size: number): number | null {
  let end = size;
  for (let i = 0; i < 256; i++) end = Math.min(end, header.readUInt32LE(i * 8));
  return end >= HEADER_SIZE ? end : null;
}

/**
 * The first bytes of every key of a cdb file of `size` bytes, read through `read` in chunks of
 * `chunk` bytes (the whole file at once when it is in memory); null if the records are malformed.
 */
export function scanKeyStarts(size: number, read: ReadAt, chunk = 1 << 20): KeyStarts | null {
  if (size < HEADER_SIZE) return null;
  const end = recordsEnd(read(0, HEADER_SIZE), size);
  if (end === null) return null;
  const starts = new KeyStarts();
  let window: Buffer = Buffer.alloc(0);
  let windowAt = HEADER_SIZE;
  let pos = HEADER_SIZE;
  while (pos < end) {
    // a record's lengths and its key's first byte must be in the window
    if (pos + 9 > windowAt + window.length) {
      windowAt = pos;
      window = read(pos, Math.min(Math.max(chunk, 9), end - pos));
      if (window.length < Math.min(9, end - pos)) return null;
    }
    const at = pos - windowAt;
    if (end - pos < 8) return null;
    const keyLength = window.readUInt32LE(at);
    const dataLength = window.readUInt32LE(at + 4);
    if (keyLength > 0) {
      if (pos + 8 >= end) return null;
      starts.add(window[at + 8]);
    }
    pos += 8 + keyLength + dataLength;
    if (pos > end) return null;
  }
  return starts;
}

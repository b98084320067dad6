// Just enough DER to read what Node does not expose of a certificate (its version, the OIDs of its
// algorithms, its names entry by entry) and of a TLS session (its id): tag, length, contents.

export interface Tlv {
  readonly tag: number;
  /** the contents */
  readonly value: Buffer;
  /** offset just past this element in the buffer it was read from */
  readonly end: number;
}

/** The element at `offset`; throws on a truncated or indefinite-length one. */
export function readTlv(buf: Buffer, offset = 0): Tlv {
  if (offset + 2 > buf.length) throw new RangeError('DER: truncated');
  const tag = buf[offset];
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > buf.length) throw new RangeError('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
  }
  if (pos + len > buf.length) throw new RangeError('DER: truncated');
  return { tag, value: buf.subarray(pos, pos + len), end: pos + len };
}

/** The elements inside a constructed element's contents. */
export function children(value: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = 0; pos < value.length; ) {
    const t = readTlv(value, pos);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** An OBJECT IDENTIFIER's contents in dotted form. */
export function oidText(value: Buffer): string {
  const arcs: number[] = [];
  let n = 0;
  for (const b of value) {
    n = n * 128 + (b & 0x7f);
    if (b & 0x80) continue;
    if (arcs.length === 0) arcs.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
    else arcs.push(n);
    n = 0;
  }
  return arcs.join('.');
}

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  BMP_STRING: 0x1e,
  UNIVERSAL_STRING: 0x1c,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [0] EXPLICIT, constructed */
  CONTEXT_0: 0xa0,
} as const;

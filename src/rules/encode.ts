// tcprules' fast path: the common rules line read from the input bytes and written straight into
// the cdb writer's buffer as a record, hashed while copied, with no string and no object per line.
// Only plain lines are taken here (an address without '-' or '/', its first ':' followed by deny or
// allow, well-formed instructions); for anything else encodeRulesLine declines and the caller uses
// parseRulesLine, so the 0.88 range expansion, Debian's IPv6 addresses, fehcom's CIDR keys and
// every parse error keep living in parse.ts alone. On the lines it takes, this must give exactly
// the record parseRulesLine gives (test/rules-encode.test.ts compares the two).
import { CdbWriter } from '../cdb/writer';

const TAB = 0x09;
const LF = 0x0a;
const SPACE = 0x20;
const HASH = 0x23; // '#'
const PLUS = 0x2b;
const COMMA = 0x2c;
const DASH = 0x2d;
const SLASH = 0x2f;
const COLON = 0x3a;
const EQUALS = 0x3d;
const D = 0x44;

/**
 * Add the records of the input line bytes[start, end) (without its LF) to `writer` and return true,
 * or return false, having added nothing, when the line is one for parseRulesLine. Comments, empty
 * lines and lines without ':' give no record and return true.
 */
export function encodeRulesLine(bytes: Uint8Array, start: number, end: number, writer: CdbWriter): boolean {
  if (start < end && bytes[start] === HASH) return true;
  // trailing spaces, tabs and LFs off; leading blanks and CRs stay (tcprules.c)
  while (end > start) {
    const c = bytes[end - 1];
    if (c !== SPACE && c !== TAB && c !== LF) break;
    end--;
  }
  // the record is never longer than its line plus the 8 bytes of lengths: the ':' goes, "deny"
  // becomes "D\0", "allow" nothing, ",name=DvalueD" becomes "+name=value\0"
  const out = writer.recordSpace(8 + (end - start));
  let o = writer.recordStart + 8;
  // the key: the address, up to the first ':', copied and hashed (cdbHash of hash.ts, in int32
  // arithmetic: h * 33 ^ byte); '-' (a range) and '/' (a CIDR prefix) are parse.ts's
  let h = 5381;
  let colon = start;
  for (; colon < end; colon++) {
    const c = bytes[colon];
    if (c === COLON) break;
    if (c === DASH || c === SLASH) return false;
    out[o++] = c;
    h = Math.imul(h, 33) ^ c;
  }
  if (colon === end) return true; // no ':': 0.88 ignores the line
  const dataStart = o;

  let x = colon + 1;
  const left = end - x;
  if (left >= 4 && bytes[x] === 0x64 && bytes[x + 1] === 0x65 && bytes[x + 2] === 0x6e && bytes[x + 3] === 0x79) {
    // "deny"
    out[o++] = D;
    out[o++] = 0;
    x += 4;
  } else if (
    left >= 5 &&
    bytes[x] === 0x61 &&
    bytes[x + 1] === 0x6c &&
    bytes[x + 2] === 0x6c &&
    bytes[x + 3] === 0x6f &&
    bytes[x + 4] === 0x77
  ) {
    // "allow"
    x += 5;
  } else {
    return false; // a later ':' may end the address (IPv6), or the line is an error
  }
  // then ,name=DvalueD ... : name up to the first '=', D any byte, value up to the next D
  while (x < end) {
    if (bytes[x] !== COMMA) return false;
    out[o++] = PLUS;
    let i = x + 1;
    for (; i < end && bytes[i] !== EQUALS; i++) out[o++] = bytes[i];
    if (i + 1 >= end) return false; // no '=', or no delimiter after it
    out[o++] = EQUALS;
    const delimiter = bytes[i + 1];
    for (i += 2; i < end && bytes[i] !== delimiter; i++) out[o++] = bytes[i];
    if (i === end) return false; // no closing delimiter
    out[o++] = 0;
    x = i + 1;
  }
  writer.commitRecord(h, colon - start, o - dataStart);
  return true;
}

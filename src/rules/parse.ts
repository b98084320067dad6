// The tcprules text format, parsed as tcprules.c 0.88 does, with the IPv6 address split of Debian's
// ucspi-tcp-ipv6 and the CIDR keys of fehcom's ucspi-tcp6. Byte strings are latin1 JS strings.
import { scanUlongBytes } from '../scan';
import { cidrKey } from './cidr';

export interface RuleRecord {
  /** cdb key: the address as written, or one address of an expanded range. */
  readonly key: string;
  /** cdb data: "D\0" for deny, then "+name=value\0" per variable. */
  readonly data: string;
}

/** A parsed line in bytes: what tcprules writes. */
export interface RuleRecordBytes {
  readonly key: Buffer;
  readonly data: Buffer;
}

export class RuleSyntaxError extends Error {
  /** The offending line after trailing-blank trimming, as tcprules prints it (bytes). */
  constructor(readonly bytes: Buffer) {
    super('unable to parse this line');
  }
  /** The same as a latin1 string. */
  get line(): string {
    return this.bytes.toString('latin1');
  }
}

const TAB = 0x09;
const LF = 0x0a;
const SPACE = 0x20;
const HASH = 0x23;
const PLUS = 0x2b;
const COMMA = 0x2c;
const DASH = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const COLON = 0x3a;
const EQUALS = 0x3d;
const AT = 0x40;
const DENY = Buffer.from('deny');
const ALLOW = Buffer.from('allow');

/**
 * Lines are parsed as bytes, never made into one JS string: a line may be longer than V8's longest
 * string (about 512 MiB), which 0.88 reads like any other. Only an address shorter than this is
 * tried as a CIDR network (a longer one is a key as written, as in 0.88).
 */
const LONGEST_CIDR_ADDRESS = 1 << 20;

function startsWithAt(b: Buffer, at: number, end: number, word: Buffer): boolean {
  return end - at >= word.length && b.compare(word, 0, word.length, at, at + word.length) === 0;
}

/** Parse the instructions b[x, end) after the address: deny|allow then ,name=DvalueD ... */
function parseInstructions(b: Buffer, x: number, end: number, line: () => Buffer): Buffer {
  // never longer than the instructions: "deny" becomes "D\0", ",name=DvalueD" "+name=value\0"
  const data = Buffer.allocUnsafe(end - x);
  let o = 0;
  if (startsWithAt(b, x, end, DENY)) {
    data[o++] = 0x44;
    data[o++] = 0;
    x += 4;
  } else if (startsWithAt(b, x, end, ALLOW)) {
    x += 5;
  } else {
    throw new RuleSyntaxError(line());
  }
  while (x < end) {
    if (b[x] !== COMMA) throw new RuleSyntaxError(line());
    const eq = b.indexOf(EQUALS, x);
    if (eq < 0 || eq >= end) throw new RuleSyntaxError(line());
    if (eq + 1 >= end) throw new RuleSyntaxError(line());
    const close = b.indexOf(b[eq + 1], eq + 2);
    if (close < 0 || close >= end) throw new RuleSyntaxError(line());
    data[o++] = PLUS;
    o += b.copy(data, o, x + 1, eq);
    data[o++] = EQUALS;
    o += b.copy(data, o, eq + 2, close);
    data[o++] = 0;
    x = close + 1;
  }
  return data.subarray(0, o);
}

/**
 * A range bound as tcprules.c's getnum reads it: scan_ulong on a NUL-terminated copy, accepted when
 * the digits run to the end of the copy, so an embedded NUL ends the number and the rest is ignored.
 */
function rangeBound(b: Buffer, start: number, end: number, line: () => Buffer): bigint {
  const { value, length } = scanUlongBytes(b, start, end);
  if (start + length < end && b[start + length] !== 0) throw new RuleSyntaxError(line());
  return value;
}

/** Keys for an address: ranges "1.2.3.37-53" expand to one key per number (tcprules.c doaddressdata). */
function expandAddress(a: Buffer, line: () => Buffer): Buffer[] {
  if (a.includes(EQUALS) || a.includes(AT)) return [a];
  const dash = a.indexOf(DASH);
  if (dash < 0) return [a];
  const lastDot = dash === 0 ? -1 : a.lastIndexOf(DOT, dash - 1);
  const left = lastDot < 0 ? 0 : lastDot + 1;
  const nextDot = a.indexOf(DOT, dash + 1);
  const right = nextDot < 0 ? a.length : nextDot;
  const bot = rangeBound(a, left, dash, line);
  const top = rangeBound(a, dash + 1, right, line);
  const keys: Buffer[] = [];
  if (bot > 255n) return keys; // top is clamped to 255: no key
  const head = a.subarray(0, left);
  const tail = a.subarray(right);
  for (let n = Number(bot), last = top > 255n ? 255 : Number(top); n <= last; n++) {
    keys.push(Buffer.concat([head, Buffer.from(String(n)), tail]));
  }
  return keys;
}

/** Keys for an address: a valid CIDR address gives its one fehcom key; anything else as 0.88. */
function addressKeys(a: Buffer, line: () => Buffer): Buffer[] {
  if (a.length < LONGEST_CIDR_ADDRESS && a.includes(SLASH) && !a.includes(EQUALS) && !a.includes(AT)) {
    const key = cidrKey(a.toString('latin1'));
    if (key !== null) return [Buffer.from(key, 'latin1')];
  }
  return expandAddress(a, line);
}

/**
 * Where the address ends: the first ':' followed by "deny" or "allow" (Debian's IPv6 tcprules, so
 * that `::1:allow` has the address `::1`), else the first ':' (0.88; the line is then a parse
 * error), or -1 when there is no ':' at all (0.88 skips the line; Debian's loops forever on it).
 * For every line 0.88 accepts, its first ':' is the one found here.
 */
function addressEnd(b: Buffer, start: number, end: number): number {
  const first = b.indexOf(COLON, start);
  if (first < 0 || first >= end) return -1;
  for (let c = first; c >= 0 && c < end; c = b.indexOf(COLON, c + 1)) {
    if (startsWithAt(b, c + 1, end, DENY) || startsWithAt(b, c + 1, end, ALLOW)) return c;
  }
  return first;
}

/**
 * Records for the input line bytes[start, end) (without its LF). Comments, empty lines and lines
 * without ':' give none. Throws RuleSyntaxError for a malformed line. Keys and data may share
 * memory with `bytes`.
 */
export function parseRulesLineBytes(bytes: Buffer, start: number, end: number): RuleRecordBytes[] {
  if (start < end && bytes[start] === HASH) return [];
  // trailing spaces, tabs and LFs off; leading blanks and CRs stay (tcprules.c)
  while (end > start && (bytes[end - 1] === SPACE || bytes[end - 1] === TAB || bytes[end - 1] === LF)) end--;
  const colon = addressEnd(bytes, start, end);
  if (colon < 0) return [];
  const line = () => Buffer.from(bytes.subarray(start, end));
  const data = parseInstructions(bytes, colon + 1, end, line);
  return addressKeys(bytes.subarray(start, colon), line).map((key) => ({ key, data }));
}

/** Records for one input line (latin1 bytes, without its LF); see parseRulesLineBytes. */
export function parseRulesLine(rawLine: string): RuleRecord[] {
  const b = Buffer.from(rawLine, 'latin1');
  return parseRulesLineBytes(b, 0, b.length).map((r) => ({ key: r.key.toString('latin1'), data: r.data.toString('latin1') }));
}

/** All records of a rules text, in order (the text is latin1 bytes). */
export function parseRules(text: string): RuleRecord[] {
  const records: RuleRecord[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    for (const r of parseRulesLine(text.slice(start, end))) records.push(r);
    start = end + 1;
  }
  return records;
}

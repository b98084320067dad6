// The tcprules text format, parsed as tcprules.c 0.88 does, with the IPv6 address split of Debian's
// ucspi-tcp-ipv6 and the CIDR keys of fehcom's ucspi-tcp6. Byte strings are latin1 JS strings.
import { scanUlong } from '../scan';
import { cidrKey } from './cidr';

export interface RuleRecord {
  /** cdb key: the address as written, or one address of an expanded range. */
  readonly key: string;
  /** cdb data: "D\0" for deny, then "+name=value\0" per variable. */
  readonly data: string;
}

export class RuleSyntaxError extends Error {
  /** The offending line after trailing-blank trimming, as tcprules prints it. */
  constructor(readonly line: string) {
    super(`unable to parse this line: ${line}`);
  }
}

/** Trailing spaces, tabs and LFs off; leading blanks and CRs stay (tcprules.c). */
function trimLine(line: string): string {
  let len = line.length;
  while (len > 0) {
    const c = line.charCodeAt(len - 1);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a) break;
    len--;
  }
  return line.slice(0, len);
}

/** Parse the instructions after the address: deny|allow then ,name=DvalueD ... */
function parseInstructions(text: string, line: string): string {
  let data: string;
  let x: number;
  if (text.startsWith('deny')) {
    data = 'D\0';
    x = 4;
  } else if (text.startsWith('allow')) {
    data = '';
    x = 5;
  } else {
    throw new RuleSyntaxError(line);
  }
  while (x < text.length) {
    if (text[x] !== ',') throw new RuleSyntaxError(line);
    const eq = text.indexOf('=', x);
    if (eq < 0) throw new RuleSyntaxError(line);
    const name = text.slice(x + 1, eq);
    if (eq + 1 >= text.length) throw new RuleSyntaxError(line);
    const delimiter = text[eq + 1];
    const close = text.indexOf(delimiter, eq + 2);
    if (close < 0) throw new RuleSyntaxError(line);
    data += `+${name}=${text.slice(eq + 2, close)}\0`;
    x = close + 1;
  }
  return data;
}

/**
 * A range bound as tcprules.c's getnum reads it: scan_ulong on a NUL-terminated copy, accepted when
 * the digits run to the end of the copy, so an embedded NUL ends the number and the rest is ignored.
 */
function rangeBound(s: string, line: string): bigint {
  const { value, length } = scanUlong(s);
  if (length < s.length && s.charCodeAt(length) !== 0) throw new RuleSyntaxError(line);
  return value;
}

/** Keys for an address: ranges "1.2.3.37-53" expand to one key per number (tcprules.c doaddressdata). */
export function expandAddress(address: string, line: string): string[] {
  if (address.includes('=') || address.includes('@')) return [address];
  const dash = address.indexOf('-');
  if (dash < 0) return [address];
  const lastDot = address.lastIndexOf('.', dash - 1);
  const left = dash === 0 ? 0 : lastDot < 0 ? 0 : lastDot + 1;
  const nextDot = address.indexOf('.', dash + 1);
  const right = nextDot < 0 ? address.length : nextDot;
  const bot = rangeBound(address.slice(left, dash), line);
  const top = rangeBound(address.slice(dash + 1, right), line);
  const keys: string[] = [];
  if (bot > 255n) return keys; // top is clamped to 255: no key
  const head = address.slice(0, left);
  const tail = address.slice(right);
  for (let n = Number(bot), last = top > 255n ? 255 : Number(top); n <= last; n++) keys.push(head + n + tail);
  return keys;
}

/** Keys for an address: a valid CIDR address gives its one fehcom key; anything else as 0.88. */
export function addressKeys(address: string, line: string): string[] {
  if (address.includes('/') && !address.includes('=') && !address.includes('@')) {
    const key = cidrKey(address);
    if (key !== null) return [key];
  }
  return expandAddress(address, line);
}

/**
 * Where the address ends: the first ':' followed by "deny" or "allow" (Debian's IPv6 tcprules, so
 * that `::1:allow` has the address `::1`), else the first ':' (0.88; the line is then a parse
 * error), or -1 when there is no ':' at all (0.88 skips the line; Debian's loops forever on it).
 * For every line 0.88 accepts, its first ':' is the one found here.
 */
function addressEnd(line: string): number {
  const first = line.indexOf(':');
  for (let c = first; c >= 0; c = line.indexOf(':', c + 1)) {
    if (line.startsWith('deny', c + 1) || line.startsWith('allow', c + 1)) return c;
  }
  return first;
}

/**
 * Records for one input line (without its LF). Comments, empty lines and lines without ':' give none.
 * Throws RuleSyntaxError for a malformed line.
 */
export function parseRulesLine(rawLine: string): RuleRecord[] {
  if (rawLine.length > 0 && rawLine[0] === '#') return [];
  const line = trimLine(rawLine);
  const colon = addressEnd(line);
  if (colon < 0) return [];
  const address = line.slice(0, colon);
  const data = parseInstructions(line.slice(colon + 1), line);
  return addressKeys(address, line).map((key) => ({ key, data }));
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

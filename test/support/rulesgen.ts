// Seeded generator of tcprules input: every syntax form of the 0.88 rules text, odd bytes, duplicates,
// ranges, comments and, when asked, malformed lines. Byte strings are latin1 JS strings.

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same corpus everywhere. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 2^32). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x100000000) * n);
  }
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** The seed for a test run: $UCSPI_SEED when set (to replay a failure), else the given default. */
export function seedFromEnv(fallback: number): number {
  const s = process.env.UCSPI_SEED;
  return s !== undefined && /^\d+$/.test(s) ? Number(s) >>> 0 : fallback;
}

/** n random bytes, none of them in `exclude` (a string of latin1 characters). */
export function randomBytes(rng: Rng, n: number, exclude: string, low = 1): string {
  let out = '';
  while (out.length < n) {
    const c = String.fromCharCode(low + rng.int(256 - low));
    if (!exclude.includes(c)) out += c;
  }
  return out;
}

function octet(rng: Rng): string {
  // mostly small numbers so that prefixes and ranges of different lines meet
  return String(rng.chance(0.7) ? rng.int(8) : rng.int(256));
}

export function randomIp(rng: Rng): string {
  return `${octet(rng)}.${octet(rng)}.${octet(rng)}.${octet(rng)}`;
}

const LABELS = ['a', 'b', 'known', 'abuser', 'edu', 'x', 'y', 'mail', 'example', 'com', 'org', 'Z'];

export function randomHost(rng: Rng): string {
  const n = 1 + rng.int(4);
  const labels: string[] = [];
  for (let i = 0; i < n; i++) labels.push(rng.chance(0.9) ? rng.pick(LABELS) : randomBytes(rng, 1 + rng.int(4), ':\n.=@'));
  return labels.join('.');
}

export function randomInfo(rng: Rng): string {
  return rng.chance(0.8) ? rng.pick(['joe', 'root', 'nobody', '', 'x']) : randomBytes(rng, rng.int(5), ':\n@=');
}

function digits(rng: Rng): string {
  switch (rng.int(10)) {
    case 0:
      return ''; // empty bound reads as 0
    case 1:
      return String(256 + rng.int(100000)); // clamped when it is the top
    case 2:
      return '18446744073709551617'; // wraps like C's unsigned long
    case 3:
      return '0' + String(rng.int(300)); // leading zero
    default:
      return String(rng.int(260));
  }
}

/** Address with a range in one of its dotted parts (`1.2.3.37-53`, `10.2-3.`, `1-3.2.3.4`, ...). */
function rangeAddress(rng: Rng): string {
  const parts = [octet(rng), octet(rng), octet(rng), octet(rng)].slice(0, 1 + rng.int(4));
  const at = rng.int(parts.length);
  let bot = digits(rng);
  let top = digits(rng);
  if (rng.chance(0.5) && /^\d+$/.test(bot) && Number(bot) < 256) top = String(Math.min(255, Number(bot) + rng.int(20)));
  if (rng.chance(0.01)) bot = bot + 'x'; // not all digits: parse error
  if (rng.chance(0.03)) top = '\0' + top; // an embedded NUL ends the number in tcprules.c
  parts[at] = `${bot}-${top}`;
  let addr = parts.join('.');
  if (rng.chance(0.4)) addr += '.';
  if (rng.chance(0.05)) addr += '-' + digits(rng); // a second dash stays literal in the top part
  return addr;
}

export function randomAddress(rng: Rng, previous: readonly string[]): string {
  if (previous.length > 0 && rng.chance(0.15)) return rng.pick(previous); // duplicate key
  switch (rng.int(14)) {
    case 0:
    case 1:
      return randomIp(rng);
    case 2: {
      const ip = randomIp(rng);
      return ip.slice(0, ip.lastIndexOf('.') + 1); // 1.2.3.
    }
    case 3: {
      const ip = randomIp(rng);
      return ip.slice(0, ip.indexOf('.') + 1); // 1.
    }
    case 4:
      return '';
    case 5:
      return '=' + randomHost(rng);
    case 6:
      return '=.' + randomHost(rng);
    case 7:
      return '=';
    case 8:
      return `${randomInfo(rng)}@${randomIp(rng)}`;
    case 9:
      return `${randomInfo(rng)}@=${randomHost(rng)}`;
    case 10:
    case 11:
      return rangeAddress(rng);
    case 12:
      return `${randomInfo(rng)}@${rangeAddress(rng)}`; // '@' turns range expansion off
    default:
      return randomBytes(rng, rng.int(12), ':\n', rng.chance(0.9) ? 1 : 0);
  }
}

/** `,name=DvalueD` with any delimiter byte, names and values of odd bytes. */
function assignment(rng: Rng): string {
  const name = rng.chance(0.7) ? rng.pick(['RELAYCLIENT', 'which', 'A', 'B', 'where', '']) : randomBytes(rng, rng.int(6), '=\n');
  const delimiter = rng.chance(0.6) ? rng.pick(['"', '/', '+', '=', "'", ',', ':']) : randomBytes(rng, 1, '\n', 0);
  const value = rng.chance(0.2) ? '' : randomBytes(rng, rng.int(12), delimiter + '\n', rng.chance(0.95) ? 1 : 0);
  return `,${name}=${delimiter}${value}${delimiter}`;
}

const TRAILING = ['', '', '', ' ', '\t', ' \t '];
// tcprules does not trim CR, so a CRLF line is junk after the keyword: a parse error
const TRAILING_CR = ['\r', '\r ', ' \r'];

/** A valid rule line (it may still expand to no records, e.g. `1.2.3.9-2:allow`). */
export function ruleLine(rng: Rng, previous: string[]): string {
  const address = randomAddress(rng, previous);
  previous.push(address);
  let line = address + ':' + (rng.chance(0.5) ? 'deny' : 'allow');
  const n = rng.chance(0.5) ? 0 : 1 + rng.int(4);
  for (let i = 0; i < n; i++) line += assignment(rng);
  return line + rng.pick(rng.chance(0.005) ? TRAILING_CR : TRAILING);
}

/** A line that 0.88 rejects ("unable to parse this line") or that only looks odd. */
export function malformedLine(rng: Rng, previous: string[]): string {
  const good = ruleLine(rng, previous).replace(/[ \t\r]+$/, '');
  const colon = good.indexOf(':');
  switch (rng.int(9)) {
    case 0:
      return good.slice(0, colon + 1) + rng.pick(['Deny', 'allo', 'permit', '', ' allow', 'deny ,']);
    case 1:
      return good + 'x'; // junk after the keyword or a closing delimiter
    case 2:
      return good + ',NAME'; // no '='
    case 3:
      return good + ',N='; // no delimiter
    case 4:
      return good + ',N="unterminated'; // no closing delimiter
    case 5:
      return good + ',X= a b'; // delimiter space, then junk
    case 6:
      return `1.2.${randomBytes(rng, 1 + rng.int(3), '\n:.-0123456789', 1)}-5:allow`; // range bound not digits
    case 7:
      return good + '\0' + randomBytes(rng, 3, '\n'); // NUL then junk: the message stops at the NUL
    default:
      return good.slice(0, colon + 1) + 'allow' + randomBytes(rng, 1 + rng.int(4), '\n,');
  }
}

export interface RulesFileOptions {
  /** Probability that the file contains one malformed line. */
  malformed?: number;
  /** Number of lines (before comments and blanks are mixed in). */
  lines?: number;
}

/** A whole rules text (latin1). */
export function rulesFile(rng: Rng, opts: RulesFileOptions = {}): string {
  const previous: string[] = [];
  const n = opts.lines ?? rng.int(30);
  const out: string[] = [];
  const bad = rng.chance(opts.malformed ?? 0.1) ? rng.int(n + 1) : -1;
  for (let i = 0; i <= n; i++) {
    if (i === bad) out.push(malformedLine(rng, previous));
    if (i === n) break;
    const r = rng.int(100);
    if (r < 5) out.push('#' + randomBytes(rng, rng.int(30), '\n', 0));
    else if (r < 8) out.push(rng.pick(['', ' ', '\t', '  \t', '\r']));
    else if (r < 11)
      out.push(randomBytes(rng, rng.int(20), ':\n')); // no colon: ignored
    else if (r < 13)
      out.push(' ' + ruleLine(rng, previous)); // leading blank stays in the key
    else out.push(ruleLine(rng, previous));
  }
  const text = out.join('\n');
  return rng.chance(0.9) || text === '' ? text + '\n' : text; // sometimes a last line without LF
}

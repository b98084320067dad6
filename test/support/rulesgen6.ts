// Seeded generator of IPv6 tcprules input, for comparison with Debian's ucspi-tcp-ipv6 tcprules:
// IPv6 addresses as tcpserver formats them, Debian's ':'-ended prefixes, v4-mapped forms, odd
// address/instruction splits, mixed with the 0.88 forms of rulesgen. Every line that is not a
// comment or empty contains ":deny" or ":allow" (Debian's tcprules loops forever on other lines),
// and no address contains '/' (CIDR is ours and fehcom's, not Debian's).
import { formatIp6 } from '../../src/dns/address';
import { malformedLine, randomBytes, randomHost, randomInfo, randomIp, Rng, ruleLine } from './rulesgen';

const GROUPS = [0, 0, 0, 1, 2, 0xdb8, 0x2001, 0xfe80, 0xffff, 0xa, 0xbeef];

/** IPv6 address bytes from a small pool of groups, so that exact keys and prefixes meet. */
export function randomIp6Bytes(rng: Rng): Buffer {
  const b = Buffer.alloc(16);
  if (rng.chance(0.15)) {
    // v4-mapped
    b[10] = 0xff;
    b[11] = 0xff;
    for (let i = 12; i < 16; i++) b[i] = rng.chance(0.7) ? rng.int(4) : rng.int(256);
    return b;
  }
  for (let g = 0; g < 8; g++) b.writeUInt16BE(rng.chance(0.8) ? rng.pick(GROUPS) : rng.int(0x10000), g * 2);
  return b;
}

/** IPv6 text as the server formats it (ip6_fmt). */
export function randomIp6(rng: Rng): string {
  return formatIp6(randomIp6Bytes(rng));
}

/** An IPv6 address cut after one of its ':' (Debian's prefix rules: `2001:db8:`, `2001:db8::`). */
function ip6Prefix(rng: Rng): string {
  const ip = randomIp6(rng);
  const cuts: number[] = [];
  for (let k = 1; k <= ip.length; k++) if (ip[k - 1] === ':' || ip[k - 1] === '.') cuts.push(k);
  return cuts.length ? ip.slice(0, rng.pick(cuts)) : ip;
}

function address6(rng: Rng, previous: string[]): string {
  if (previous.length > 0 && rng.chance(0.1)) return rng.pick(previous);
  switch (rng.int(12)) {
    case 0:
    case 1:
    case 2:
      return randomIp6(rng);
    case 3:
    case 4:
      return ip6Prefix(rng);
    case 5:
      return `${randomInfo(rng)}@${randomIp6(rng)}`;
    case 6:
      return rng.pick(['a:b', ':', '::', 'x:allo', 'a:Deny', 'host:name', '1.2.3.4:5']); // odd splits
    case 7:
      return `::ffff:${randomIp(rng).replace(/\.\d+$/, '.' + rng.int(4) + '-' + rng.int(6))}`; // a range
    case 8:
      return `${randomIp6(rng).toUpperCase()}`; // never matches: keys are compared as bytes
    default:
      return randomBytes(rng, rng.int(10), '\n/');
  }
}

/** One line with an IPv6-variant address, with 0.88's instructions (variables, trailing blanks). */
function ruleLine6(rng: Rng, previous: string[]): string {
  const v4 = ruleLine(rng, []);
  return address6(rng, previous) + v4.slice(v4.indexOf(':'));
}

const KEYWORD = /:(deny|allow)/;

/** A whole IPv6 rules text (latin1) that Debian's tcprules terminates on. */
export function rulesFile6(rng: Rng, lines = rng.int(30)): string {
  const previous: string[] = [];
  const out: string[] = [];
  const bad = rng.chance(0.1) ? rng.int(lines + 1) : -1;
  for (let i = 0; i <= lines; i++) {
    if (i === bad) {
      const line = malformedLine(rng, previous);
      out.push(KEYWORD.test(line) ? line : line + ':allow');
    }
    if (i === lines) break;
    const r = rng.int(100);
    let line: string;
    if (r < 4) line = '#' + randomBytes(rng, rng.int(30), '\n', 0);
    else if (r < 6) line = '';
    else if (r < 30)
      line = ruleLine(rng, previous); // 0.88 forms
    else line = ruleLine6(rng, previous);
    // a line whose address took a NUL or odd bytes may have lost its keyword: keep Debian finite
    if (line !== '' && line[0] !== '#' && !KEYWORD.test(line)) line += ':deny';
    if (line.includes('/') && line.indexOf('/') < line.search(KEYWORD)) line = line.replace(/\//g, '|');
    out.push(line);
  }
  const text = out.join('\n');
  return rng.chance(0.9) || text === '' ? text + '\n' : text;
}

/** A lookup query for the IPv6 variant: IPv6 or IPv4 TCPREMOTEIP, maybe a host and an ident answer. */
export function randomQuery6(rng: Rng): { ip: string; host: string | null; info: string | null } {
  const r = rng.int(10);
  const ip = r < 6 ? randomIp6(rng) : r < 9 ? randomIp(rng) : rng.pick(['1:2', '::', '', 'x:y', '2001:db8::1%eth0']);
  return { ip, host: rng.chance(0.3) ? randomHost(rng) : null, info: rng.chance(0.2) ? randomInfo(rng) : null };
}

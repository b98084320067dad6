// IP address text as djb's ip4_scan and fefe's scan_ip6/ip6_fmt read and write it, and the
// reverse-lookup names built from addresses. Addresses are Buffers (4 or 16 bytes).

const V4MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** scan_ulong at `pos`: [value mod 2^32, digits consumed]. */
function scanDecimal(s: string, pos: number): [number, number] {
  let u = 0;
  let i = pos;
  while (i < s.length && isDigit(s.charCodeAt(i))) u = (u * 10 + s.charCodeAt(i++) - 0x30) % 0x100000000;
  return [u, i - pos];
}

function scanHex(s: string, pos: number): [number, number] {
  let u = 0;
  let i = pos;
  for (let h; i < s.length && (h = hexValue(s.charCodeAt(i))) >= 0; i++) u = (u * 16 + h) % 0x100000000;
  return [u, i - pos];
}

/**
 * ip4_scan: four decimal numbers joined by dots, each taken mod 256, starting at `pos`.
 * Returns the address and the number of characters consumed, or null.
 */
export function scanIp4(s: string, pos = 0): { ip: Buffer; length: number } | null {
  const ip = Buffer.alloc(4);
  let p = pos;
  for (let k = 0; k < 4; k++) {
    if (k > 0) {
      if (s[p] !== '.') return null;
      p++;
    }
    const [u, n] = scanDecimal(s, p);
    if (n === 0) return null;
    ip[k] = u & 255;
    p += n;
  }
  return { ip, length: p - pos };
}

/**
 * scan_ip6 (fefe): dotted IPv4 (→ v4-mapped), full or `::`-compressed hex groups, an embedded
 * dotted IPv4 tail; stops at the first byte it cannot use. Returns the address and the number of
 * characters consumed, or null.
 */
export function scanIp6(s: string, pos = 0): { ip: Buffer; length: number } | null {
  const v4 = scanIp4(s, pos);
  if (v4) return { ip: Buffer.concat([V4MAPPED_PREFIX, v4.ip]), length: v4.length };
  const ip = Buffer.alloc(16);
  let p = pos;
  let prefixLen = 0;
  let compressed = false;
  for (;;) {
    if (s[p] === ':') {
      if (s[p + 1] === ':') {
        p += 2;
        compressed = true;
        break;
      }
      if (prefixLen === 0) return null;
      p++;
    } else if (prefixLen > 0) {
      return null;
    }
    const [u, n] = scanHex(s, p);
    if (n === 0) return null;
    if (prefixLen === 12 && s[p + n] === '.') {
      const tail = scanIp4(s, p);
      if (!tail) return null;
      tail.ip.copy(ip, 12);
      return { ip, length: p + tail.length - pos };
    }
    ip[prefixLen++] = (u >> 8) & 255;
    ip[prefixLen++] = u & 255;
    p += n;
    if (prefixLen === 16) return { ip, length: p - pos };
  }
  if (!compressed) return null;
  const suffix: number[] = [];
  for (;;) {
    let q = p;
    if (suffix.length > 0) {
      if (s[q] !== ':') break;
      q++;
    }
    const [u, n] = scanHex(s, q);
    if (n === 0) break;
    if (prefixLen + suffix.length <= 12 && s[q + n] === '.') {
      const tail = scanIp4(s, q);
      if (tail) {
        suffix.push(...tail.ip);
        p = q + tail.length;
        break;
      }
    }
    if (prefixLen + suffix.length + 2 > 16) break;
    suffix.push((u >> 8) & 255, u & 255);
    p = q + n;
    if (prefixLen + suffix.length === 16) break;
  }
  Buffer.from(suffix).copy(ip, 16 - suffix.length);
  return { ip, length: p - pos };
}

/** A whole string as an IPv4 address, or null. */
export function parseIp4(s: string): Buffer | null {
  const r = scanIp4(s);
  return r && r.length === s.length ? r.ip : null;
}

/** A whole string as an IPv6 address (dotted IPv4 gives the v4-mapped form), or null. */
export function parseIp6(s: string): Buffer | null {
  const r = scanIp6(s);
  return r && r.length === s.length ? r.ip : null;
}

/**
 * An IPv6 literal as users write it on a command line, bare or in brackets (`::1`, `[::1]`, `::`,
 * `fe80::1`): the address, or null when the text has no ':' or does not parse.
 */
export function parseIp6Literal(text: string): Buffer | null {
  const bare = /^\[(.*)\]$/.exec(text)?.[1] ?? text;
  return bare.includes(':') ? parseIp6(bare) : null;
}

export function formatIp4(ip: Buffer, offset = 0): string {
  return `${ip[offset]}.${ip[offset + 1]}.${ip[offset + 2]}.${ip[offset + 3]}`;
}

export function isV4Mapped(ip: Buffer): boolean {
  return ip.length === 16 && ip.subarray(0, 12).equals(V4MAPPED_PREFIX);
}

/** v4-mapped form of an IPv4 address. */
export function mapIp4(ip4: Buffer): Buffer {
  return Buffer.concat([V4MAPPED_PREFIX, ip4]);
}

/** ip6_fmt: lowercase groups, the first longest zero run as `::`, v4-mapped tail dotted. */
export function formatIp6(ip: Buffer): string {
  if (isV4Mapped(ip)) return `::ffff:${formatIp4(ip, 12)}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(ip.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** `d.c.b.a.in-addr.arpa` for an IPv4 address. */
export function reverseName4(ip: Buffer): string {
  return `${ip[3]}.${ip[2]}.${ip[1]}.${ip[0]}.in-addr.arpa`;
}

/** The 32 nibbles of an IPv6 address, least significant first, each followed by a dot. */
export function reverseNibbles6(ip: Buffer): string {
  let out = '';
  for (let i = 15; i >= 0; i--) out += `${(ip[i] & 15).toString(16)}.${(ip[i] >> 4).toString(16)}.`;
  return out;
}

/** `<nibbles>.ip6.arpa` for an IPv6 address. */
export function reverseName6(ip: Buffer): string {
  return `${reverseNibbles6(ip)}ip6.arpa`;
}

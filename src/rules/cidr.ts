// CIDR rules and exact IPv6 keys as fehcom's ucspi-tcp6 (1.10.7 to 1.11) writes them into the cdb,
// so that its rules files and ours are read alike. Keys are latin1 byte strings.
//
// A CIDR key is a marker and then one byte per prefix bit, '0' for a 0 bit:
// - IPv4, marker '_': a 1 bit at position k (0 = most significant) is "abcdefghijklmnopqrstuvwxyz123456"[k];
// - IPv6, marker '^': the n-th 1 bit (n = 0, 1, ...) is the byte 0x60 + n.
// So the key of a /p prefix is the first p bytes (after the marker) of the address's full 32- or
// 128-byte bit string, and a lookup tries the prefixes of one string, longest first.
import { formatIp4, formatIp6, parseIp4, parseIp6 } from '../dns/address';

export const IP4_CIDR_MARKER = '_';
export const IP6_CIDR_MARKER = '^';

/** fehcom's lookup stops before /1: a /1 rule compiles but never matches (rules.c, `p > 1`). */
export const SHORTEST_MATCHED_PREFIX = 2;

const IP4_ONE_BITS = Buffer.from('abcdefghijklmnopqrstuvwxyz123456', 'latin1');
const ZERO_BIT = 0x30; // '0'

/** The CIDR key of the first `bits` bits of an address (4 bytes: IPv4, 16 bytes: IPv6). */
export function cidrKeyBytes(ip: Uint8Array, bits: number): Buffer {
  const v6 = ip.length === 16;
  const key = Buffer.allocUnsafe(1 + bits);
  key[0] = (v6 ? IP6_CIDR_MARKER : IP4_CIDR_MARKER).charCodeAt(0);
  let ones = 0;
  for (let k = 0; k < bits; k++) {
    const one = (ip[k >> 3] >> (7 - (k & 7))) & 1;
    key[1 + k] = !one ? ZERO_BIT : v6 ? 0x60 + ones++ : IP4_ONE_BITS[k];
  }
  return key;
}

/** fehcom's exact IPv6 key: eight groups of four uppercase hex digits (ip6_fmt_str). */
export function expandedIp6(ip: Uint8Array): string {
  let out = '';
  for (let i = 0; i < 16; i += 2) {
    if (i > 0) out += ':';
    out += ((ip[i] << 8) | ip[i + 1]).toString(16).toUpperCase().padStart(4, '0');
  }
  return out;
}

const DIGITS = /^[0-9]+$/;

/** The parts of "address/bits" when bits is a decimal number, else null. */
function splitPrefix(address: string): { addr: string; bits: number } | null {
  const slash = address.indexOf('/');
  if (slash < 0) return null;
  const digits = address.slice(slash + 1);
  if (!DIGITS.test(digits)) return null;
  return { addr: address.slice(0, slash), bits: Number(digits) };
}

/**
 * An IPv4 network as fehcom's manual writes them: four dotted decimal numbers of 0..255
 * (`10.0.0.0`), or one to three of them ending in a dot (`127.`, `192.168.`), the rest 0.
 * Null for anything else.
 */
function parseIp4Network(s: string): Buffer | null {
  const dotted = s.endsWith('.');
  const parts = (dotted ? s.slice(0, -1) : s).split('.');
  if (dotted ? parts.length > 3 : parts.length !== 4) return null;
  const ip = Buffer.alloc(4);
  for (let i = 0; i < parts.length; i++) {
    if (!DIGITS.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    ip[i] = n;
  }
  return ip;
}

/**
 * The cdb key of a CIDR rule address (`10.0.0.0/8`, `127./8`, `2001:db8::/32`), or null when the
 * address is not exactly that syntax: IPv4 with a prefix of 1..32, or (when it has a ':') an IPv6
 * address our scanner reads to the end with a prefix of 1..128. Anything else is an ordinary key,
 * as 0.88 and Debian's tcprules treat it.
 */
export function cidrKey(address: string): string | null {
  const p = splitPrefix(address);
  if (p === null || p.bits < 1) return null;
  const ip = p.addr.includes(':') ? parseIp6(p.addr) : parseIp4Network(p.addr);
  if (ip === null || p.bits > ip.length * 8) return null;
  return cidrKeyBytes(ip, p.bits).toString('latin1');
}

/**
 * The key of a client address's full-length CIDR prefix (/32 or /128); the /p key is its first
 * 1 + p bytes. IPv6 when the TCPREMOTEIP text has a ':', else dotted IPv4; null if it does not parse.
 */
export function cidrProbeKey(ip: string): Buffer | null {
  const b = ip.includes(':') ? parseIp6(ip) : parseIp4(ip);
  return b && cidrKeyBytes(b, b.length * 8);
}

/** The network a CIDR key stands for, as tcprulescheck shows it: `10.0.0.0/8`, `2001:db8::/32`. */
export function cidrNetwork(key: string): string {
  const v6 = key[0] === IP6_CIDR_MARKER;
  const ip = Buffer.alloc(v6 ? 16 : 4);
  const bits = key.length - 1;
  for (let k = 0; k < bits; k++) if (key[k + 1] !== '0') ip[k >> 3] |= 0x80 >> (k & 7);
  return `${v6 ? formatIp6(ip) : formatIp4(ip)}/${bits}`;
}

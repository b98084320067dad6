// Which addresses tcpclient tries and how each attempt's socket is made. Addresses are kept as the
// text the error lines print (Debian's ucspi-tcp-ipv6: dotted for IPv4 and v4-mapped, ip6_fmt text
// otherwise); the socket for an attempt follows from the remote and local addresses: an IPv4
// socket whenever both sides are IPv4 (so IPv4-only use is 0.88's exactly), else an IPv6 socket
// with IPv4 sides written v4-mapped, as the C variant's IPv6 sockets do.
import { formatIp4, formatIp6, isV4Mapped, parseIp4, parseIp6, parseIp6Literal, scanIp6 } from '../dns/address';

const LOOPBACK6 = parseIp6('::1') as Buffer;
/** Interface names Node accepts after '%' (others would make it treat the address as a host name). */
const SCOPE_NAME = /^[0-9a-zA-Z.:-]+$/;

/** What `-i` scanned to: dotted IPv4 (also for v4-mapped), IPv6 text, or null for "any" (no -i, or `-i ::`). */
export type LocalIp = string | null;

/** Display text of a 16-byte address: dotted when v4-mapped, else ip6_fmt. */
export function addressText(ip: Buffer): string {
  return isV4Mapped(ip) ? formatIp4(ip, 12) : formatIp6(ip);
}

/** fefe's scan_ip6 on `-i`: a prefix of the word (trailing bytes ignored); null when unparsable. */
export function scanLocalIp(arg: string): { ip: LocalIp } | null {
  const r = scanIp6(arg);
  if (!r) return null;
  if (r.ip.equals(Buffer.alloc(16))) return { ip: null };
  return { ip: addressText(r.ip) };
}

/** An IPv6 (not v4-mapped) local address was asked for with -i. */
export function isIp6Text(text: LocalIp): boolean {
  return text !== null && text.includes(':');
}

/**
 * What `0` and the empty host mean. 0.88: 127.0.0.1. The IPv6 variant: ::1 (127.0.0.1 with -4).
 * Here ::1 only when IPv6 was asked for (-6, or an IPv6 -i), so that IPv4-only scripts see 0.88's
 * `unable to connect to 127.0.0.1` (see doc/tcpclient.md).
 */
export function thisHost(flags: { ipv4Only: boolean; ipv6Form: boolean; localIp: LocalIp }): string {
  if (flags.ipv4Only) return '127.0.0.1';
  return flags.ipv6Form || isIp6Text(flags.localIp) ? '::1' : '127.0.0.1';
}

/**
 * A host operand that needs no DNS: an IPv6 literal, bracketed or not (`::1`, `[::1]`, `::`, which
 * the C variant rejects). Null for anything else (numeric IPv4 is left to the resolver's reading).
 */
export function ip6Literal(host: string): string | null {
  const ip = parseIp6Literal(host);
  return ip ? addressText(ip) : null;
}

/**
 * The addresses to try, as the error lines print them. 0.88's reading for IPv4 (numeric names
 * without DNS, A records); IPv6 literals without DNS; names get AAAA then A records (A only
 * with -4), every address tried in turn. [] is "no IP address"; rejects when the lookup failed.
 */
export async function addressesForHost(host: string, ipv4Only: boolean): Promise<string[]> {
  if (host === '127.0.0.1' || host === '::1') return [host];
  const literal = ip6Literal(host);
  if (literal !== null) return [literal];
  // the resolver loads only when a name needs it (start-up cost)
  const dns = await import('../dns');
  if (ipv4Only || /^[0-9.[\]]*$/.test(host)) return dns.ip4ForHostOperand(host);
  return (await dns.ip6ForHostOperand(host)).map((ip) => addressText(parseIp6(ip) as Buffer));
}

/** How Node is to open one attempt's socket. */
export type SocketPlan =
  | { readonly kind: 'socket'; readonly family: 4 | 6; readonly host: string; readonly localAddress: string }
  /** What the C variant's IPv4-only socket (-4) cannot do: bind or connect to real IPv6. */
  | { readonly kind: 'refuse'; readonly stage: 'bind' | 'connect'; readonly code: 'EAFNOSUPPORT' };

/**
 * The socket for connecting to `remote` (display text) from `local`. `-4` (ipv4Only): IPv4
 * sockets, ::1 reached as 127.0.0.1 (fefe's socket_connect6), any other IPv6 address refused.
 * `scope` (-I) is appended to IPv6 addresses as Node reads it (`fe80::1%eth0`).
 */
export function socketPlan(remote: string, local: LocalIp, ipv4Only: boolean, scope: string | null): SocketPlan {
  const remote4 = parseIp4(remote) !== null;
  const local4 = local !== null && !local.includes(':');
  if (ipv4Only) {
    if (local !== null && !local4) return { kind: 'refuse', stage: 'bind', code: 'EAFNOSUPPORT' };
    const host = remote4 ? remote : parseIp6(remote)?.equals(LOOPBACK6) ? '127.0.0.1' : null;
    if (host === null) return { kind: 'refuse', stage: 'connect', code: 'EAFNOSUPPORT' };
    return { kind: 'socket', family: 4, host, localAddress: local ?? '0.0.0.0' };
  }
  if (remote4 && (local === null || local4)) return { kind: 'socket', family: 4, host: remote, localAddress: local ?? '0.0.0.0' };
  const scoped = (ip: string): string => (scope !== null && SCOPE_NAME.test(scope) ? `${ip}%${scope}` : ip);
  return {
    kind: 'socket',
    family: 6,
    host: remote4 ? `::ffff:${remote}` : scoped(remote),
    localAddress: local === null ? '::' : local4 ? `::ffff:${local}` : scoped(local),
  };
}

// Which address tcpserver listens on, from its host operand.
import { ip4ForHostOperand, ip6ForHostOperand } from '../dns';
import { formatIp6, isV4Mapped, parseIp4, parseIp6, parseIp6Literal } from '../dns/address';

export interface ListenAddress {
  /** 4 bytes (an IPv4 socket) or 16 (an IPv6 socket). */
  readonly ip: Buffer;
  readonly text: string;
  /** For an IPv6 socket: refuse IPv4 clients (false = dual stack). */
  readonly v6only: boolean;
}

export const ANY4: ListenAddress = { ip: Buffer.alloc(4), text: '0.0.0.0', v6only: false };
export const ANY6_DUAL: ListenAddress = { ip: Buffer.alloc(16), text: '::', v6only: false };

/** What the host operand resolved to: an address, no address ("no IP address for"), or a lookup failure. */
export type HostResult = { readonly address: ListenAddress } | { readonly none: true };

function fromBytes(ip: Buffer, text: string): ListenAddress {
  // a v4-mapped choice means an IPv4 socket, as in the IPv6 variant
  if (isV4Mapped(ip)) return { ip: ip.subarray(12), text: text.replace(/^::ffff:/i, ''), v6only: false };
  return ip.length === 4 ? { ip, text, v6only: false } : { ip, text, v6only: true };
}

/**
 * `0` or empty: every local address, IPv4 and IPv6 from one socket (IPv4 only with -4). Only
 * digits, dots and brackets: 0.88's numeric reading, no DNS. An IPv6 literal, bracketed or not
 * (`::`, `fe80::1`, `[::1]`, which the C variant rejects). A name: AAAA then A records (A only with
 * -4), the first address of the shuffled list. Lookup failures reject with the resolver's error.
 */
export async function resolveListenHost(host: string, ipv4Only: boolean): Promise<HostResult> {
  if (host === '' || host === '0') return { address: ipv4Only ? ANY4 : ANY6_DUAL };
  if (ipv4Only || /^[0-9.[\]]*$/.test(host)) {
    const ips = await ip4ForHostOperand(host);
    if (ips.length === 0) return { none: true };
    return { address: fromBytes(parseIp4(ips[0]) as Buffer, ips[0]) };
  }
  const literal = parseIp6Literal(host);
  if (literal) return { address: fromBytes(literal, formatIp6(literal)) };
  const ips = await ip6ForHostOperand(host);
  if (ips.length === 0) return { none: true };
  return { address: fromBytes(parseIp6(ips[0]) as Buffer, ips[0]) };
}

// Addresses and ports as text, read strictly (as inet_pton reads addresses): the PROXY v1 line,
// PROXYFROM, and the TCP* variables tcpclient -P reads.
import { isIPv4, isIPv6 } from 'node:net';
import { parseIp4, parseIp6 } from '../dns/address';

/** Dotted IPv4 without leading zeros: 4 bytes, or null. */
export function ip4FromText(text: string): Buffer | null {
  return isIPv4(text) ? parseIp4(text) : null;
}

/** IPv6 text (an embedded dotted tail allowed, no %zone): 16 bytes, or null. */
export function ip6FromText(text: string): Buffer | null {
  return !text.includes('%') && isIPv6(text) ? parseIp6(text) : null;
}

/** A port, 0 to 65535 without leading zeros, or null. */
export function portFromText(text: string): number | null {
  return /^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535 ? Number(text) : null;
}

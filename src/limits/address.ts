// Which counters a client address belongs to: its own, and its network (an IPv4 /24, as the
// tcpserver-limits patch's "C class", or an IPv6 /64, the usual size of one site's or one
// customer's network). An IPv4-mapped IPv6 address counts as the IPv4 address it carries, so a
// dual-stack listener and an IPv4 listener count a client the same way.
import { formatIp4, formatIp6, isV4Mapped, parseIp6 } from '../dns/address';

export interface LimitKeys {
  /** the address itself, in one canonical form (dotted IPv4, or 32 hex digits for IPv6) */
  readonly ip: string;
  /** the /24 (IPv4) or /64 (IPv6) it is in */
  readonly net: string;
}

const MAPPED = '::ffff:';

function ip4Keys(ip: string): LimitKeys {
  return { ip, net: ip.slice(0, ip.lastIndexOf('.')) };
}

/**
 * The counter keys for a remote address as Node reports it (dotted IPv4, or IPv6 text possibly
 * with a `%zone`). Text that is no address at all is its own address and network: it is counted,
 * never mixed with another client.
 */
export function limitKeys(remoteIp: string): LimitKeys {
  if (!remoteIp.includes(':')) return ip4Keys(remoteIp);
  // the usual dual-stack form, without parsing
  if (remoteIp.startsWith(MAPPED) && remoteIp.indexOf(':', MAPPED.length) < 0 && remoteIp.includes('.')) {
    return ip4Keys(remoteIp.slice(MAPPED.length));
  }
  const zone = remoteIp.indexOf('%');
  const bytes = parseIp6(zone < 0 ? remoteIp : remoteIp.slice(0, zone));
  if (!bytes) return { ip: remoteIp, net: remoteIp };
  if (isV4Mapped(bytes)) return ip4Keys(formatIp4(bytes, 12));
  // flat hex strings: compact keys for the tables (an IPv6 key never looks like an IPv4 one)
  const hex = bytes.toString('hex');
  return { ip: zone < 0 ? hex : hex + remoteIp.slice(zone), net: hex.slice(0, 16) + '/64' };
}

const HEX_ADDRESS = /^[0-9a-f]{32}(%.*)?$/s;
const HEX_NETWORK = /^[0-9a-f]{16}\/64$/;

/**
 * A counter key as an operator reads it: the address (`10.1.2.3`, `2001:db8::1`) or the network
 * (`10.1.2.0/24`, `2001:db8::/64`). Keys of text that was no address are shown as they are.
 */
export function limitKeyText(key: string): string {
  if (HEX_ADDRESS.test(key)) {
    const zone = key.indexOf('%');
    return formatIp6(Buffer.from(key.slice(0, 32), 'hex')) + (zone < 0 ? '' : key.slice(zone));
  }
  if (HEX_NETWORK.test(key)) return `${formatIp6(Buffer.from(key.slice(0, 16).padEnd(32, '0'), 'hex'))}/64`;
  if (/^\d+\.\d+\.\d+$/.test(key)) return `${key}.0/24`;
  return key;
}

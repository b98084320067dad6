// PROXYFROM: the peers trusted to send a PROXY header, as nginx's set_real_ip_from lists them:
// addresses and CIDR prefixes, IPv4 and IPv6, separated by commas. IPv4 entries also match the
// v4-mapped form a dual-stack socket reports (::ffff:10.0.0.1).
import { mapIp4 } from '../dns/address';
import { ip4FromText, ip6FromText } from './text';

interface Prefix {
  /** 16 bytes (IPv4 v4-mapped) */
  readonly ip: Buffer;
  readonly bits: number;
}

export class TrustedPeers {
  constructor(private readonly prefixes: readonly Prefix[]) {}

  get empty(): boolean {
    return this.prefixes.length === 0;
  }

  /** Whether a peer (Node's address text: dotted, IPv6, v4-mapped, with or without %zone) is trusted. */
  trusts(peer: string): boolean {
    const ip = addressBytes(peer.replace(/%.*$/, ''));
    return ip !== null && this.prefixes.some((p) => inPrefix(ip, p));
  }
}

/** 16 bytes, IPv4 v4-mapped. */
function addressBytes(text: string): Buffer | null {
  const ip4 = ip4FromText(text);
  return ip4 ? mapIp4(ip4) : ip6FromText(text);
}

function inPrefix(ip: Buffer, p: Prefix): boolean {
  const whole = p.bits >> 3;
  if (ip.compare(p.ip, 0, whole, 0, whole) !== 0) return false;
  const rest = p.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole] & mask) === (p.ip[whole] & mask);
}

function parseEntry(entry: string): Prefix | null {
  const slash = entry.indexOf('/');
  const text = slash < 0 ? entry : entry.slice(0, slash);
  const ip = addressBytes(text);
  if (ip === null) return null;
  const offset = ip4FromText(text) ? 96 : 0;
  if (slash < 0) return { ip, bits: 128 };
  const bitsText = entry.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > 128 - offset) return null;
  return { ip, bits: offset + Number(bitsText) };
}

/** PROXYFROM's value, or the first entry that is neither an address nor a prefix. */
export function parseTrustedPeers(value: string): TrustedPeers | { readonly bad: string } {
  const prefixes: Prefix[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const p = parseEntry(entry);
    if (!p) return { bad: entry };
    prefixes.push(p);
  }
  return new TrustedPeers(prefixes);
}

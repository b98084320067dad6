// The lookups ucspi-tcp programs make, with djb's semantics: numeric names never reach DNS, host
// operands are qualified, answers are shuffled, and a failed lookup (DnsError) is distinct from
// an empty answer.
import { formatIp4, formatIp6, isV4Mapped, mapIp4, parseIp4, parseIp6, reverseName4, reverseName6, scanIp6 } from './address';
import { rewriteRules, qualifyCandidates, Server } from './config';
import { DnsError } from './error';
import { nameFromDot, nameToDot } from './name';
import { answerFirstPtr, answerIp4s, answerIp6s, answerTxt, TYPE_A, TYPE_AAAA, TYPE_PTR, TYPE_TXT } from './packet';
import { resolveQuestion } from './query';

export { DnsError } from './error';
export { dnsServersFor } from './config';
export type { Server } from './config';

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * dns_ip4's numeric shortcut: a name made only of digits, dots and brackets is read without DNS.
 * Brackets are ignored, each dot (and the end) closes one byte (mod 256, empty = 0), and the bytes
 * are cut to a multiple of four. Returns null for any other name.
 */
export function numericIp4s(name: string): Buffer[] | null {
  if (!/^[0-9.[\]]*$/.test(name)) return null;
  const bytes: number[] = [];
  let code = 0;
  for (let i = 0; i <= name.length; i++) {
    const ch = i < name.length ? name[i] : '.';
    if (ch === '[' || ch === ']') continue;
    if (ch === '.') {
      bytes.push(code);
      code = 0;
    } else {
      code = (code * 10 + ch.charCodeAt(0) - 0x30) & 255;
    }
  }
  const out: Buffer[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) out.push(Buffer.from(bytes.slice(i, i + 4)));
  return out;
}

async function ip4Bytes(name: string, servers?: readonly Server[]): Promise<Buffer[]> {
  const numeric = numericIp4s(name);
  if (numeric) return numeric;
  const reply = await resolveQuestion(nameFromDot(name), TYPE_A, servers);
  return shuffle(answerIp4s(reply));
}

/**
 * A lookup without qualification (tcpserver -p, rblsmtpd -a, the rss A-record RBLs); `servers`
 * instead of the configured ones when given.
 */
export async function ip4ForName(name: string, servers?: readonly Server[]): Promise<string[]> {
  return (await ip4Bytes(name, servers)).map((ip) => formatIp4(ip));
}

/**
 * Addresses for a tcpserver/tcpclient host operand: qualified, then each candidate tried in turn
 * until one has addresses. [] means "no IP address"; a DnsError means "temporarily unable".
 */
export async function ip4ForHostOperand(host: string): Promise<string[]> {
  for (const candidate of qualifyCandidates(host, rewriteRules())) {
    const ips = await ip4Bytes(candidate);
    if (ips.length) return ips.map((ip) => formatIp4(ip));
  }
  return [];
}

/** The first PTR name of an address (IPv4, or IPv6 by ip6.arpa nibbles); null when there is none. */
export async function nameForIp(ip: string): Promise<string | null> {
  let query: string;
  if (ip.includes(':')) {
    const ip6 = parseIp6(ip);
    if (!ip6) throw new DnsError('EINVAL', `not an IP address: ${ip}`);
    query = isV4Mapped(ip6) ? reverseName4(ip6.subarray(12)) : reverseName6(ip6);
  } else {
    const ip4 = parseIp4(ip);
    if (!ip4) throw new DnsError('EINVAL', `not an IP address: ${ip}`);
    query = reverseName4(ip4);
  }
  const target = answerFirstPtr(await resolveQuestion(nameFromDot(query), TYPE_PTR));
  return target ? nameToDot(target) : null;
}

/** Every TXT string of every TXT record, concatenated, as raw latin1; "" when there is none. */
export async function txtForName(name: string, servers?: readonly Server[]): Promise<string> {
  return answerTxt(await resolveQuestion(nameFromDot(name), TYPE_TXT, servers));
}

async function ip6Bytes(name: string): Promise<Buffer[]> {
  const literal = scanIp6(name);
  if (literal && literal.length === name.length && name !== '') return [literal.ip];
  const numeric = numericIp4s(name);
  if (numeric) return numeric.map(mapIp4);
  const wire = nameFromDot(name);
  const [aaaa, a] = await Promise.allSettled([resolveQuestion(wire, TYPE_AAAA), resolveQuestion(wire, TYPE_A)]);
  // as fefe's dns_ip6: a failed AAAA lookup is passed over, a failed A lookup is an error
  if (a.status === 'rejected') throw a.reason;
  const six = aaaa.status === 'fulfilled' ? shuffle(answerIp6s(aaaa.value)) : [];
  return six.concat(shuffle(answerIp4s(a.value)).map(mapIp4));
}

/** AAAA then A addresses (A as ::ffff:a.b.c.d), IPv6 literals and numeric IPv4 without DNS. */
export async function ip6ForName(name: string): Promise<string[]> {
  return (await ip6Bytes(name)).map(formatIp6);
}

/** ip6ForName after qualification; a name with `:` is never qualified. */
export async function ip6ForHostOperand(host: string): Promise<string[]> {
  for (const candidate of qualifyCandidates(host, rewriteRules(), ':')) {
    const ips = await ip6Bytes(candidate);
    if (ips.length) return ips.map(formatIp6);
  }
  return [];
}

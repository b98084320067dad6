// Where queries go and how short names are qualified, read as djb's dns_rcip.c and dns_rcrw.c
// read them: $DNSCACHEIP or resolv.conf nameservers; $DNSREWRITEFILE (/etc/dnsrewrite), else
// $LOCALDOMAIN, else resolv.conf search/domain, else the host name's domain. Never /etc/hosts.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { formatIp4, formatIp6, isV4Mapped, scanIp6 } from './address';
import { DnsError } from './error';

const MAX_SERVERS = 16;
const RESOLV_CONF = '/etc/resolv.conf';
/** djb re-reads its configuration every 10 minutes. */
const CACHE_MS = 600_000;

export interface Server {
  /** Address text Node's sockets accept. */
  readonly address: string;
  readonly family: 4 | 6;
}

function envLatin1(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined ? undefined : Buffer.from(v, 'utf8').toString('latin1');
}

/** Contents of a file as latin1, null when it does not exist (openreadclose). */
function readOptional(path: string): string | null {
  try {
    return readFileSync(path).toString('latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DnsError((err as NodeJS.ErrnoException).code ?? 'EIO', `unable to read ${path}`);
  }
}

function serverFromBytes(ip: Buffer): Server {
  if (ip.length === 4 || isV4Mapped(ip)) return { address: formatIp4(ip, ip.length - 4), family: 4 };
  return { address: formatIp6(ip), family: 6 };
}

function isZero(ip: Buffer): boolean {
  return ip.every((b) => b === 0);
}

function isUnspecified(ip: Buffer): boolean {
  return isZero(isV4Mapped(ip) ? ip.subarray(12) : ip);
}

export interface DnsCacheIp {
  /** Servers to query, in order. */
  readonly servers: Server[];
  /** Addresses parsed, zero addresses included (they count but are never queried). */
  readonly count: number;
}

/**
 * Addresses written one after another with dots between them (`10.0.0.1.10.0.0.2`, `::1`), up to
 * 16; anything unparsable ends the list.
 */
export function parseDnsCacheIp(value: string): DnsCacheIp {
  const servers: Server[] = [];
  let pos = 0;
  let count = 0;
  while (count < MAX_SERVERS && pos < value.length) {
    if (value[pos] === '.') {
      pos++;
      continue;
    }
    const r = scanIp6(value, pos);
    if (!r || r.length === 0) break;
    pos += r.length;
    count++;
    if (!isUnspecified(r.ip)) servers.push(serverFromBytes(r.ip));
  }
  return { servers, count };
}

/** `nameserver` lines of resolv.conf text (0.0.0.0 means 127.0.0.1, as in dns_rcip.c). */
export function parseResolvConfServers(text: string): Server[] {
  const out: Server[] = [];
  for (const line of text.split('\n')) {
    if (out.length >= MAX_SERVERS) break;
    if (!/^nameserver[ \t]/.test(line)) continue;
    const r = scanIp6(line.slice(10).replace(/^[ \t]*/, ''));
    if (!r) continue;
    if (!isUnspecified(r.ip)) out.push(serverFromBytes(r.ip));
    else out.push(isV4Mapped(r.ip) ? { address: '127.0.0.1', family: 4 } : { address: '::1', family: 6 });
  }
  return out;
}

/** djb-style rewrite rules (`?:+.dom1+.dom2`, `*.:`) from LOCALDOMAIN's space-separated list. */
function rulesFromList(domains: string[]): string[] {
  return ['?:' + domains.map((d) => '+.' + d).join(''), '*.:'];
}

/** The qualification rules in force, as dns_rcrw.c builds them. */
export function readRewriteRules(): string[] {
  const file = envLatin1('DNSREWRITEFILE') ?? '/etc/dnsrewrite';
  const data = readOptional(file);
  if (data !== null) {
    return data.split('\n').map((l) => l.replace(/[ \t\r]+$/, ''));
  }
  const local = envLatin1('LOCALDOMAIN');
  // LOCALDOMAIN is cut at every space, empty pieces included (dns_rcrw.c appends a space and splits)
  if (local !== undefined) return rulesFromList(local.split(' '));
  const conf = readOptional(RESOLV_CONF);
  if (conf !== null) {
    for (const line of conf.split('\n')) {
      if (/^(search|domain)[ \t]/.test(line)) {
        const domains = line
          .slice(7)
          .split(/[ \t]/)
          .filter((d) => d !== '');
        return rulesFromList(domains);
      }
    }
  }
  const host = hostname();
  const dot = host.indexOf('.');
  return dot >= 0 ? ['?:' + host.slice(dot), '*.:'] : ['*.:'];
}

/** One rewrite rule applied to a name (dns_rcrw.c doit): null when it does not apply. */
function applyRule(name: string, rule: string, shortNameStoppers: string): string | null {
  const kind = rule[0];
  if (kind !== '?' && kind !== '=' && kind !== '*' && kind !== '-') return null;
  const body = rule.slice(1);
  const colon = body.indexOf(':');
  if (colon < 0) return null;
  const suffix = body.slice(0, colon);
  const replacement = body.slice(colon + 1);
  if (name.length < suffix.length) return null;
  const prefixLen = name.length - suffix.length;
  if (kind === '=' && prefixLen) return null;
  if (name.slice(prefixLen).toLowerCase() !== suffix.toLowerCase()) return null;
  if (kind === '?') {
    const prefix = name.slice(0, prefixLen);
    for (const c of shortNameStoppers) if (prefix.includes(c)) return null;
  }
  return (kind === '-' ? '' : name.slice(0, prefixLen)) + replacement;
}

/**
 * The names to try for a host operand, in order (dns_qualify_rules): the rules rewrite the name,
 * then `+` splits it into alternatives, each being the part before the first `+` followed by one
 * `+`-separated suffix. `alsoNotShort` adds characters that keep a name from counting as short
 * (the IPv6 resolver adds `:`).
 */
export function qualifyCandidates(name: string, rules: readonly string[], alsoNotShort = ''): string[] {
  const stoppers = '.[]' + alsoNotShort;
  let fqdn = name;
  for (const rule of rules) fqdn = applyRule(fqdn, rule, stoppers) ?? fqdn;
  const plus = fqdn.indexOf('+');
  if (plus < 0) return [fqdn];
  const base = fqdn.slice(0, plus);
  return fqdn
    .slice(plus + 1)
    .split('+')
    .map((s) => base + s);
}

interface Cached<T> {
  key: string;
  at: number;
  value: T;
}

let serverCache: Cached<Server[]> | undefined;
let rulesCache: Cached<string[]> | undefined;

function cached<T>(slot: Cached<T> | undefined, key: string, load: () => T): Cached<T> {
  const now = Date.now();
  if (slot && slot.key === key && now - slot.at < CACHE_MS) return slot;
  return { key, at: now, value: load() };
}

/**
 * The servers to ask, in order; 127.0.0.1 when nothing is configured. Empty when $DNSCACHEIP names
 * only 0.0.0.0 (the original then has nobody to ask either).
 */
export function dnsServers(): Server[] {
  return dnsServersFor(envLatin1('DNSCACHEIP'));
}

/**
 * The same for a given $DNSCACHEIP value (undefined: unset), for lookups made on behalf of a program
 * whose environment is not this process's (rblsmtpd inside tcpserver).
 */
export function dnsServersFor(dnsCacheIp: string | undefined): Server[] {
  serverCache = cached(serverCache, dnsCacheIp ?? '\0', () => {
    const fromEnv = dnsCacheIp !== undefined ? parseDnsCacheIp(dnsCacheIp) : { servers: [], count: 0 };
    if (fromEnv.count > 0) return fromEnv.servers;
    const conf = readOptional(RESOLV_CONF);
    const list = conf !== null ? parseResolvConfServers(conf) : [];
    return list.length ? list : [{ address: '127.0.0.1', family: 4 }];
  });
  return serverCache.value;
}

/** The qualification rules, cached like the originals' (10 minutes). */
export function rewriteRules(): string[] {
  const key = [envLatin1('DNSREWRITEFILE'), envLatin1('LOCALDOMAIN')].map((v) => v ?? '\0').join('\n');
  rulesCache = cached(rulesCache, key, readRewriteRules);
  return rulesCache.value;
}

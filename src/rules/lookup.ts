// Rule lookup in the order of rules.c 0.88, shared by tcpserver and tcprulescheck, with the IPv6
// steps of Debian's ucspi-tcp-ipv6 (prefixes also end at ':') and of fehcom's ucspi-tcp6 (expanded
// exact IPv6 keys, CIDR keys longest first), so that cdb files made by any of the three work.
import { CdbReader } from '../cdb/reader';
import { cdbHashPrefixes } from '../cdb/hash';
import { parseIp6 } from '../dns/address';
import { cidrNetwork, cidrProbeKey, expandedIp6, IP4_CIDR_MARKER, IP6_CIDR_MARKER, SHORTEST_MATCHED_PREFIX } from './cidr';

export interface RuleQuery {
  /** TCPREMOTEIP as text (dotted IPv4, or IPv6 text for the IPv6 variant). */
  readonly ip: string;
  /** TCPREMOTEHOST, or null when unset. */
  readonly host: string | null;
  /** TCPREMOTEINFO, or null when unset; an empty ident answer is "" and still counts. */
  readonly info: string | null;
}

export interface RuleMatch {
  /** The key that matched. */
  readonly key: string;
  /** Raw rule data: NUL-terminated entries. */
  readonly data: Buffer;
  /** For a match in the CIDR step, the network it stands for (`10.0.0.0/8`); else null. */
  readonly network: string | null;
}

/** Steps 1-4: info@ip, info@=host, ip, =host, the ip's prefixes; `expanded` is fehcom's exact key. */
function* addressKeys(q: RuleQuery, expanded: string | null): Generator<string, void, undefined> {
  if (q.info !== null) {
    yield `${q.info}@${q.ip}`;
    if (expanded !== null) yield `${q.info}@${expanded}`;
    if (q.host !== null) yield `${q.info}@=${q.host}`;
  }
  yield q.ip;
  if (expanded !== null) yield expanded;
  if (q.host !== null) yield `=${q.host}`;
  const colons = q.ip.includes(':');
  for (let k = q.ip.length; k > 0; k--) {
    const c = q.ip[k - 1];
    // the IPv6 variant also stops at ':' (2001:db8::5 -> 2001:db8::, 2001:db8:, 2001:)
    if (c === '.' || (c === ':' && colons)) yield q.ip.slice(0, k);
  }
}

/** Steps 5-6, after the CIDR keys: host suffixes, '=', then the empty key. */
function* hostKeys(q: RuleQuery): Generator<string, void, undefined> {
  if (q.host !== null) {
    for (let i = 0; i < q.host.length; i++) if (q.host[i] === '.') yield `=${q.host.slice(i)}`;
    yield '=';
  }
  yield '';
}

/** fehcom's exact key for an IPv6 client (any ip with a ':' that parses), else null. */
function expandedKey(ip: string): string | null {
  if (!ip.includes(':')) return null;
  const b = parseIp6(ip);
  return b && expandedIp6(b);
}

/** The 0.88 and Debian keys for a query, in order (no fehcom forms). */
export function* candidateKeys(q: RuleQuery): Generator<string, void, undefined> {
  yield* addressKeys(q, null);
  yield* hostKeys(q);
}

/** Every key lookupRules tries, in order; the first present in the cdb wins. */
export function* lookupKeys(q: RuleQuery): Generator<string, void, undefined> {
  yield* addressKeys(q, expandedKey(q.ip));
  const probe = cidrProbeKey(q.ip);
  if (probe) for (let p = probe.length - 1; p >= SHORTEST_MATCHED_PREFIX; p--) yield probe.toString('latin1', 0, 1 + p);
  yield* hostKeys(q);
}

function findKey(reader: CdbReader, key: string): RuleMatch | null {
  const data = reader.find(Buffer.from(key, 'latin1'));
  return data && { key, data, network: null };
}

/**
 * The CIDR step, longest prefix first. The keys are the prefixes of one key, so their hashes come
 * from one pass (cdb's hash is a running one) and no key is built until one matches.
 */
function findCidr(reader: CdbReader, probe: Buffer): RuleMatch | null {
  // a probe that reaches the file costs a read; past some 8 KiB per probe, reading it all is cheaper
  reader.preload((probe.length - SHORTEST_MATCHED_PREFIX) * 8192);
  const hashes = cdbHashPrefixes(probe);
  for (let p = probe.length - 1; p >= SHORTEST_MATCHED_PREFIX; p--) {
    const data = reader.findPrefix(probe, 1 + p, hashes[1 + p]);
    if (data) {
      const key = probe.toString('latin1', 0, 1 + p);
      return { key, data, network: cidrNetwork(key) };
    }
  }
  return null;
}

/** First matching rule, or null (default: allow, no variables). Throws on a corrupt cdb. */
export function lookupRules(reader: CdbReader, q: RuleQuery): RuleMatch | null {
  for (const key of addressKeys(q, expandedKey(q.ip))) {
    const m = findKey(reader, key);
    if (m) return m;
  }
  // a file known to hold no CIDR key of the client's family is not probed for one
  const marker = (q.ip.includes(':') ? IP6_CIDR_MARKER : IP4_CIDR_MARKER).charCodeAt(0);
  const probe = reader.mayHaveKeyStartingWith(marker) ? cidrProbeKey(q.ip) : null;
  if (probe) {
    const m = findCidr(reader, probe);
    if (m) return m;
  }
  for (const key of hostKeys(q)) {
    const m = findKey(reader, key);
    if (m) return m;
  }
  return null;
}

export interface RuleDecision {
  readonly deny: boolean;
  /** Environment assignments in rule order, latin1 byte strings. */
  readonly env: ReadonlyArray<readonly [string, string]>;
}

/** What tcpserver does with rule data: any "D" entry denies, "+name=value" entries set variables. */
export function interpretRuleData(data: Buffer): RuleDecision {
  let deny = false;
  const env: Array<[string, string]> = [];
  for (const entry of ruleEntries(data)) {
    if (entry[0] === 'D') deny = true;
    else if (entry[0] === '+') {
      const eq = entry.indexOf('=', 1);
      if (eq >= 0) env.push([entry.slice(1, eq), entry.slice(eq + 1)]);
    }
  }
  return { deny, env };
}

/** The NUL-terminated entries of rule data (an unterminated tail is ignored, as in 0.88). */
export function* ruleEntries(data: Buffer): Generator<string, void, undefined> {
  let start = 0;
  for (;;) {
    const nul = data.indexOf(0, start);
    if (nul < 0) return;
    yield data.toString('latin1', start, nul);
    start = nul + 1;
  }
}

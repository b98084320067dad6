// Rule lookup in the order of rules.c 0.88, shared by tcpserver and tcprulescheck.
import { CdbReader } from '../cdb/reader';

export interface RuleQuery {
  /** TCPREMOTEIP as text (dotted IPv4, or IPv6 text for the IPv6 variant). */
  readonly ip: string;
  /** TCPREMOTEHOST, or null when unset. */
  readonly host: string | null;
  /** TCPREMOTEINFO, or null when unset; an empty ident answer is "" and still counts. */
  readonly info: string | null;
}

export interface RuleMatch {
  /** The key that matched (what tcprulescheck prints after "rule "). */
  readonly key: string;
  /** Raw rule data: NUL-terminated entries. */
  readonly data: Buffer;
}

/** The keys tried for a query, in order; the first present in the cdb wins. */
export function* candidateKeys(q: RuleQuery): Generator<string, void, undefined> {
  if (q.info !== null) {
    yield `${q.info}@${q.ip}`;
    if (q.host !== null) yield `${q.info}@=${q.host}`;
  }
  yield q.ip;
  if (q.host !== null) yield `=${q.host}`;
  for (let k = q.ip.length; k > 0; k--) {
    const c = q.ip[k - 1];
    // the IPv6 variant also stops at ':' (2001:db8::5 -> 2001:db8::, 2001:db8:, 2001:)
    if (c === '.' || (c === ':' && q.ip.includes(':'))) yield q.ip.slice(0, k);
  }
  if (q.host !== null) {
    for (let i = 0; i < q.host.length; i++) if (q.host[i] === '.') yield `=${q.host.slice(i)}`;
    yield '=';
  }
  yield '';
}

/** First matching rule, or null (default: allow, no variables). Throws on a corrupt cdb. */
export function lookupRules(reader: CdbReader, q: RuleQuery): RuleMatch | null {
  for (const key of candidateKeys(q)) {
    const data = reader.find(Buffer.from(key, 'latin1'));
    if (data) return { key, data };
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

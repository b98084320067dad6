// rblsmtpd's decision (§6.2): $RBLSMTPD first, then each -r/-a looked up as the options are read,
// left to right, with the -b/-c settings in force at that point; the first decision stands.
// Plus the rss patch's A-record RBLs (`-r base:message`, %IP% in the message).
import { isV4Mapped, parseIp4, parseIp6, reverseNibbles6 } from '../dns/address';

export type Verdict = 'undecided' | 'accept' | 'block451' | 'block553';

/** The DNS questions rblsmtpd asks; failures reject (any error counts as "lookup failed"). */
export interface RblLookups {
  txt(name: string): Promise<string>;
  ip4(name: string): Promise<string[]>;
}

/**
 * The query prefix for a client address, always ending in a dot unless empty: IPv4 by its dotted
 * parts reversed (0.88 reverses whatever dot-separated parts it is given), IPv6 as 32 nibbles
 * (as fehcom's rblsmtpd), v4-mapped IPv6 as its IPv4 address.
 */
export function reversedIp(ip: string): string {
  if (ip.includes(':')) {
    const ip6 = parseIp6(ip);
    if (ip6 && isV4Mapped(ip6) && parseIp4(ip.slice(ip.lastIndexOf(':') + 1))) {
      return reverseDotted(ip.slice(ip.lastIndexOf(':') + 1));
    }
    if (ip6) return reverseNibbles6(ip6);
  }
  return reverseDotted(ip);
}

/** 0.88's ip_init loop: parts from the right, each plus a dot; a leading empty part is dropped. */
function reverseDotted(ip: string): string {
  let out = '';
  let i = ip.length;
  while (i > 0) {
    const j = ip.lastIndexOf('.', i - 1) + 1;
    out += ip.slice(j, i) + '.';
    if (j === 0) break;
    i = j - 1;
  }
  return out;
}

/** The rss patch's message: each `%IP%` becomes the client's address, any other `%` stays. */
export function expandAltReply(template: string, ip: string): string {
  return template.split('%IP%').join(ip);
}

export class RblDecision {
  verdict: Verdict = 'undecided';
  /** Reply text (raw bytes as latin1) when blocked. */
  text = '';
  /** A lookup failed: never answer 553 (the client should retry later). */
  mustNotBounce = false;
  /** -b: listed clients get 553. */
  bounce = false;
  /** -c: a failed -r lookup blocks (451), a failed -a lookup does not accept. */
  failClosed = false;
  /** -t: seconds of fake conversation (unsigned long as 0.88 reads it). */
  timeout = 60n;
  /** The base of the -r/-a being looked up most recently (RBLTIMEOUT's log line names it). */
  lastBase = '';

  constructor(
    readonly remoteIp: string,
    private readonly lookups: RblLookups,
  ) {}

  /** $RBLSMTPD: empty accepts, `-text` blocks with 553, `text` blocks with 451. */
  applyEnvironment(value: string | undefined): void {
    if (value === undefined) return;
    if (value === '') this.verdict = 'accept';
    else if (value[0] === '-') {
      this.text = value.slice(1);
      this.verdict = 'block553';
    } else {
      this.text = value;
      this.verdict = 'block451';
    }
  }

  private query(base: string): string {
    return reversedIp(this.remoteIp) + base;
  }

  /** -r base: TXT lookup; `-r base:message` (rss patch): A lookup, listed with `message`. */
  async rbl(arg: string): Promise<void> {
    if (this.verdict !== 'undecided') return;
    const colon = arg.indexOf(':');
    const base = colon < 0 ? arg : arg.slice(0, colon);
    this.lastBase = base;
    let text: string;
    try {
      if (colon < 0) {
        text = await this.lookups.txt(this.query(base));
      } else {
        const ips = await this.lookups.ip4(this.query(base));
        // the patch keeps the (empty) answer when nothing is listed; `base:` with an empty message
        // therefore never blocks
        text = ips.length ? expandAltReply(arg.slice(colon + 1), this.remoteIp) : '';
      }
    } catch {
      this.mustNotBounce = true;
      if (this.failClosed) {
        this.text = 'temporary RBL lookup error';
        this.verdict = 'block451';
      }
      return;
    }
    if (text !== '') {
      this.text = text;
      this.verdict = this.bounce ? 'block553' : 'block451';
    }
  }

  /** -a base: any A record accepts; a failed lookup accepts unless failing closed. */
  async antirbl(base: string): Promise<void> {
    if (this.verdict !== 'undecided') return;
    this.lastBase = base;
    try {
      if ((await this.lookups.ip4(this.query(base))).length) this.verdict = 'accept';
    } catch {
      this.mustNotBounce = true;
      if (!this.failClosed) this.verdict = 'accept';
    }
  }

  get blocked(): boolean {
    return this.verdict === 'block451' || this.verdict === 'block553';
  }

  /** 451 after any lookup failure or a 451 decision, else 553. */
  get code(): '451' | '553' {
    return this.mustNotBounce || this.verdict === 'block451' ? '451' : '553';
  }
}

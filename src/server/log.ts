// tcpserver's stderr lines, byte for byte as 0.88 prints them, under the program's own name (sslserver
// prints the same lines). Once serving, a turn of the event loop's lines are one write(2).
import { Diagnostics } from '../messages';

/** Bytes 33..126 but for '%' (0x25) and ':' (0x3a): kept as they are. */
const SAFE = /^[\x21-\x24\x26-\x39\x3b-\x7e]*$/;
const SAFE_KEEPING_COLONS = /^[\x21-\x24\x26-\x7e]*$/;

/**
 * 0.88's safecats: bytes outside 33..126, '%' and ':' become '?'; cut after 100 bytes with "...".
 * The IPv6 variant keeps ':' (its addresses are full of them).
 */
export function safeField(s: string, keepColons = false): string {
  // most fields (addresses, ports, names) have nothing to replace
  if (s.length < 100 && (keepColons ? SAFE_KEEPING_COLONS : SAFE).test(s)) return s;
  let out = '';
  const n = Math.min(s.length, 100);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    out += c < 33 || c > 126 || c === 0x25 || (c === 0x3a && !keepColons) ? '?' : s[i];
  }
  return s.length >= 100 ? out + '...' : out;
}

export interface ConnectionFacts {
  /** Log in the IPv6 variant's form (IPv6 text, ':' kept). */
  readonly proto6: boolean;
  readonly localHost: string | null;
  readonly localIp: string;
  readonly localPort: number;
  readonly remoteHost: string | null;
  readonly remoteIp: string;
  readonly remoteInfo: string | null;
  readonly remotePort: number;
}

/** What differs between the servers' logs. */
export interface LogFlavour {
  /** `dropping connection` (0.88), `dropping SSL connection` (ucspi-ssl) */
  readonly dropping: string;
  /** keep ':' in the fields of every line (ucspi-ssl's safecats), not only in IPv6 ones */
  readonly keepColons: boolean;
  /** `ssl <pid> accept` after `ok`: none (tcpserver), bare, or with protocol and cipher (-V) */
  readonly tlsAccept: 'none' | 'bare' | 'details';
}

export const TCPSERVER_LOG: LogFlavour = { dropping: 'dropping connection', keepColons: false, tlsAccept: 'none' };

/** A TLS session as the log shows it. */
export interface TlsFacts {
  readonly protocol: string;
  readonly cipher: string;
}

export class ServerLog {
  private toldOutOfDescriptors = false;
  private readonly name: string;
  constructor(
    readonly diag: Diagnostics,
    private readonly flavour: LogFlavour = TCPSERVER_LOG,
  ) {
    this.name = diag.program;
  }

  get verbosity(): number {
    return this.diag.verbosity;
  }

  /** From now on (serving), one write per turn of the event loop (see Diagnostics.deferLines). */
  batch(): void {
    this.diag.deferLines();
  }

  status(children: number, limit: number): void {
    if (this.verbosity >= 2) this.diag.line(`${this.name}: status: ${children}/${limit}`);
  }

  pidFrom(pid: number, remoteIp: string): void {
    if (this.verbosity >= 2) this.diag.line(`${this.name}: pid ${pid} from ${remoteIp}`);
  }

  /** `suffix`: the tcpserver-limits patch's reason for a deny (` MAXCONNIP:5`), with its space. */
  verdict(deny: boolean, pid: number, f: ConnectionFacts, suffix = ''): void {
    if (this.verbosity < 2) return;
    const k = f.proto6 || this.flavour.keepColons;
    const local = `${safeField(f.localHost ?? '', k)}:${safeField(f.localIp, k)}:${safeField(String(f.localPort), k)}`;
    const remote =
      `${safeField(f.remoteHost ?? '', k)}:${safeField(f.remoteIp, k)}:` +
      `${safeField(f.remoteInfo ?? '', k)}:${safeField(String(f.remotePort), k)}`;
    this.diag.line(`${this.name}: ${deny ? 'deny' : 'ok'} ${pid} ${local} ${remote}${suffix}`);
  }

  /**
   * ucspi-ssl's `ssl <pid> accept ` (its trailing space kept), with -V `accept TLSv1.3:<cipher>`.
   * Logged after `ok`, where ucspi-ssl's TLS process logs it.
   */
  tlsAccepted(pid: number, tls: TlsFacts): void {
    if (this.verbosity < 2 || this.flavour.tlsAccept === 'none') return;
    const details = this.flavour.tlsAccept === 'details' ? `${tls.protocol}:${tls.cipher}` : '';
    this.diag.line(`${this.name}: ssl ${pid} accept ${details}`);
  }

  end(pid: number, waitStatus: number): void {
    if (this.verbosity >= 2) this.diag.line(`${this.name}: end ${pid} status ${waitStatus}`);
  }

  /** Said once per run (suppressed only by -q): 0.88, a process per connection, never runs out. */
  outOfDescriptors(): void {
    if (this.toldOutOfDescriptors) return;
    this.toldOutOfDescriptors = true;
    this.diag.warn('out of descriptors: new connections wait until some are free');
  }

  /** `tcpserver: warning: dropping connection, <reason>` (suppressed only by -q). */
  drop(reason: string): void {
    this.diag.warn(`${this.flavour.dropping}, ${reason}`);
  }
}

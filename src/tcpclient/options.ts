// tcpclient's command line as 0.88 reads it: sgetopt letters dDvqQhHrRi:p:t:T:l:, numbers by
// scan_ulong, -i by ip4_scan, later options overriding earlier ones.
import { getopt, GetoptProblem } from '../getopt';
import { scanNumber, scanUlong } from '../scan';

export const TCPCLIENT_USAGE =
  'tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program';

export interface ClientOptions {
  localIp: string;
  localPort: number;
  /** Connect deadlines in seconds: first pass, second pass (-T x+y). */
  connectTimeouts: [number, number];
  /** -l: TCPLOCALHOST without a lookup. */
  localName?: string;
  remoteHost: boolean;
  remoteInfo: boolean;
  /** Ident deadline in seconds (-t). */
  infoTimeout: number;
  /** false with -D: TCP_NODELAY. */
  delay: boolean;
  verbosity: number;
}

export type ParsedCommandLine =
  | { readonly kind: 'ok'; readonly options: ClientOptions; readonly operands: string[] }
  | { readonly kind: 'getopt'; readonly problem: GetoptProblem }
  | { readonly kind: 'usage'; readonly verbosity: number };

/** ip4_scan: four dot-separated runs of digits, each taken mod 256; trailing bytes ignored. */
export function scanIp4Prefix(s: string): string | null {
  const parts: number[] = [];
  let rest = s;
  for (let i = 0; i < 4; i++) {
    if (i > 0) {
      if (rest[0] !== '.') return null;
      rest = rest.slice(1);
    }
    const { value, length } = scanUlong(rest);
    if (length === 0) return null;
    parts.push(Number(value % 256n));
    rest = rest.slice(length);
  }
  return parts.join('.');
}

/** -T x+y: leading digits, an optional '+', leading digits (x alone means x+0). */
export function scanConnectTimeouts(s: string): [number, number] {
  const first = scanUlong(s);
  let rest = s.slice(first.length);
  if (rest[0] === '+') rest = rest.slice(1);
  return [Number(first.value), Number(scanUlong(rest).value)];
}

export function parseCommandLine(args: readonly string[]): ParsedCommandLine {
  const options: ClientOptions = {
    localIp: '0.0.0.0',
    localPort: 0,
    connectTimeouts: [2, 58],
    remoteHost: true,
    remoteInfo: true,
    infoTimeout: 26,
    delay: true,
    verbosity: 1,
  };
  const parsed = getopt(args, 'dDvqQhHrRi:p:t:T:l:');
  for (const { letter, arg = '' } of parsed.options) {
    switch (letter) {
      case 'd': options.delay = true; break;
      case 'D': options.delay = false; break;
      case 'v': options.verbosity = 2; break;
      case 'q': options.verbosity = 0; break;
      case 'Q': options.verbosity = 1; break;
      case 'h': options.remoteHost = true; break;
      case 'H': options.remoteHost = false; break;
      case 'r': options.remoteInfo = true; break;
      case 'R': options.remoteInfo = false; break;
      case 'l': options.localName = arg; break;
      case 'p': options.localPort = scanNumber(arg, 16); break;
      case 't': options.infoTimeout = scanNumber(arg); break;
      case 'T': options.connectTimeouts = scanConnectTimeouts(arg); break;
      case 'i': {
        const ip = scanIp4Prefix(arg);
        // 0.88 calls usage() right here, while the usage line can still be printed
        if (ip === null) return { kind: 'usage', verbosity: 1 };
        options.localIp = ip;
        break;
      }
    }
  }
  if (parsed.problem) return { kind: 'getopt', problem: parsed.problem };
  return { kind: 'ok', options, operands: parsed.operands };
}

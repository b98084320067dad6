// tcpclient's command line as 0.88 reads it: sgetopt letters dDvqQhHrRi:p:t:T:l:, numbers by
// scan_ulong, later options overriding earlier ones; plus the IPv6 variant's -4, -6, -I interface,
// and -i read by its scan_ip6 (IPv6, or IPv4 as ip4_scan reads it).
import { getopt, GetoptProblem } from '../getopt';
import { scanNumber, scanUlong } from '../scan';
import { formatIp4, scanIp4 } from '../dns/address';
import { LocalIp, scanLocalIp } from './address';
import { HeaderVersion, parseHeaderVersion } from '../proxy/send';

// 0.88's usage line: IPv4-only use stays byte-identical (the IPv6 variant's adds -46 and -I)
export const TCPCLIENT_USAGE =
  'tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program';

/** What tcpclient and sslclient read alike: where and how to connect, what to look up. */
export interface ConnectOptions {
  /** -i: dotted IPv4 or IPv6 text; null when not given (or `::`): any. */
  localIp: LocalIp;
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
  /** -4: IPv4 sockets only, A records only, `0` is 127.0.0.1. */
  ipv4Only: boolean;
  /** -6: PROTO=TCP6 and IPv6 text even for IPv4 connections (and `0` is ::1). */
  ipv6Form: boolean;
  /** -I: interface for scoped (link-local) IPv6 addresses. */
  interfaceName: string | null;
  /** -P 1|2: send a PROXY header of this version first (in neither 0.88 nor ucspi-ssl). */
  proxyHeader: HeaderVersion | null;
}

/** tcpclient's defaults (sslclient's differ in -D). */
export function defaultConnectOptions(): ConnectOptions {
  return {
    localIp: null,
    localPort: 0,
    connectTimeouts: [2, 58],
    remoteHost: true,
    remoteInfo: true,
    infoTimeout: 26,
    delay: true,
    verbosity: 1,
    ipv4Only: false,
    ipv6Form: false,
    interfaceName: null,
    proxyHeader: null,
  };
}

/**
 * One option letter tcpclient and sslclient read alike: true when taken, false for a letter it
 * does not know, 'usage' for an -i that does not scan (0.88 calls usage() right there, while the
 * usage line can still be printed) or a -P version that is neither 1 nor 2.
 */
export function applyConnectLetter(o: ConnectOptions, letter: string, arg = ''): boolean | 'usage' {
  switch (letter) {
    case 'd':
      o.delay = true;
      break;
    case 'D':
      o.delay = false;
      break;
    case 'v':
      o.verbosity = 2;
      break;
    case 'q':
      o.verbosity = 0;
      break;
    case 'Q':
      o.verbosity = 1;
      break;
    case 'h':
      o.remoteHost = true;
      break;
    case 'H':
      o.remoteHost = false;
      break;
    case 'r':
      o.remoteInfo = true;
      break;
    case 'R':
      o.remoteInfo = false;
      break;
    case 'l':
      o.localName = arg;
      break;
    case 'p':
      o.localPort = scanNumber(arg, 16);
      break;
    case 't':
      o.infoTimeout = scanNumber(arg);
      break;
    case 'T':
      o.connectTimeouts = scanConnectTimeouts(arg);
      break;
    case '4':
      o.ipv4Only = true;
      break;
    case '6':
      o.ipv6Form = true;
      break;
    case 'I':
      o.interfaceName = arg;
      break;
    case 'i': {
      const scanned = scanLocalIp(arg);
      if (scanned === null) return 'usage';
      o.localIp = scanned.ip;
      break;
    }
    case 'P': {
      const version = parseHeaderVersion(arg);
      if (version === null) return 'usage';
      o.proxyHeader = version;
      break;
    }
    default:
      return false;
  }
  return true;
}

export type ParsedCommandLine =
  | { readonly kind: 'ok'; readonly options: ConnectOptions; readonly operands: string[] }
  | { readonly kind: 'getopt'; readonly problem: GetoptProblem }
  | { readonly kind: 'usage'; readonly verbosity: number };

/** 0.88's ip4_scan on -i: four dot-separated runs of digits, each mod 256; trailing bytes ignored. */
export function scanIp4Prefix(s: string): string | null {
  const r = scanIp4(s);
  return r ? formatIp4(r.ip) : null;
}

/** -T x+y: leading digits, an optional '+', leading digits (x alone means x+0). */
export function scanConnectTimeouts(s: string): [number, number] {
  const first = scanUlong(s);
  let rest = s.slice(first.length);
  if (rest[0] === '+') rest = rest.slice(1);
  return [Number(first.value), Number(scanUlong(rest).value)];
}

export function parseCommandLine(args: readonly string[]): ParsedCommandLine {
  const options = defaultConnectOptions();
  const parsed = getopt(args, '46dDvqQhHrRi:p:t:T:l:I:P:');
  for (const { letter, arg = '' } of parsed.options) {
    if (applyConnectLetter(options, letter, arg) === 'usage') return { kind: 'usage', verbosity: 1 };
  }
  if (parsed.problem) return { kind: 'getopt', problem: parsed.problem };
  return { kind: 'ok', options, operands: parsed.operands };
}

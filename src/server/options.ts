// tcpserver's command line, as 0.88 reads it.
import { getopt, GetoptProblem } from '../getopt';
import { rawEnv } from '../rawproc';
import { scanNumber } from '../scan';

export const TCPSERVER_USAGE =
  'tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program';
// 0.88's letters plus the IPv6 variant's -4, -6 and -I interface, -C (ipsvd's and s6's letter
// for the per-address limit, free in 0.88), -0 (the listening socket on descriptor 0: a digit
// like -1, used by none of 0.88, fehcom's sslserver and ipsvd), and the TLS patch's -s, -S and
// -n certfile
const LETTERS = '046dDvqQhHrR1UXx:t:u:g:l:b:B:c:C:I:pPoOsSn:';

export interface ServerOptions {
  verbosity: 0 | 1 | 2;
  limit: number;
  backlog: number;
  rulesFile: string | null;
  /** -X: a missing rules file means "no rules". */
  rulesMissingOk: boolean;
  banner: string;
  uid: number;
  gid: number;
  printPort: boolean;
  /** -l: TCPLOCALHOST without a lookup (may be empty). */
  localName: string | null;
  remoteHostLookup: boolean;
  paranoid: boolean;
  remoteInfoLookup: boolean;
  /** ident timeout in seconds */
  timeout: number;
  keepIpOptions: boolean;
  noDelay: boolean;
  /** -4: IPv4 sockets only. */
  ipv4Only: boolean;
  /** -6: report IPv4 clients in IPv6 form (PROTO=TCP6, ::ffff:a.b.c.d). */
  ipv6Form: boolean;
  /** -I: interface for the scope of link-local addresses. */
  interfaceName: string | null;
  /** -C n[:message]: MAXCONNIP=n (and DIEMSG=message); 'invalid' when n is not a number. */
  perIpLimit: PerIpLimit | 'invalid' | null;
  /** -0: listen on the socket found on descriptor 0 (the s6 way) instead of binding. */
  listenOnStdin: boolean;
  /** -s (the ssl20020705 patch): TLS on every connection, with the key and certificate of `certFile`. */
  tls: boolean;
  /** -n: one PEM file holding the private key and the certificate. */
  certFile: string;
}

export interface PerIpLimit {
  readonly count: number;
  readonly message: string | null;
}

/** -C's argument: decimal digits, then nothing or ':' and the message. */
export function parsePerIpLimit(arg: string): PerIpLimit | 'invalid' {
  const m = /^(\d+)(?::(.*))?$/s.exec(arg);
  if (!m) return 'invalid';
  return { count: scanNumber(m[1], 64), message: m[2] ?? null };
}

export interface ServerArgs {
  readonly options: ServerOptions;
  readonly operands: string[];
  readonly problem?: GetoptProblem;
}

export function defaultServerOptions(): ServerOptions {
  return {
    verbosity: 1,
    limit: 40,
    backlog: 20,
    rulesFile: null,
    rulesMissingOk: false,
    banner: '',
    uid: 0,
    gid: 0,
    printPort: false,
    localName: null,
    remoteHostLookup: true,
    paranoid: false,
    remoteInfoLookup: true,
    timeout: 26,
    keepIpOptions: false,
    noDelay: false,
    ipv4Only: false,
    ipv6Form: false,
    interfaceName: null,
    perIpLimit: null,
    listenOnStdin: false,
    tls: false,
    certFile: './cert.pem',
  };
}

/**
 * One option letter that tcpserver and sslserver read alike; false for a letter it does not know.
 * Numbers are read as djb reads them; later letters override earlier ones.
 */
export function applyServerLetter(o: ServerOptions, letter: string, arg = ''): boolean {
  const num = (s: string) => scanNumber(s, 64);
  switch (letter) {
    case 'b':
      o.backlog = num(arg);
      break;
    case 'c':
      o.limit = num(arg);
      break;
    case 'X':
      o.rulesMissingOk = true;
      break;
    case 'x':
      o.rulesFile = arg;
      break;
    case 'B':
      o.banner = arg;
      break;
    case 'd':
      o.noDelay = false;
      break;
    case 'D':
      o.noDelay = true;
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
    case 'P':
      o.paranoid = false;
      break;
    case 'p':
      o.paranoid = true;
      break;
    case 'o':
      o.keepIpOptions = true;
      break;
    case 'O':
      o.keepIpOptions = false;
      break;
    case 'H':
      o.remoteHostLookup = false;
      break;
    case 'h':
      o.remoteHostLookup = true;
      break;
    case 'R':
      o.remoteInfoLookup = false;
      break;
    case 'r':
      o.remoteInfoLookup = true;
      break;
    case 't':
      o.timeout = num(arg);
      break;
    case 'U': {
      // 0.88 reads $UID/$GID when -U is parsed: later -u/-g override it, earlier ones do not
      const uid = rawEnv('UID');
      const gid = rawEnv('GID');
      if (uid !== undefined) o.uid = num(uid);
      if (gid !== undefined) o.gid = num(gid);
      break;
    }
    case 'u':
      o.uid = num(arg);
      break;
    case 'g':
      o.gid = num(arg);
      break;
    case '1':
      o.printPort = true;
      break;
    case 'l':
      o.localName = arg;
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
    case 'C':
      o.perIpLimit = parsePerIpLimit(arg);
      break;
    default:
      return false;
  }
  return true;
}

export function parseServerArgs(args: readonly string[]): ServerArgs {
  const { options: parsed, operands, problem } = getopt(args, LETTERS);
  const o = defaultServerOptions();
  for (const { letter, arg = '' } of parsed) {
    if (applyServerLetter(o, letter, arg)) continue;
    switch (letter) {
      case 's':
        o.tls = true;
        break;
      case 'S':
        o.tls = false;
        break;
      case 'n':
        o.certFile = arg;
        break;
      case '0':
        o.listenOnStdin = true;
        break;
    }
  }
  return { options: o, operands, problem };
}

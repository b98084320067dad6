// sslclient's command line as ucspi-ssl 0.95b reads it (getopt dDvqQhHrRi:p:t:T:l:a:A:c:z:k:V:346eEsSnN0xXw:,
// -I interface taking its argument, which 0.95b's string forgets): tcpclient's letters with its own
// defaults (TCP_NODELAY unless -d), and the TLS ones.
import { getopt, GetoptProblem } from '../getopt';
import { scanNumber } from '../scan';
import type { LocalIp } from '../tcpclient/address';
import { scanLocalIp } from '../tcpclient/address';
import { scanConnectTimeouts } from '../tcpclient/options';

export const SSLCLIENT_USAGE =
  'sslclient [ -463hHrRdDqQveEsSnNxX ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] [ -a cafile ] [ -A cadir ] [ -c certfile ] [ -z ciphers ] [ -k keyfile ] [ -V verifydepth ] [ -w progtimeout ] host port program';

const LETTERS = 'dDvqQhHrRi:p:t:T:l:a:A:c:z:k:V:346eEsSnN0xXw:I:';

export interface SslClientOptions {
  verbosity: number;
  localIp: LocalIp;
  localPort: number;
  /** -T x+y: connect deadlines, and x+y for the handshake */
  connectTimeouts: [number, number];
  localName?: string;
  remoteHost: boolean;
  remoteInfo: boolean;
  infoTimeout: number;
  /** -d: leave Nagle on (the default here is TCP_NODELAY) */
  delay: boolean;
  ipv4Only: boolean;
  /** -6: PROTO=SSL6 and IPv6 text even over IPv4 */
  ipv6Form: boolean;
  interfaceName: string | null;
  /** -a, -A: what to trust; neither: Node's built-in roots */
  caFile: string | null;
  caDir: string | null;
  /** -c, -k: a client certificate (the key in the certificate's file without -k) */
  certFile: string | null;
  keyFile: string | null;
  /** -z */
  ciphers: string | null;
  /** -V: intermediate certificates allowed between the server's and a trusted one */
  verifyDepth: number;
  /** -3 */
  passwordOnFd3: boolean;
  /** -s */
  sslEnvironment: boolean;
  /** -e */
  tcpEnvironment: boolean;
  /** -x (default) / -X: check the server's certificate */
  verifyServer: boolean;
  /** -n (default) / -N: check that it names the host operand */
  checkName: boolean;
  /** -w: seconds without a byte either way */
  idleTimeout: number;
}

export type ParsedSslClientLine =
  | { readonly kind: 'ok'; readonly options: SslClientOptions; readonly operands: string[] }
  | { readonly kind: 'getopt'; readonly problem: GetoptProblem }
  | { readonly kind: 'usage' };

export function parseSslClientArgs(args: readonly string[]): ParsedSslClientLine {
  const o: SslClientOptions = {
    verbosity: 1,
    localIp: null,
    localPort: 0,
    connectTimeouts: [2, 58],
    remoteHost: true,
    remoteInfo: true,
    infoTimeout: 26,
    delay: false,
    ipv4Only: false,
    ipv6Form: false,
    interfaceName: null,
    caFile: null,
    caDir: null,
    certFile: null,
    keyFile: null,
    ciphers: null,
    verifyDepth: 1,
    passwordOnFd3: false,
    sslEnvironment: false,
    tcpEnvironment: false,
    verifyServer: true,
    checkName: true,
    idleTimeout: 3600,
  };
  const parsed = getopt(args, LETTERS);
  // as ucspi-ssl: an empty file or cipher list is none
  const path = (s: string) => (s === '' ? null : s);
  for (const { letter, arg = '' } of parsed.options) {
    switch (letter) {
      case '4': o.ipv4Only = true; break;
      case '6': o.ipv6Form = true; break;
      case 'd': o.delay = true; break;
      case 'D': o.delay = false; break;
      case 'v': o.verbosity = 2; break;
      case 'q': o.verbosity = 0; break;
      case 'Q': o.verbosity = 1; break;
      case 'l': o.localName = arg; break;
      case 'H': o.remoteHost = false; break;
      case 'h': o.remoteHost = true; break;
      case 'R': o.remoteInfo = false; break;
      case 'r': o.remoteInfo = true; break;
      case 't': o.infoTimeout = scanNumber(arg); break;
      case 'T': o.connectTimeouts = scanConnectTimeouts(arg); break;
      case 'w': o.idleTimeout = scanNumber(arg, 32); break;
      case 'i': {
        const scanned = scanLocalIp(arg);
        if (scanned === null) return { kind: 'usage' };
        o.localIp = scanned.ip;
        break;
      }
      case 'I': o.interfaceName = arg; break;
      case 'p': o.localPort = scanNumber(arg, 16); break;
      case 'a': o.caFile = path(arg); break;
      case 'A': o.caDir = path(arg); break;
      case 'c': o.certFile = path(arg); break;
      case 'z': o.ciphers = path(arg); break;
      case 'k': o.keyFile = path(arg); break;
      case 'V': o.verifyDepth = scanNumber(arg, 32); break;
      case '3': o.passwordOnFd3 = true; break;
      case 'S': o.sslEnvironment = false; break;
      case 's': o.sslEnvironment = true; break;
      case 'E': o.tcpEnvironment = false; break;
      case 'e': o.tcpEnvironment = true; break;
      case 'N': o.checkName = false; break;
      case 'n': o.checkName = true; break;
      case 'x': o.verifyServer = true; break;
      case 'X': o.verifyServer = false; break;
      // '0' is in 0.95b's getopt string and does nothing
    }
  }
  if (parsed.problem) return { kind: 'getopt', problem: parsed.problem };
  return { kind: 'ok', options: o, operands: parsed.operands };
}

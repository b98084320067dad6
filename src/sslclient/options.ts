// sslclient's command line as ucspi-ssl 0.95b reads it (getopt dDvqQhHrRi:p:t:T:l:a:A:c:z:k:V:346eEsSnN0xXw:,
// -I interface taking its argument, which 0.95b's string forgets): tcpclient's letters with its own
// defaults (TCP_NODELAY unless -d), and the TLS ones.
import { getopt, GetoptProblem } from '../getopt';
import { scanNumber } from '../scan';
import { applyConnectLetter, ConnectOptions, defaultConnectOptions } from '../tcpclient/options';

// 0.95b's line as it is (a drop-in says the same): -y and -P are told in doc/sslclient.md
export const SSLCLIENT_USAGE =
  'sslclient [ -463hHrRdDqQveEsSnNxX ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] [ -I interface ] [ -a cafile ] [ -A cadir ] [ -c certfile ] [ -z ciphers ] [ -k keyfile ] [ -V verifydepth ] [ -w progtimeout ] host port program';

const LETTERS = 'dDvqQhHrRi:p:t:T:l:a:A:c:z:k:V:346eEsSnN0xXw:I:P:y';

export interface SslClientOptions extends ConnectOptions {
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
  /** -y: UCSPI-TLS, TLS when the program asks for it (the letter of the original patch; not in 0.95b) */
  ucspiTls: boolean;
}

export type ParsedSslClientLine =
  | { readonly kind: 'ok'; readonly options: SslClientOptions; readonly operands: string[] }
  | { readonly kind: 'getopt'; readonly problem: GetoptProblem }
  | { readonly kind: 'usage' };

export function parseSslClientArgs(args: readonly string[]): ParsedSslClientLine {
  const o: SslClientOptions = {
    ...defaultConnectOptions(),
    // ucspi-ssl sets TCP_NODELAY unless -d
    delay: false,
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
    ucspiTls: false,
  };
  const parsed = getopt(args, LETTERS);
  // as ucspi-ssl: an empty file or cipher list is none
  const path = (s: string) => (s === '' ? null : s);
  for (const { letter, arg = '' } of parsed.options) {
    const taken = applyConnectLetter(o, letter, arg);
    if (taken === 'usage') return { kind: 'usage' };
    if (taken) continue;
    switch (letter) {
      case 'w':
        o.idleTimeout = scanNumber(arg, 32);
        break;
      case 'a':
        o.caFile = path(arg);
        break;
      case 'A':
        o.caDir = path(arg);
        break;
      case 'c':
        o.certFile = path(arg);
        break;
      case 'z':
        o.ciphers = path(arg);
        break;
      case 'k':
        o.keyFile = path(arg);
        break;
      case 'V':
        o.verifyDepth = scanNumber(arg, 32);
        break;
      case '3':
        o.passwordOnFd3 = true;
        break;
      case 'S':
        o.sslEnvironment = false;
        break;
      case 's':
        o.sslEnvironment = true;
        break;
      case 'E':
        o.tcpEnvironment = false;
        break;
      case 'e':
        o.tcpEnvironment = true;
        break;
      case 'N':
        o.checkName = false;
        break;
      case 'n':
        o.checkName = true;
        break;
      case 'x':
        o.verifyServer = true;
        break;
      case 'X':
        o.verifyServer = false;
        break;
      case 'y':
        o.ucspiTls = true;
        break;
      // '0' is in 0.95b's getopt string and does nothing
    }
  }
  if (parsed.problem) return { kind: 'getopt', problem: parsed.problem };
  return { kind: 'ok', options: o, operands: parsed.operands };
}

// sslserver's command line, as fehcom's ucspi-ssl 0.95b reads it: tcpserver's letters with its own
// defaults (-R, -D), plus -V, -e/-E, -s/-S, -n/-N, -z/-m/-Z, -3, -T, -w. Also what tcpserver has
// here beyond 0.88: -C n[:msg], and -I interface taking its argument (0.95b's getopt string forgets it).
import { getopt } from '../getopt';
import { applyServerLetter, defaultServerOptions, ServerArgs, ServerOptions } from '../server/options';
import { scanNumber } from '../scan';
import type { ClientCertificates } from './client-certificate';

export const SSLSERVER_USAGE =
  'sslserver [ -1346UXpPhHrRoOdDqQvVIeEsSnNmzZ ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] [ -T ssltimeout ] [ -w progtimeout ] host port program';

const LETTERS = '1346dDvVqQhHrRUXx:t:T:u:g:l:b:B:c:C:I:pPoOEeSsw:nNzZm';

export interface SslServerOptions extends ServerOptions {
  /** -V: the `ssl <pid> accept` line names the protocol and cipher */
  tlsDetails: boolean;
  /** -e: the TCP* (and TCP6*) variables too, PROTO=TCP or TCP6 */
  tcpEnvironment: boolean;
  /** -s: the mod_ssl-style SSL_* variables */
  sslEnvironment: boolean;
  /** -3: the key's password, NUL-terminated, on fd 3 */
  passwordOnFd3: boolean;
  /** -T: seconds for the TLS handshake */
  handshakeTimeout: number;
  /** -w: seconds without a byte either way before the connection is closed */
  idleTimeout: number;
  /** -n: TLS only when the program asks for it (UCSPI-TLS); -N: at once */
  delayedTls: boolean;
  /** -Z none, -m a valid client certificate, -z one that also names the client's host */
  clientCertificates: ClientCertificates;
}

export interface SslServerArgs extends ServerArgs {
  readonly options: SslServerOptions;
}

export function parseSslServerArgs(args: readonly string[]): SslServerArgs {
  const { options: parsed, operands, problem } = getopt(args, LETTERS);
  const o: SslServerOptions = {
    ...defaultServerOptions(),
    remoteInfoLookup: false,
    // 0.95b's code sets TCP_NODELAY unless -d (its manual says -d is the default)
    noDelay: true,
    tlsDetails: false,
    tcpEnvironment: false,
    sslEnvironment: false,
    passwordOnFd3: false,
    handshakeTimeout: 26,
    idleTimeout: 3600,
    delayedTls: false,
    clientCertificates: 'none',
  };
  for (const { letter, arg = '' } of parsed) {
    if (letter === 'v' || letter === 'q' || letter === 'Q') o.tlsDetails = false;
    if (applyServerLetter(o, letter, arg)) continue;
    switch (letter) {
      case 'V':
        o.verbosity = 2;
        o.tlsDetails = true;
        break;
      case '3':
        o.passwordOnFd3 = true;
        break;
      case 'E':
        o.tcpEnvironment = false;
        break;
      case 'e':
        o.tcpEnvironment = true;
        break;
      case 'S':
        o.sslEnvironment = false;
        break;
      case 's':
        o.sslEnvironment = true;
        break;
      case 'T':
        o.handshakeTimeout = scanNumber(arg, 64);
        break;
      case 'w':
        o.idleTimeout = scanNumber(arg, 32);
        break;
      case 'n':
        o.delayedTls = true;
        break;
      case 'N':
        o.delayedTls = false;
        break;
      case 'Z':
        o.clientCertificates = 'none';
        break;
      case 'z':
        o.clientCertificates = 'host';
        break;
      case 'm':
        o.clientCertificates = 'mail';
        break;
    }
  }
  return { options: o, operands, problem };
}

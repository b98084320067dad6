// The TLS programs' messages, byte for byte where the originals have them: ucspi-ssl 0.95b's
// sslserver and sslclient, and the ssl20020705 patch's tcpserver.
import type { LogFlavour } from '../server/log';

/** Why a TLS context could not be made. */
export type ContextFailure = 'context' | 'chain' | 'cert' | 'key' | 'mismatch' | 'ca' | 'dh' | 'ciphers';

// 0.95b on OpenSSL 3 never reaches its own "key does not match certificate": OpenSSL refuses the
// key first, and it says "unable to load key" (sslclient: "key pair")
export const SSLSERVER_CONTEXT_FAILURES: Record<ContextFailure, string> = {
  context: 'unable to create SSL context',
  chain: 'unable to load certificate chain file',
  cert: 'unable to load certificate',
  key: 'unable to load key',
  mismatch: 'unable to load key',
  ca: 'unable to load CA list',
  dh: 'unable to set DH/RSA parameters',
  ciphers: 'unable to set cipher list',
};

export const SSLCLIENT_CONTEXT_FAILURES: Record<ContextFailure, string> = {
  ...SSLSERVER_CONTEXT_FAILURES,
  key: 'unable to load key pair',
  mismatch: 'unable to load key pair',
};

// the patch loads the key, then the certificate, from one file
export const PATCH_CONTEXT_FAILURES: Record<ContextFailure, string> = {
  ...SSLSERVER_CONTEXT_FAILURES,
  key: 'unable to load RSA private key',
  mismatch: 'unable to load certificate',
};

export const SSLSERVER_LOG: LogFlavour = { dropping: 'dropping SSL connection', keepColons: true, tlsAccept: 'bare' };
export const SSLSERVER_LOG_DETAILS: LogFlavour = { ...SSLSERVER_LOG, tlsAccept: 'details' };

/** `dropping SSL connection, unable to accept SSL: <reason>` */
export const sslserverHandshakeFailure = (reason: string): string => `unable to accept SSL: ${reason}`;
/** the patch's `dropping connection, unable to accept SSL connection`, with the reason */
export const patchHandshakeFailure = (reason: string): string => `unable to accept SSL connection: ${reason}`;

/** sslserver -n: the program wrote something other than `y` or `Y` on SSLCTLFD (not in ucspi-ssl) */
export const unknownUcspiTlsRequest = (byte: number): string => {
  const shown = byte > 32 && byte < 127 && byte !== 0x27 ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return `unknown request on SSLCTLFD: '${shown}' (neither y nor Y)`;
};

// sslserver's checks of a client certificate (-m, -z), after the handshake
export const NO_CLIENT_CERTIFICATE = 'no client certificate';
export const UNVERIFIED_CLIENT = 'missing credentials (CA) or unable to validate client certificate';
export const clientNameMismatch = (host: string): string => `client hostname does not match certificate: ${host}`;
/** CCAFILE that does not load (with -m or -z) */
export const CLIENT_CA_FAILURE = 'unable to load client CA list';

/** A certificate's name in messages: the default one has none, an SNI one is `for <name>`. */
const forName = (name: string | null): string => (name === null ? '' : ` for ${name}`);
/** At start-up: `sslserver: fatal: unable to load key for mail.example.org` */
export const namedFailure = (failure: string, name: string | null): string => `${failure}${forName(name)}`;
/** A renewed certificate that did not load: the one in use is kept. */
export const reloadFailure = (failure: string, name: string | null): string =>
  `unable to reload certificate${forName(name)}: ${failure}: keeping the one in use`;
/** -v, a certificate read again: `sslserver: reload 4211 /etc/ssl/mail.pem /etc/ssl/mail.key for mail.example.org` */
export const reloadLine = (program: string, pid: number, cert: string, key: string | null, name: string | null): string =>
  `${program}: reload ${pid} ${cert} ${key ?? ''}${forName(name)}`;

export const PASSWORD_TOO_LONG = 'password too long';
export const READ_PASSWORD = 'unable to read password';

// sslclient's checks of the server, after the handshake
export const NO_SERVER_CERTIFICATE = 'no server certificate';
export const UNVERIFIED_SERVER = 'missing credentials (CA) or unable to validate server certificate';
export const serverNameMismatch = (host: string): string => `server hostname does not match certificate: ${host}`;
/** `sslclient: fatal: unable to SSL connect: <reason>` */
export const sslConnectFailure = (reason: string): string => `unable to SSL connect: ${reason}`;

// sslclient's TLS over a connected socket: the handshake within the connect deadline, then ucspi-ssl's
// checks of the server (a certificate, trusted, within the verify depth, naming the host), each
// failure with its message.
import { isIP, Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, SecureContext, TLSSocket } from 'node:tls';
import { HandshakeTimeout, handshakeFailureText } from '../tls/failure';
import { NO_SERVER_CERTIFICATE, serverNameMismatch, sslConnectFailure, UNVERIFIED_SERVER } from '../tls/messages';
import { releaseWhenPeerGone } from '../tls/peer-gone';
import { peerChain } from '../tls/session';

/** Connect TLS on `socket` within `timeoutMs`; rejects with the failure otherwise. */
export function connectTls(socket: Socket, context: SecureContext, host: string, timeoutMs: number): Promise<TLSSocket> {
  // half-open is taken from the wrapped socket: the server's close_notify ends only the program's input
  socket.allowHalfOpen = true;
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  const tls = tlsConnect({
    socket,
    secureContext: context,
    // the server's name for SNI (ucspi-ssl 0.95b sends none; name-based servers need it)
    servername: isIP(host.replace(/^\[|\]$/g, '')) ? undefined : host,
    // the checks are ours, after the handshake, with ucspi-ssl's messages; `authorized` is then
    // the chain's verdict alone
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
  releaseWhenPeerGone(tls, fd);
  return new Promise((resolve, reject) => {
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      tls.on('error', () => {});
      tls.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new HandshakeTimeout()), timeoutMs);
    tls.once('error', fail);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      tls.removeListener('error', fail);
      tls.on('error', () => {});
      resolve(tls);
    });
  });
}

/** What is wrong with the server's certificate, or null. `verifyDepth`: intermediates allowed. */
export function serverProblem(tls: TLSSocket, host: string | null, verifyDepth: number): string | null {
  const cert = tls.getPeerCertificate();
  if (!cert || !cert.raw) return NO_SERVER_CERTIFICATE;
  if (!tls.authorized || peerChain(tls).length > verifyDepth) return UNVERIFIED_SERVER;
  if (host !== null && checkServerIdentity(host.replace(/^\[|\]$/g, ''), cert) !== undefined) return serverNameMismatch(host);
  return null;
}

export interface ClientTlsSettings {
  readonly context: SecureContext;
  /** the host operand: SNI, and the name the certificate must carry with -n */
  readonly host: string;
  /** -T's two parts together, ms */
  readonly timeoutMs: number;
  /** -x */
  readonly verifyServer: boolean;
  /** -n */
  readonly checkName: boolean;
  /** -V */
  readonly verifyDepth: number;
  /** -D: TCP_NODELAY on the socket once the session is up */
  readonly noDelay: boolean;
}

/**
 * sslclient's session: the handshake, `connected` called (the -v line), the server checked. The
 * session, or the message that ends sslclient.
 */
export async function clientSession(socket: Socket, s: ClientTlsSettings, connected: () => void): Promise<TLSSocket | string> {
  let tls: TLSSocket;
  try {
    tls = await connectTls(socket, s.context, s.host, s.timeoutMs);
  } catch (err) {
    return sslConnectFailure(handshakeFailureText(err));
  }
  connected();
  if (s.verifyServer) {
    const problem = serverProblem(tls, s.checkName ? s.host : null, s.verifyDepth);
    if (problem !== null) {
      tls.destroy();
      return problem;
    }
  }
  if (s.noDelay) socket.setNoDelay(true);
  return tls;
}

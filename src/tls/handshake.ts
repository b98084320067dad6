// The TLS handshake step of a server (sslserver, tcpserver -s): after the rules and limits, so that
// denied clients, scanners and failed handshakes never cost a process; bounded by -T. Node's
// TLSSocket wraps the accepted socket's own TCP handle (no JS stream in between); once the session
// is up the program starts on pipes and the server relays (src/server/relay.ts).
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Connection, Drop, relayOf, Step } from '../server/connection';
import { ClientCheck, clientCertificateProblem } from './client-certificate';
import { HandshakeTimeout, handshakeFailureText } from './failure';
import { releaseWhenPeerGone } from './peer-gone';
import type { ServerCertificates } from './server-certificates';
import type { Variables } from './certificate';
import { sessionEnvironment } from './session';

/** Refused clients handshaken at once to be told DIEMSG; more are closed without it. */
export const MAX_REFUSAL_HANDSHAKES = 64;

/** What the server's side of a handshake is made of. */
export interface TlsAcceptance {
  /** the default certificate and those chosen by SNI, each as its files are now */
  readonly certificates: ServerCertificates;
  /** ask the client for a certificate (-m, -z with CCAFILE); it is checked after the handshake */
  readonly requestCert?: boolean;
}

/** The server's side of TLS over an accepted socket; the handshake starts on the next tick. */
function serverTls(socket: Socket, a: TlsAcceptance): TLSSocket {
  // TLSSocket takes half-open from the socket it wraps: the client's close_notify or end of file
  // must end only the program's input, its output still goes out
  socket.allowHalfOpen = true;
  const { certificates } = a;
  return new TLSSocket(socket, {
    isServer: true,
    secureContext: certificates.fallback.current(),
    SNICallback: certificates.byName ? (name, done) => done(null, certificates.forName(name).current()) : undefined,
    requestCert: a.requestCert ?? false,
    // a missing or unverified certificate is told apart after the handshake, with ucspi-ssl's words
    rejectUnauthorized: false,
  });
}

/** A session refused after its handshake, for the reason given (a client certificate that does not do). */
export class SessionRefused extends Error {}

/**
 * Accept TLS on a connected socket within `timeoutMs`; rejects with the reason otherwise. `check`
 * looks at the session as the handshake ends (a client gone right after its Finished takes its
 * certificate with it), and its problem is a SessionRefused.
 */
export function acceptTls(
  socket: Socket,
  a: TlsAcceptance,
  timeoutMs: number,
  check?: (tls: TLSSocket) => string | null,
): Promise<TLSSocket> {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  const tls = serverTls(socket, a);
  releaseWhenPeerGone(tls, fd);
  return new Promise((resolve, reject) => {
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      tls.removeListener('secure', secured);
      tls.on('error', () => {});
      tls.destroy();
      reject(err);
    };
    const secured = (): void => {
      clearTimeout(timer);
      tls.removeListener('error', fail);
      tls.removeListener('close', closed);
      tls.removeListener('end', closed);
      // later errors (a reset mid-session) are the relay's to see
      tls.on('error', () => {});
      const problem = check?.(tls) ?? null;
      if (problem === null) return resolve(tls);
      tls.destroy();
      reject(new SessionRefused(problem));
    };
    const closed = (): void => fail(Object.assign(new Error('closed before the handshake'), { code: 'ECONNRESET' }));
    const timer = setTimeout(() => fail(new HandshakeTimeout()), timeoutMs);
    tls.once('secure', secured);
    tls.once('error', fail);
    tls.once('close', closed);
    // half-open keeps the socket after the client's end of file: mid-handshake that is the end
    tls.once('end', closed);
  });
}

export interface HandshakeSettings extends TlsAcceptance {
  /** -T, ms */
  readonly timeoutMs: number;
  /** -w, ms: the relay closes a connection idle this long */
  readonly idleMs: number;
  /** -s: the SSL_* variables for the program */
  readonly sslEnvironment: boolean;
  /** the drop reason for a failed handshake, given OpenSSL's or the socket's reason */
  readonly failure: (reason: string) => string;
  /** -m, -z: what the client's certificate must be */
  readonly clientCheck?: ClientCheck;
}

/** Wait for the writes the handshake queued (TLS 1.3 session tickets) so the session is complete. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The name a client certificate must carry with -z: the client's host name; when -p found that its
 * name does not lead back to it, its address (as ucspi-ssl checks it then); none without a name.
 */
function hostToMatch(c: Connection): string | null {
  if (c.remoteHost !== null) return c.remoteHost;
  return c.remoteHostRefused ? c.remoteIp : null;
}

/**
 * TLS for an admitted connection, its client certificate checked: the session, or a Drop with the
 * reason (the `ok` line logged first, as ucspi-ssl logs it).
 */
export async function secureConnection(c: Connection, s: HandshakeSettings): Promise<TLSSocket> {
  const clientCheck = s.clientCheck;
  const check = clientCheck && ((tls: TLSSocket) => clientCertificateProblem(tls, clientCheck, hostToMatch(c)));
  let tls: TLSSocket;
  try {
    tls = await acceptTls(c.socket, s, s.timeoutMs, check);
  } catch (err) {
    throw new Drop(err instanceof SessionRefused ? err.message : s.failure(handshakeFailureText(err)), true);
  }
  const cipher = tls.getCipher();
  c.tls = { protocol: tls.getProtocol() ?? '', cipher: cipher?.name ?? '' };
  return tls;
}

/** The SSL_* variables of a session (-s, the `Y` reply), once its handshake's writes are out. */
export async function sslVariables(tls: TLSSocket): Promise<Variables> {
  await settled();
  return sessionEnvironment(tls, 'SERVER');
}

/**
 * The step. An admitted client gets its session (or the connection is dropped, its `ok` line
 * logged first, as ucspi-ssl logs it); a refused one with a DIEMSG gets a session for the message
 * only, so a TLS client can read it (a line in clear would be a broken handshake to it).
 */
export function handshakeStep(s: HandshakeSettings): Step {
  let refusing = 0;
  const refuse = (c: Connection): void => {
    const refusal = c.refusal;
    if (!refusal || refusal.dieMsg === '') return;
    if (refusing >= MAX_REFUSAL_HANDSHAKES) {
      c.refusal = { ...refusal, dieMsg: '' };
      return;
    }
    // not waited for: the refusal holds no -c slot. DIEMSG written now goes out once the session
    // is up, and the closer's bound on a refused client's time covers the handshake too
    const tls = serverTls(c.socket, s);
    refusing++;
    tls.on('error', () => {});
    tls.once('close', () => refusing--);
    c.refusal = { ...refusal, via: tls };
  };
  return async (c) => {
    if (c.deny) return refuse(c);
    const tls = await secureConnection(c, s);
    const plan = relayOf(c);
    plan.client = tls;
    plan.idleMs = s.idleMs;
    if (s.sslEnvironment) for (const [name, value] of await sslVariables(tls)) c.env.set(name, value);
  };
}

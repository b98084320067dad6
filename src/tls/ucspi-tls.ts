// sslserver -n: UCSPI-TLS (ucspi-ssl's man/ucspi-tls.2). The program starts on the plaintext socket
// (fds 0 and 1) with a control socket (SSLCTLFD) and two pipes (SSLREADFD, SSLWRITEFD); this process
// keeps its own copy of the socket, reads nothing from it, and waits for one byte on the control
// socket: `y` starts TLS on that copy (what the client sent after STARTTLS and the program did not
// read is still in the kernel, and the handshake reads it), `Y` also answers with the session's
// variables; then the pipes are relayed over TLS as without -n.
import type { Socket } from 'node:net';
import { errorText } from '../errstr';
import type { TLSSocket } from 'node:tls';
import { wasInherited } from '../inherited';
import type { UcspiTlsDescriptors, UcspiTlsProgram } from '../server/children';
import { Connection, Drop, Step } from '../server/connection';
import type { ServerLog } from '../server/log';
import { relay } from '../server/relay';
import type { Variables } from './certificate';
import { HandshakeSettings, secureConnection, sslVariables } from './handshake';
import { unknownUcspiTlsRequest } from './messages';

/** A connection whose program asks for TLS itself: where its descriptors go, how TLS is made. */
export interface UcspiTlsPlan {
  readonly descriptors: UcspiTlsDescriptors;
  readonly handshake: HandshakeSettings;
}

/**
 * The program's descriptor numbers: the lowest three above 2 that do not carry a descriptor this
 * process inherited (programs get those too), nor the socket's when it is not on 0 and 1.
 */
export function ucspiTlsDescriptors(socket?: readonly [number, number]): UcspiTlsDescriptors {
  const free: number[] = [];
  for (let fd = 3; free.length < 3; fd++) if (!wasInherited(fd) && !socket?.includes(fd)) free.push(fd);
  return { socket, control: free[0], read: free[1], write: free[2] };
}

/** The program's environment for its descriptors. */
export function ucspiTlsVariables(d: UcspiTlsDescriptors): Variables {
  return [
    ['SSLCTLFD', String(d.control)],
    ['SSLREADFD', String(d.read)],
    ['SSLWRITEFD', String(d.write)],
  ];
}

/** The step in the handshake's place: an admitted client is given to its program in clear. */
export function ucspiTlsStep(plan: UcspiTlsPlan): Step {
  return (c) => {
    if (c.deny) return;
    c.ucspiTls = plan;
    for (const [name, value] of ucspiTlsVariables(plan.descriptors)) c.env.set(name, value);
  };
}

/** `NAME=value\0` each, and the closing `\0`. */
export function encodeReply(vars: Variables): Buffer {
  return Buffer.from(vars.map(([name, value]) => `${name}=${value}\0`).join('') + '\0', 'latin1');
}

/** `y`: start TLS; `Y`: start it and answer with the session's variables. */
export const START_TLS = 0x79;
export const START_TLS_AND_TELL = 0x59;

/** The program's request: its byte, or null for a control socket closed (or broken) without one. */
export function ucspiTlsRequest(control: Socket): Promise<number | null> {
  return new Promise((resolve) => {
    const done = (byte: number | null): void => {
      control.removeListener('data', data);
      control.removeListener('end', ended);
      control.removeListener('close', ended);
      control.pause();
      resolve(byte);
    };
    const data = (chunk: Buffer): void => done(chunk[0]);
    const ended = (): void => done(null);
    control.on('error', () => {});
    control.on('data', data);
    control.once('end', ended);
    control.once('close', ended);
  });
}

/** The program's copy made the socket blocking; ours is Node's again from now on. */
export function takeBackSocket(socket: Socket): void {
  (socket as unknown as { _handle?: { setBlocking?(b: boolean): number } })._handle?.setBlocking?.(false);
}

/**
 * Answer a request once TLS is on: `Y` gets the variables. The control socket is closed either way:
 * programs read the reply to end of file (ucspi-ssl 0.95b leaves it open and so hangs them).
 */
export async function answer(control: Socket, byte: number, variables: () => Promise<Variables> | Variables): Promise<void> {
  control.on('error', () => {});
  control.resume();
  if (byte === START_TLS_AND_TELL) control.end(encodeReply(await variables()));
  else control.end();
}

/** How a UCSPI-TLS session ended, for the server: `kill` asks it to end a program still running. */
export interface UcspiTlsEnd {
  readonly kill: boolean;
}

/**
 * The server's side of a UCSPI-TLS session, from the program's start to the end of the relay.
 * Resolves once this process holds nothing of the connection any more.
 */
export async function serveUcspiTls(c: Connection, program: UcspiTlsProgram, log: ServerLog): Promise<UcspiTlsEnd> {
  const plan = c.ucspiTls as UcspiTlsPlan;
  const { control } = program;
  const letGo = (): void => {
    control.destroy();
    program.toProgram.destroy();
    program.fromProgram.destroy();
    // closed, never shut down: the program's copy of the connection goes on
    c.socket.destroy();
  };
  const byte = await ucspiTlsRequest(control);
  // no request (the program closed SSLCTLFD, or exited): its plaintext session is its own
  if (byte === null) {
    letGo();
    return { kill: false };
  }
  if (byte !== START_TLS && byte !== START_TLS_AND_TELL) {
    log.drop(unknownUcspiTlsRequest(byte));
    letGo();
    return { kill: true };
  }
  takeBackSocket(c.socket);
  let tls: TLSSocket | undefined;
  try {
    tls = await secureConnection(c, plan.handshake);
    log.tlsAccepted(program.pid, c.tls!);
    const session = tls;
    await answer(control, byte, () => sslVariables(session));
  } catch (err) {
    log.drop(err instanceof Drop ? err.reason : `unable to serve: ${errorText(err)}`);
    // the program reads end of file on SSLREADFD, as when ucspi-ssl's TLS process dies
    tls?.destroy();
    letGo();
    return { kill: false };
  }
  await relay(tls, program, { layers: [], idleMs: plan.handshake.idleMs });
  control.destroy();
  return { kill: false };
}

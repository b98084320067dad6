// sslclient -y: the client side of UCSPI-TLS, which no other implementation has. The program starts
// on the plaintext connection (fds 6 and 7, as tcpclient's) with SSLCTLFD, SSLREADFD and SSLWRITEFD;
// this process keeps its own copy of the socket, reads nothing from it, and waits for one byte on the
// control socket as sslserver -n does (src/tls/ucspi-tls.ts): `y` or `Y` make the TLS session and
// check the server, `Y` answers with the SSL_* variables, and the pipes are relayed over TLS.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { errorText } from '../errstr';
import { makeLauncher, terminateProgram, UcspiTlsDescriptors } from '../server/children';
import { relay } from '../server/relay';
import type { Variables } from '../tls/certificate';
import { unknownUcspiTlsRequest } from '../tls/messages';
import { answer, START_TLS, START_TLS_AND_TELL, takeBackSocket, ucspiTlsRequest } from '../tls/ucspi-tls';
import type { Started } from './program';

/** Where the program has the connection: 6 to read, 7 to write (as tcpclient's). */
export const PROGRAM_SOCKET = [6, 7] as const;

export interface UcspiTlsClient {
  /** The session, or the message sslclient ends with. */
  readonly session: () => Promise<TLSSocket | string>;
  /** `Y`'s answer */
  readonly variables: (tls: TLSSocket) => Variables;
  /** Says why sslclient will exit 111 once the program is over. */
  readonly failed: (message: string) => void;
  /** -w, ms */
  readonly idleMs: number;
}

const EXIT_TEMPORARY_STATUS = 111 << 8;

/**
 * Start the program on the plaintext socket and serve its requests. `done` resolves with the wait
 * status sslclient ends with: the program's, or 111's when the TLS it asked for failed (once the
 * program is over: it reads end of file on SSLREADFD meanwhile).
 */
export async function runUcspiTlsProgram(
  socket: Socket,
  argv: readonly string[],
  environ: readonly string[],
  descriptors: UcspiTlsDescriptors,
  client: UcspiTlsClient,
): Promise<Started> {
  const launcher = makeLauncher(environ);
  let status: number | null = null;
  let exited: (s: number) => void = (s) => (status = s);
  launcher.onExit = (_pid, s) => exited(s);
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  let program;
  try {
    program = await launcher.launchUcspiTls({ program: argv[0], argv, env: environ, socket, fd, idle: true }, descriptors);
  } catch (error) {
    return { error };
  }
  const exit = new Promise<number>((resolve) => {
    if (status !== null) resolve(status);
    else exited = resolve;
  });
  const { control } = program;
  const letGo = (): void => {
    control.destroy();
    program.toProgram.destroy();
    program.fromProgram.destroy();
    socket.destroy();
  };
  const served = async (): Promise<number | null> => {
    const byte = await ucspiTlsRequest(control);
    // no request: the program's plaintext session is its own; sslclient ends as it ends
    if (byte === null) return (letGo(), null);
    if (byte !== START_TLS && byte !== START_TLS_AND_TELL) {
      client.failed(unknownUcspiTlsRequest(byte));
      letGo();
      if (status === null) terminateProgram(program.pid);
      return EXIT_TEMPORARY_STATUS;
    }
    takeBackSocket(socket);
    const tls = await client.session();
    if (typeof tls === 'string') {
      client.failed(tls);
      letGo();
      return EXIT_TEMPORARY_STATUS;
    }
    try {
      await answer(control, byte, () => client.variables(tls));
    } catch (err) {
      client.failed(`unable to answer on SSLCTLFD: ${errorText(err)}`);
      tls.destroy();
      letGo();
      return EXIT_TEMPORARY_STATUS;
    }
    await relay(tls, program, { layers: [], idleMs: client.idleMs, programEnd: 'half-close' });
    control.destroy();
    return null;
  };
  // with nothing of the connection left here, only the program's exit is awaited: a SIGCHLD
  // handler alone does not keep Node running
  const alive = setInterval(() => {}, 1 << 30);
  return {
    done: Promise.all([exit, served()]).then(([s, ours]) => {
      clearInterval(alive);
      return ours ?? s;
    }),
  };
}

// A connection relayed through the server process instead of handed to the program: the client side
// (the TCP socket, or a TLS socket over it) on one end, the program on two pipes on the other, and
// in-process layers between them (recordio's log, fixcrio's CRs). Each chunk is forwarded as soon as
// it is read, with backpressure both ways; the client's end of file gives the program end of file
// while its output still flows (half-close); the program's end of file ends the connection.
import type { Duplex } from 'node:stream';
import { CopyDirection, InputWriteFailure, runCopier } from '../copier/copier';
import type { PipedProgram } from './children';

/** One in-process step between client and program, made once the program's pid is known. */
export interface RelayLayer {
  /** [into the program, out of the program] */
  directions(pid: number): readonly [CopyDirection, CopyDirection];
  /** The layer is one of 0.88's copiers (recordio, fixcrio), which stop at a failed write. */
  readonly stopsOnWriteFailure?: boolean;
}

export interface RelayOptions {
  /** From the client's side to the program's. */
  readonly layers: readonly RelayLayer[];
  /** Close the connection after this long without a byte either way; 0 for never. */
  readonly idleMs: number;
  /**
   * What the program's end of output does: 'close' ends the connection (a server's program is
   * done); 'half-close' ends only our side (close_notify and FIN over TLS) and keeps the other
   * side's bytes flowing to the program until that side ends too (sslclient, as ucspi-ssl's relay).
   */
  readonly programEnd?: 'close' | 'half-close';
}

/** A connection that steps chose to relay: what the program talks to, through what. */
export interface RelayPlan extends RelayOptions {
  /** The client side: the accepted socket, or a layer over it (TLS). */
  client: Duplex;
  layers: RelayLayer[];
  idleMs: number;
}

/** How long a closing connection waits for the client's end of file (see closeLingering). */
export const LINGER_MS = 2000;

/**
 * End our side (close_notify and FIN over TLS) once what is queued is written, and close only
 * after the client's end of file, reading and dropping what it still sends meanwhile, for at most
 * LINGER_MS. Closing a socket with bytes of the client's unread makes the kernel reset the
 * connection, and a reset makes the client's kernel drop what we sent that the client has not read
 * yet: a client that sent its close_notify as soon as its handshake was done lost the program's
 * whole answer that way.
 */
export function closeLingering(client: Duplex): void {
  if (client.destroyed) return;
  const timer = setTimeout(() => client.destroy(), LINGER_MS);
  client.once('close', () => clearTimeout(timer));
  const destroyWhenDone = (): void => {
    if (client.writableFinished && client.readableEnded) client.destroy();
  };
  client.once('finish', destroyWhenDone);
  client.once('end', destroyWhenDone);
  client.end();
  client.resume();
  destroyWhenDone();
}

const PASS_THROUGH: CopyDirection = { forward: (chunk) => chunk, eof: () => {} };

/** Directions applied in order: a chunk goes through each, end of file reaches each. */
function chain(directions: readonly CopyDirection[]): CopyDirection {
  if (directions.length === 0) return PASS_THROUGH;
  if (directions.length === 1) return directions[0];
  return {
    forward(chunk) {
      for (const d of directions) chunk = d.forward(chunk);
      return chunk;
    },
    eof() {
      for (const d of directions) d.eof();
    },
  };
}

/** The layers' directions composed: input runs client to program, output program to client. */
export function composeLayers(layers: readonly RelayLayer[], pid: number): [CopyDirection, CopyDirection] {
  const made = layers.map((l) => l.directions(pid));
  return [chain(made.map(([input]) => input)), chain(made.map(([, output]) => output).reverse())];
}

/**
 * Relay between `client` and `program` until the program's output has ended and reached the client
 * (or the client is gone, or the connection was idle too long). Resolves once everything is closed.
 */
export function relay(client: Duplex, program: PipedProgram, o: RelayOptions): Promise<void> {
  return new Promise((resolve) => {
    let closed = false;
    // done once what the program wrote has been handed to the kernel, or the client is gone (a
    // lingering close goes on by itself: it holds no -c slot)
    const close = (): void => {
      if (closed) return;
      closed = true;
      program.toProgram.destroy();
      program.fromProgram.destroy();
      if (client.destroyed || client.writableFinished) return resolve();
      client.once('finish', () => resolve());
      client.once('close', () => resolve());
    };
    const [input, output] = composeLayers(o.layers, program.pid);
    // the client's end of file must not end our side: the program's answer still goes out
    client.allowHalfOpen = true;
    const failure: InputWriteFailure = o.layers.some((l) => l.stopsOnWriteFailure) ? 'finish' : 'discard';
    // the pipes' own errors (EPIPE from a program gone) are handled by the copier through 'error'
    program.fromProgram.on('error', () => {});
    client.on('error', () => {});
    // gone before the relay started (a reset during the handshake's last steps): nothing to relay
    if (client.destroyed) return close();
    client.once('close', close);
    if (o.idleMs > 0) {
      // a socket's own idle timer counts reads and writes: both directions
      (client as Duplex & { setTimeout(ms: number): unknown }).setTimeout(o.idleMs);
      client.once('timeout', () => {
        client.destroy();
        close();
      });
    }
    runCopier(
      { clientIn: client, programIn: program.toProgram, programOut: program.fromProgram, clientOut: client },
      input,
      output,
      () => {
        if (o.programEnd === 'half-close') {
          // the socket closes itself once the other side has ended too ('close' above)
          client.end();
          client.resume();
          return;
        }
        closeLingering(client);
        close();
      },
      failure,
      o.programEnd === 'half-close',
    );
    // an accepted socket starts paused (pauseOnConnect), and a 'data' listener does not undo that
    client.resume();
  });
}

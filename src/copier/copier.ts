// The copier half of recordio and fixcrio (0.88 forks; the child copies while the parent execs the
// program): client input -> program input, program output -> client output, each chunk passed through
// a per-direction hook. A direction reads again only once its last chunk has been written out (the
// one-buffer-per-direction loop of the original), so memory stays bounded.
import type { Readable, Writable } from 'node:stream';

export interface CopyDirection {
  /** The bytes to forward for a chunk just read; may log as a side effect. */
  forward(chunk: Buffer): Buffer;
  /** End of file (or a read error) on this direction's input. */
  eof(): void;
}

export interface CopierEnds {
  /** recordio's own stdin. */
  readonly clientIn: Readable;
  /** The program's stdin pipe. */
  readonly programIn: Writable & { destroy(): void };
  /** The program's stdout pipe. */
  readonly programOut: Readable;
  /** recordio's own stdout. */
  readonly clientOut: Writable;
}

/**
 * What a failed write to the program's input does: 'finish' stops everything (0.88's copier);
 * 'discard' drops the client's further input and keeps the program's output flowing to the client (a
 * TLS relay: a program that stops reading still gets its answer out).
 */
export type InputWriteFailure = 'finish' | 'discard';

/**
 * Copy both directions until the program's output ends or a write fails (0.88's copier then exits 0,
 * even with client input still unread). `done` is called once, after the client output is flushed.
 */
export function runCopier(
  ends: CopierEnds,
  input: CopyDirection,
  output: CopyDirection,
  done: () => void,
  inputWriteFailure: InputWriteFailure = 'finish',
): void {
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    ends.clientIn.pause();
    ends.programOut.pause();
    done();
  };

  const inputFailed = inputWriteFailure === 'finish' ? finish : () => ends.clientIn.resume();
  pipeDirection(ends.clientIn, ends.programIn, input, inputFailed, () => {
    // close the program's input once what was read has been written: it sees end of file
    whenFlushed(ends.programIn, () => ends.programIn.destroy());
  });
  pipeDirection(ends.programOut, ends.clientOut, output, finish, () => whenFlushed(ends.clientOut, finish), true);
}

const NOTHING = Buffer.alloc(0);

/**
 * Call `then` once everything written to `w` has gone out (or failed). 'drain' is no such signal:
 * it comes only after a write that found the buffer full, and a TLS socket (whose writes all
 * complete later) can hold a few bytes without ever having been full. Writes complete in order,
 * so an empty one completes after them.
 */
function whenFlushed(w: Writable, then: () => void): void {
  if (w.writableLength === 0) then();
  else w.write(NOTHING, () => then());
}

function pipeDirection(
  from: Readable,
  to: Writable,
  dir: CopyDirection,
  failed: () => void,
  atEof: () => void,
  deferEof = false,
): void {
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    // 0.88's loop looks at its input before the program's output: when both end in the same wakeup
    // ("< [EOF]" then "> [EOF]"), let the input's end be handled first
    if (deferEof) {
      setImmediate(() => {
        dir.eof();
        atEof();
      });
    } else {
      dir.eof();
      atEof();
    }
  };
  to.on('error', failed);
  from.on('error', end);
  // a stream that ended before we came (a TLS client's close_notify during the program's start)
  // has emitted its 'end' already
  if (from.readableEnded) end();
  else from.on('end', end);
  from.on('data', (chunk: Buffer) => {
    const out = dir.forward(chunk);
    // a sink that failed is gone: what still arrives is dropped (see InputWriteFailure)
    if (to.destroyed) return;
    if (!to.write(out)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
}

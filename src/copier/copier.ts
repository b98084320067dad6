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
  /** after `done`, the client's input still goes to the program (a half-close, sslclient's relay) */
  inputOutlivesOutput = false,
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
  const copying = (): boolean => !finished;
  // close the program's input once what was read has been written: it sees end of file
  pipeDirection(
    ends.clientIn,
    ends.programIn,
    input,
    inputFailed,
    () => ends.programIn.destroy(),
    inputOutlivesOutput ? () => true : copying,
  );
  pipeDirection(ends.programOut, ends.clientOut, output, finish, finish, copying, true);
}

/**
 * Copy `from` to `to` through `dir`; at end of file (or a read error), `atEof` runs once every chunk
 * written so far has been taken by `to` (a write may be pending without 'drain' ever coming: that
 * event follows only writes that returned false).
 */
function pipeDirection(
  from: Readable,
  to: Writable,
  dir: CopyDirection,
  failed: () => void,
  atEof: () => void,
  /** false once the copier has finished: what the client's side still does is not the copier's */
  copying: () => boolean,
  deferEof = false,
): void {
  let ended = false;
  let pending = 0;
  let whenWritten: (() => void) | null = null;
  const written = (): void => {
    pending--;
    if (pending === 0 && whenWritten) {
      const then = whenWritten;
      whenWritten = null;
      then();
    }
  };
  const passEof = (): void => {
    dir.eof();
    if (pending === 0) atEof();
    else whenWritten = atEof;
  };
  const end = (): void => {
    if (ended || !copying()) return;
    ended = true;
    // 0.88's loop looks at its input before the program's output: when both end in the same wakeup
    // ("< [EOF]" then "> [EOF]"), let the input's end be handled first
    if (deferEof) setImmediate(passEof);
    else passEof();
  };
  to.on('error', failed);
  from.on('error', end);
  // a stream that ended before we came (a TLS client's close_notify during the program's start)
  // has emitted its 'end' already
  if (from.readableEnded) end();
  else from.on('end', end);
  from.on('data', (chunk: Buffer) => {
    // a sink that failed or was closed is gone: what still arrives is dropped unseen (see
    // InputWriteFailure; a lingering close reads the client to its end)
    if (to.destroyed || !copying()) return;
    pending++;
    if (!to.write(dir.forward(chunk), written)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
}

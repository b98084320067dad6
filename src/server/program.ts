// What a connection runs when a step chose it (the in-process chain) instead of the server's program
// argv: another program, or a program that runs inside the server on a pair of streams, relayed to
// the client like a program on pipes.
import { Readable, Writable } from 'node:stream';
import type { PipedProgram } from './children';

export interface ProgramPlan {
  /** The program to start, searched in $PATH when it has no '/' (unused with `inProcess`). */
  readonly file: string;
  /** Its argv, argv[0] included. */
  readonly argv: readonly string[];
  /** Runs in this process instead of as a process: no file is started. */
  readonly inProcess?: InProcessProgram;
  /** Called with the pid once the `pid`/`ok` lines are written (also before a failure to start). */
  readonly announce?: (pid: number) => void;
  /**
   * Reports a failure to start `file` in place of tcpserver's `dropping connection` warning: the
   * helper that would have exec'd it says so, as it does in the external chain.
   */
  readonly launchFailed?: (pid: number, err: unknown) => void;
}

/** A program run by the server itself, given a connection number as its pid. */
export interface InProcessProgram {
  start(pid: number): RunningProgram;
}

export interface RunningProgram extends PipedProgram {
  /** Its wait status once it is over (exit code << 8). */
  readonly exited: Promise<number>;
  /**
   * Resolves if it ends abruptly (a process killed in the middle of a write): a client that has not
   * read all of its output is to be cut off, dropping the rest. Never resolves otherwise.
   */
  readonly hungUp: Promise<void>;
}

/** How an in-process program's body writes and ends. */
export interface ProgramOutput {
  /** Bytes (or latin1 text) for the client, in order. */
  write(data: Buffer | string): void;
  /** The program is over with this wait status: its output ends, further input is dropped. */
  exit(status: number): void;
  /** The same, and the connection is closed at once (see RunningProgram.hungUp). */
  hangUp(status: number): void;
}

/** What an in-process program does with its input. */
export interface ProgramBody {
  input(chunk: Buffer): void;
  /** End of input (the client's half-close, or the relay closing). */
  inputEnded(): void;
}

// A program whose reader is gone is killed by SIGPIPE, as a C program on a pipe would be.
const SIGPIPE_STATUS = 13;

/**
 * Run `makeBody` as a program on two streams, with backpressure: while the client is not reading what
 * the body wrote, the body gets no more input.
 */
export function startInProcess(pid: number, makeBody: (out: ProgramOutput) => ProgramBody): RunningProgram {
  let status: number | null = null;
  let resolveExited!: (status: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExited = resolve));
  let resolveHungUp!: () => void;
  const hungUp = new Promise<void>((resolve) => (resolveHungUp = resolve));
  /** The callback of an input write held back until the client reads again. */
  let heldWrite: (() => void) | null = null;
  let outputFull = false;

  const fromProgram = new Readable({
    read() {
      const held = heldWrite;
      heldWrite = null;
      held?.();
    },
    destroy(err, callback) {
      exit(SIGPIPE_STATUS);
      callback(err);
    },
  });
  const exit = (s: number): void => {
    if (status !== null) return;
    status = s;
    // A process takes at least a turn of the loop to answer and exit: a client's end of file that
    // came with its last command is then seen first (recordio logs "< [EOF]" before "> [EOF]").
    setImmediate(() => {
      if (!fromProgram.destroyed) fromProgram.push(null);
      resolveExited(s);
    });
    const held = heldWrite;
    heldWrite = null;
    held?.();
  };
  const body = makeBody({
    write(data) {
      if (status !== null || fromProgram.destroyed) return;
      if (!fromProgram.push(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)) outputFull = true;
    },
    exit,
    hangUp(s) {
      if (status !== null) return;
      exit(s);
      resolveHungUp();
    },
  });
  let inputDone = false;
  const endInput = (): void => {
    if (inputDone) return;
    inputDone = true;
    if (status === null) body.inputEnded();
  };
  const toProgram = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (status !== null) return callback();
      outputFull = false;
      body.input(chunk);
      if (outputFull && status === null) heldWrite = () => callback();
      else callback();
    },
    final(callback) {
      endInput();
      callback();
    },
    destroy(err, callback) {
      // the relay destroys the program's input to give it end of file, as it closes a pipe
      endInput();
      callback(err);
    },
  });
  return { pid, toProgram, fromProgram, exited, hungUp };
}

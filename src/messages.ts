// Writing djb-style diagnostics: one line, one write(2) to fd 2, latin1 bytes passed through.
import { writeSync } from 'node:fs';
import { errorText } from './errstr';

export const EXIT_USAGE = 100;
export const EXIT_TEMPORARY = 111;

/** What every program that runs another says when it cannot (pathexec failed): add `: <errstr>`. */
export function unableToRun(file: string): string {
  return `unable to run ${file}`;
}

/** Write a whole latin1 byte string to a file descriptor, retrying short writes. */
export function writeAll(fd: number, text: string | Buffer): void {
  // lines held back for this turn of the event loop go first: one order on fd 2
  if (fd === 2 && deferred.length > 0) writeDeferred();
  writeBytes(fd, text);
}

function writeBytes(fd: number, text: string | Buffer): void {
  const buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw err;
    }
  }
}

/** Lines for fd 2 held back until the end of this turn of the event loop (see deferLines). */
let deferred: string[] = [];
let flushing = false;

function writeDeferred(): void {
  const text = deferred.join('');
  deferred = [];
  try {
    writeBytes(2, text);
  } catch {
    // stderr gone, as in Diagnostics.line
  }
}

function deferLine(text: string): void {
  deferred.push(text);
  if (flushing) return;
  flushing = true;
  setImmediate(() => {
    flushing = false;
    writeDeferred();
  });
}

/** A program's voice on stderr: `prog: fatal: ...`, `prog: warning: ...`, usage. */
export class Diagnostics {
  /** 0 silences everything (-q); usage during option parsing is printed regardless by the caller. */
  verbosity = 1;
  private deferring = false;
  constructor(
    readonly program: string,
    readonly usageLine: string,
  ) {}

  /**
   * From now on, lines are written at the end of the event loop's turn, all of that turn's lines in
   * one write (a server's log under load: one write instead of five per connection). The order of
   * everything this process writes to fd 2 stays as it was: writeAll(2) writes held lines first, and
   * so does the exit.
   */
  deferLines(): void {
    if (this.deferring) return;
    this.deferring = true;
    process.on('exit', () => {
      if (deferred.length > 0) writeDeferred();
    });
  }

  line(text: string): void {
    if (this.deferring) return deferLine(text + '\n');
    try {
      writeAll(2, text + '\n');
    } catch {
      // stderr gone: nothing sensible left to do, the originals ignore it too
    }
  }

  say(text: string): void {
    if (this.verbosity > 0) this.line(`${this.program}: ${text}`);
  }

  warn(text: string): void {
    this.say(`warning: ${text}`);
  }

  fatal(text: string, code: number = EXIT_TEMPORARY): never {
    this.say(`fatal: ${text}`);
    process.exit(code);
  }

  /** fatal() for a text held as bytes (one that may be too long for a JS string). */
  fatalBytes(text: Buffer, code: number = EXIT_TEMPORARY): never {
    if (this.verbosity > 0) {
      try {
        writeAll(2, Buffer.concat([Buffer.from(`${this.program}: fatal: `), text, Buffer.from('\n')]));
      } catch {
        // stderr gone, as in line()
      }
    }
    process.exit(code);
  }

  /** `prog: fatal: <text>: <djb errstr>` exit 111. */
  fatalSys(text: string, err: unknown, code: number = EXIT_TEMPORARY): never {
    return this.fatal(`${text}: ${errorText(err)}`, code);
  }

  /** Usage line on stderr (unless silenced), exit 100. */
  usage(force = false): never {
    if (force || this.verbosity > 0) this.line(`${this.program}: usage: ${this.usageLine}`);
    process.exit(EXIT_USAGE);
  }
}

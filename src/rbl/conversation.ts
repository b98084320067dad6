// What a blocked client gets (§6.3): one log line on fd 2, then a fake SMTP server that accepts
// HELO/EHLO/MAIL/RSET/NOOP, answers everything else with the block message, and ends at QUIT,
// EOF, or when the -t time is up (exit 0 in every case, as 0.88).
import { writeAll } from '../messages';
import { exitAfterWriteError } from '../sigpipe';

/**
 * The reply text is cut at 500 bytes, as with the rss/QMailToaster patch (and Gentoo's build);
 * 0.88 cuts at 200. "553 " + 500 + CRLF stays within SMTP's 512-byte reply line.
 */
export const MAX_TEXT = 500;

const GREETING = '220 rblsmtpd.local\r\n';
const OK = '250 rblsmtpd.local\r\n';
const BYE = '221 rblsmtpd.local\r\n';
const ACCEPTED_VERBS = new Set(['helo', 'ehlo', 'mail', 'rset', 'noop']);

/** Bytes below 32 or above 126 become `?` (C compares a signed char, so 128-255 count too). */
export function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/** `<code> <text>` with the text cut and made printable. */
export function blockMessage(code: string, text: string): string {
  return printable(`${code} ${text.slice(0, MAX_TEXT)}`);
}

/**
 * `rblsmtpd: <TCPREMOTEIP> pid <pid>: <text>` (the address as given, unchanged). The pid is the
 * process's own, or inside tcpserver the connection's number (see doc/tcpserver.md).
 */
export function logLine(remoteIp: string, pid: number, text: string): string {
  return `rblsmtpd: ${remoteIp} pid ${pid}: ${text}\n`;
}

/** The SMTP verb of a command line: bytes before the first space, ASCII letters lowered. */
export function verbOf(line: string): string {
  const space = line.indexOf(' ');
  return (space < 0 ? line : line.slice(0, space)).replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The reply to one command line (without its LF), and whether the session ends after it. */
export function replyTo(line: string, message: string): { reply: string; quit: boolean } {
  // a NUL inside a command becomes LF, so "quit\0" is not QUIT; then one trailing CR goes
  let cmd = line.replace(/\0/g, '\n');
  if (cmd.endsWith('\r')) cmd = cmd.slice(0, -1);
  const verb = verbOf(cmd);
  if (verb === 'quit') return { reply: BYE, quit: true };
  return { reply: ACCEPTED_VERBS.has(verb) ? OK : message + '\r\n', quit: false };
}

/** Longest delay setTimeout takes; longer alarms are chained. */
const MAX_TIMER_MS = 0x7fffffff;

/** alarm(seconds) with setTimeout; returns what cancels it. */
function alarmIn(ms: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = left <= MAX_TIMER_MS ? setTimeout(fire, left) : setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS);
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** Where a session talks: the client's side (stdout, or a connection inside tcpserver). */
export interface RefusalIo {
  /** One reply, written out before the next one is made. */
  write(text: string): void;
  /** The session is over (0.88 exits 0): nothing more is written, the client is let go. */
  end(): void;
  /**
   * The -t time is up (0.88's alarm exits 0 at once, even in the middle of a write to a client that
   * does not read): the connection is closed, whatever the client has not taken is dropped.
   */
  expire(): void;
}

/**
 * A blocked client's session: the log line, then the greeting and a reply per command line, until
 * QUIT, end of input, or -t seconds. `timeout` is -t: 0 means write the message once and end;
 * otherwise it is passed to alarm(), an unsigned int (a value that truncates to 0 sets no alarm).
 */
export class RefusalSession {
  private pending = '';
  private over = false;
  private cancelAlarm: () => void = () => {};

  constructor(
    private readonly message: string,
    private readonly io: RefusalIo,
  ) {}

  /** Log (on fd 2, as `pid`) and greet. */
  start(remoteIp: string, pid: number, timeout: bigint): void {
    try {
      writeAll(2, logLine(remoteIp, pid, this.message));
    } catch {
      // the log is gone; the client still gets its answer
    }
    if (timeout === 0n) {
      this.io.write(this.message + '\r\n');
      return this.finish();
    }
    const alarmSeconds = Number(timeout & 0xffffffffn);
    if (alarmSeconds > 0) this.cancelAlarm = alarmIn(alarmSeconds * 1000, () => this.finish(true));
    this.io.write(GREETING);
  }

  /** Bytes from the client. */
  input(chunk: Buffer): void {
    if (this.over) return;
    this.pending += chunk.toString('latin1');
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const { reply, quit } = replyTo(this.pending.slice(0, nl), this.message);
      this.pending = this.pending.slice(nl + 1);
      this.io.write(reply);
      if (this.over) return;
      if (quit) return this.finish();
    }
  }

  /** End of input or a read error. */
  inputEnded(): void {
    this.finish();
  }

  get ended(): boolean {
    return this.over;
  }

  private finish(expired = false): void {
    if (this.over) return;
    this.over = true;
    this.cancelAlarm();
    if (expired) this.io.expire();
    else this.io.end();
  }
}

function send(text: string): void {
  try {
    writeAll(1, text);
  } catch (err) {
    exitAfterWriteError(err, 0);
  }
}

/** The standalone program's session, on its stdin and stdout; the process exits 0 at its end. */
export function refuseSession(remoteIp: string, message: string, timeout: bigint): void {
  const exit = (): never => process.exit(0);
  const session = new RefusalSession(message, { write: send, end: exit, expire: exit });
  session.start(remoteIp, process.pid, timeout);
  const stdin = process.stdin;
  stdin.on('data', (chunk: Buffer) => session.input(chunk));
  stdin.on('end', () => session.inputEnded());
  stdin.on('error', () => session.inputEnded());
}

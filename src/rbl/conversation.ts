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

/** `rblsmtpd: <TCPREMOTEIP> pid <pid>: <text>` (the address as given, unchanged). */
export function logLine(remoteIp: string, text: string): string {
  return `rblsmtpd: ${remoteIp} pid ${process.pid}: ${text}\n`;
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

function send(text: string): void {
  try {
    writeAll(1, text);
  } catch (err) {
    exitAfterWriteError(err, 0);
  }
}

/** Longest delay setTimeout takes; longer alarms are chained. */
const MAX_TIMER_MS = 0x7fffffff;

function alarmIn(ms: number, fire: () => void): void {
  if (ms <= MAX_TIMER_MS) setTimeout(fire, ms);
  else setTimeout(() => alarmIn(ms - MAX_TIMER_MS, fire), MAX_TIMER_MS);
}

/**
 * Log the block and talk to the client. `timeout` is -t: 0 means print the message once and exit;
 * otherwise it is passed to alarm(), an unsigned int (a value that truncates to 0 sets no alarm).
 */
export function refuseSession(remoteIp: string, message: string, timeout: bigint): never | void {
  writeAll(2, logLine(remoteIp, message));
  if (timeout === 0n) {
    send(message + '\r\n');
    process.exit(0);
  }
  const alarmSeconds = Number(timeout & 0xffffffffn);
  if (alarmSeconds > 0) alarmIn(alarmSeconds * 1000, () => process.exit(0));
  send(GREETING);
  let pending = '';
  const stdin = process.stdin;
  stdin.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const { reply, quit } = replyTo(pending.slice(0, nl), message);
      pending = pending.slice(nl + 1);
      send(reply);
      if (quit) process.exit(0);
    }
  });
  stdin.on('end', () => process.exit(0));
  stdin.on('error', () => process.exit(0));
}

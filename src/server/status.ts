// Live counts for an operator: a Unix socket the operator names in TCPSERVERSTATUS, answering every
// connection with a report in tcpserver's log-line style and closing it. A socket, not a signal:
// 0.88 dies of SIGUSR1/SIGUSR2/SIGHUP/SIGINFO's defaults and tcpserver keeps 0.88's signals, Node
// takes SIGUSR1 for its inspector, and the answer goes to the one who asked, not into the log.
// The report is bounded (STATUS_ENTRIES lines per table) and made in one pass over the tables on
// the accept loop's thread; the answer is written asynchronously, and a client that does not read
// is closed after STATUS_TIMEOUT_MS, at most MAX_STATUS_CLIENTS at a time.
import { chmodSync, lstatSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer, Server, Socket } from 'node:net';
import { formatRate, limitKeyText, LimitSettings, RefusalReason } from '../limits';
import type { ServerLimits } from './limits';

/** The variable naming the status socket (in tcpserver's environment; programs see it too). */
export const STATUS_VARIABLE = 'TCPSERVERSTATUS';
/** entries shown per table (addresses, networks, rate) */
export const STATUS_ENTRIES = 32;
export const STATUS_TIMEOUT_MS = 5000;
export const MAX_STATUS_CLIENTS = 4;

/** What the report is made of, read when a client asks. */
export interface StatusSource {
  /** connections accepted and not ended (0.88's `status: n/limit`) */
  running(): number;
  /** -c */
  readonly limit: number;
  /** the limits' counts (always there when the status socket is: see serverLimits) */
  readonly limits?: ServerLimits;
}

/** The names the deny line and the rules use, for each refusal reason. */
const REASON_NAMES: Record<RefusalReason, string> = { ip: 'MAXCONNIP', net: 'MAXCONNC', load: 'LOAD', rate: 'MAXRATEIP' };

function defaultsText(s: LimitSettings): string {
  const set: string[] = [];
  if (s.maxConnIp !== null) set.push(`MAXCONNIP:${s.maxConnIp}`);
  if (s.maxConnNet !== null) set.push(`MAXCONNC:${s.maxConnNet}`);
  if (s.maxLoad > 0) set.push(`MAXLOAD:${s.maxLoad}`);
  if (s.maxRate !== null) set.push(`MAXRATEIP:${formatRate(s.maxRate)}`);
  return set.length ? set.join(' ') : 'none';
}

/** tokens left, as a reader wants them: whole numbers whole, others to one decimal */
function tokensText(n: number): string {
  const tenths = Math.floor(n * 10) / 10;
  return Number.isInteger(tenths) ? String(tenths) : tenths.toFixed(1);
}

/** The report, one `tcpserver: ` line per fact, bounded by `entries` lines per table. */
export function statusReport(source: StatusSource, entries = STATUS_ENTRIES): string {
  const lines = [`status: ${source.running()}/${source.limit}`];
  const limits = source.limits;
  if (limits) {
    const engine = limits.engine;
    const counts = engine.status();
    const detail = engine.detail(entries);
    lines.push(
      `limits: ${counts.running} running from ${counts.addresses} addresses in ${counts.networks} networks, ` +
        `${counts.rateEntries} addresses in the rate table, ${counts.delayed} refused clients held`,
      `defaults: ${defaultsText(limits.defaults)}`,
      `refused: ${(Object.keys(REASON_NAMES) as RefusalReason[]).map((r) => `${REASON_NAMES[r]}:${engine.refusals[r]}`).join(' ')}`,
    );
    for (const a of detail.addresses) lines.push(`ip ${limitKeyText(a.key)} ${a.count}`);
    if (counts.addresses > detail.addresses.length) lines.push(`ip: ${counts.addresses - detail.addresses.length} more`);
    for (const n of detail.networks) lines.push(`net ${limitKeyText(n.key)} ${n.count}`);
    if (counts.networks > detail.networks.length) lines.push(`net: ${counts.networks - detail.networks.length} more`);
    for (const r of detail.rates) lines.push(`rate ${limitKeyText(r.key)} ${tokensText(r.left)} left of ${formatRate(r.rate)}`);
    if (counts.rateEntries > detail.rates.length) lines.push(`rate: ${counts.rateEntries - detail.rates.length} more`);
  }
  return lines.map((l) => `tcpserver: ${l}\n`).join('');
}

function answer(socket: Socket, report: () => string): void {
  socket.on('error', () => {});
  // whatever the client sends is read and dropped: the answer does not depend on it
  socket.resume();
  socket.setTimeout(STATUS_TIMEOUT_MS, () => socket.destroy());
  let text: string;
  try {
    text = report();
  } catch (err) {
    text = `tcpserver: warning: no status: ${String(err)}\n`;
  }
  socket.end(Buffer.from(text, 'latin1'));
}

export interface StatusSocket {
  readonly server: Server;
  /** Remove the socket file if it is still this one (not replaced by a newer tcpserver's). */
  remove(): void;
}

/**
 * Listen on `path` (mode 0600: the user tcpserver starts as, and root, may ask). The socket is made
 * under a temporary name and renamed over `path`, so a stale socket of a previous run is replaced
 * and a running tcpserver's is taken over without a moment where the path is missing.
 */
export function openStatusSocket(path: string, report: () => string): Promise<StatusSocket> {
  const fresh = `${path}.${process.pid}.new`;
  // libuv reports a missing directory as EACCES: ask the file system first, for the true reason
  try {
    statSync(dirname(path));
  } catch (err) {
    return Promise.reject(err);
  }
  rmSync(fresh, { force: true });
  const server = createServer((socket) => answer(socket, report));
  // past this many at once, Node closes a new client at once
  server.maxConnections = MAX_STATUS_CLIENTS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(fresh, () => {
      let ino: number;
      try {
        chmodSync(fresh, 0o600);
        renameSync(fresh, path);
        ino = lstatSync(path).ino;
      } catch (err) {
        server.close();
        rmSync(fresh, { force: true });
        reject(err);
        return;
      }
      server.off('error', reject);
      server.on('error', () => {});
      const remove = () => {
        try {
          if (lstatSync(path).ino === ino) unlinkSync(path);
        } catch {
          // gone already, or no longer ours to remove (after -u)
        }
      };
      resolve({ server, remove });
    });
  });
}

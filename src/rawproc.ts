// Raw bytes of this process's arguments and environment. Node decodes argv and environ as UTF-8,
// which turns odd bytes into U+FFFD; the originals pass bytes through untouched, so we read
// /proc/self when it exists and represent byte strings as latin1 JS strings (one char per byte).
import { readFileSync } from 'node:fs';

function splitNul(buf: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0) {
      out.push(buf.toString('latin1', start, i));
      start = i + 1;
    }
  }
  if (start < buf.length) out.push(buf.toString('latin1', start));
  return out;
}

function fromUtf8(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

// The bin/ shims start node with NODE_EXTRA_CA_CERTS moved to this name, because Node 20 reads that
// certificate file at every start-up (about 30 ms); put it back where the programs we run will see it.
// An empty NODE_EXTRA_CA_CERTS cannot be told from an unset one there and is dropped.
const MOVED_CA_CERTS = 'UCSPI_TS_EXTRA_CA_CERTS';
const CA_CERTS = 'NODE_EXTRA_CA_CERTS';

// bin/tcpserver's shim passes the signal dispositions Node resets at start-up under this name
// (see src/signals.ts); it is ours alone and no program sees it.
const SHIM_SIGNALS = 'UCSPI_TS_SIGNALS';

function restoreMovedEntries(entries: string[]): string[] {
  const out = entries.filter((e) => !e.startsWith(SHIM_SIGNALS + '='));
  const at = out.findIndex((e) => e.startsWith(MOVED_CA_CERTS + '='));
  if (at < 0) return out;
  const value = out[at].slice(MOVED_CA_CERTS.length + 1);
  if (value === '') out.splice(at, 1);
  else out[at] = `${CA_CERTS}=${value}`;
  return out;
}

const shimSignals = process.env[SHIM_SIGNALS];
delete process.env[SHIM_SIGNALS];
{
  const moved = process.env[MOVED_CA_CERTS];
  if (moved !== undefined) {
    delete process.env[MOVED_CA_CERTS];
    if (moved !== '') process.env[CA_CERTS] = moved;
  }
}

/** What bin/tcpserver's shim saw before Node started: "SigIgn SigBlk" as /proc shows them (hex). */
export function shimSignalMasks(): string | undefined {
  return shimSignals;
}

let argvCache: string[] | undefined;

/** The program's arguments after the script name (what C sees as argv[1..]), as latin1 byte strings. */
export function rawArgs(): string[] {
  if (argvCache) return argvCache;
  const wanted = process.argv.length - 2;
  try {
    const all = splitNul(readFileSync('/proc/self/cmdline'));
    if (all.length >= wanted) return (argvCache = all.slice(all.length - wanted));
  } catch {
    // no /proc: fall through
  }
  return (argvCache = process.argv.slice(2).map(fromUtf8));
}

/** argv[0] as the original would see it: the script path. */
export function programPath(): string {
  return process.argv[1] ?? '';
}

let execEnviron: { entries: string[]; names: Set<string> } | null | undefined;

/** /proc/self/environ, read and parsed once: it shows the environment as it was at exec time. */
function environAtExec(): { entries: string[]; names: Set<string> } | null {
  if (execEnviron !== undefined) return execEnviron;
  try {
    const entries = restoreMovedEntries(splitNul(readFileSync('/proc/self/environ')));
    return (execEnviron = { entries, names: new Set(entries.map((e) => e.slice(0, e.indexOf('=') >>> 0))) });
  } catch {
    return (execEnviron = null);
  }
}

/** The environment as ordered latin1 "NAME=value" entries, as execve would receive it. */
export function rawEnviron(): string[] {
  // later process.env changes are not in /proc/self/environ, so only trust it when it agrees with
  // process.env on the set of names
  const atExec = environAtExec();
  if (atExec) {
    const live = Object.keys(process.env);
    if (live.length === atExec.names.size && live.every((n) => atExec.names.has(fromUtf8(n)))) return atExec.entries.slice();
  }
  return Object.entries(process.env).map(([k, v]) => fromUtf8(`${k}=${v ?? ''}`));
}

/** Value of an environment variable as a latin1 byte string, or undefined when unset. */
export function rawEnv(name: string): string | undefined {
  const prefix = name + '=';
  for (const e of rawEnviron()) if (e.startsWith(prefix)) return e.slice(prefix.length);
  return undefined;
}

/** latin1 byte string to bytes. */
export function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

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

/** The environment as ordered latin1 "NAME=value" entries, as execve would receive it. */
export function rawEnviron(): string[] {
  try {
    // /proc/self/environ shows the environment at exec time; later process.env changes are not
    // in it, so only trust it when it agrees with process.env on the set of names.
    const entries = splitNul(readFileSync('/proc/self/environ'));
    const names = new Set(entries.map((e) => e.slice(0, e.indexOf('=') >>> 0)));
    const live = Object.keys(process.env);
    if (live.length === names.size && live.every((n) => names.has(fromUtf8(n)))) return entries;
  } catch {
    // fall through
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

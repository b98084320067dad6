// The limit settings of one connection: tcpserver's own environment (or -C) gives the defaults,
// the variables of the connection's rule override them, as the tcpserver-limits patch does
// (`192.168.:allow,MAXCONNIP="20"`).
import { scanUlong } from '../scan';
import type { Rate } from './rate';

export interface LimitSettings {
  /** MAXLOAD: refuse while the 1-minute load × 100 is above this; 0: no load check */
  readonly maxLoad: number;
  /** MAXCONNIP: concurrent connections per address; null: no limit; 0: refuse all */
  readonly maxConnIp: number | null;
  /** MAXCONNC: concurrent connections per IPv4 /24 or IPv6 /64; null: no limit; 0: refuse all */
  readonly maxConnNet: number | null;
  /** MAXRATEIP: new connections per address per interval; null: no limit */
  readonly maxRate: Rate | null;
  /** DIEMSG: line sent (CRLF added) to a client before closing it; '': none */
  readonly dieMsg: string;
}

export const NO_LIMITS: LimitSettings = { maxLoad: 0, maxConnIp: null, maxConnNet: null, maxRate: null, dieMsg: '' };

/** scan_ulong, as the patch reads every number: leading digits, none is 0 (so "" means 0). */
function ulong(s: string): number {
  return Number(scanUlong(s).value);
}

/**
 * MAXRATEIP: `n/seconds`, or `n` for per second. n is read as the patch reads its numbers; seconds
 * below 1 count as 1. Unlike the patch's variables, a value without leading digits (including "")
 * means no rate limit: a typo never refuses everyone, and a rule can lift a default.
 */
export function parseRate(s: string): Rate | null {
  const n = scanUlong(s);
  if (n.length === 0) return null;
  let seconds = 1;
  if (s[n.length] === '/') seconds = Math.max(1, ulong(s.slice(n.length + 1)));
  return { count: Number(n.value), seconds };
}

export function formatRate(r: Rate): string {
  return `${r.count}/${r.seconds}`;
}

/** One variable applied to settings (null: the name is not a limit variable). */
function applyVariable(s: LimitSettings, name: string, value: string): LimitSettings | null {
  switch (name) {
    case 'MAXLOAD':
      return { ...s, maxLoad: ulong(value) };
    case 'MAXCONNIP':
      return { ...s, maxConnIp: ulong(value) };
    case 'MAXCONNC':
      return { ...s, maxConnNet: ulong(value) };
    case 'MAXRATEIP':
      return { ...s, maxRate: parseRate(value) };
    case 'DIEMSG':
      return { ...s, dieMsg: value };
    default:
      return null;
  }
}

export const LIMIT_VARIABLES: readonly string[] = ['MAXLOAD', 'MAXCONNIP', 'MAXCONNC', 'MAXRATEIP', 'DIEMSG'];

/** Defaults from an environment lookup (tcpserver's own environment). */
export function settingsFromEnvironment(get: (name: string) => string | undefined): LimitSettings {
  let s = NO_LIMITS;
  for (const name of LIMIT_VARIABLES) {
    const v = get(name);
    if (v !== undefined) s = applyVariable(s, name, v) ?? s;
  }
  return s;
}

/** The settings with a rule's variables (in rule order, the last one of a name wins) applied. */
export function withRuleVariables(s: LimitSettings, vars: Iterable<readonly [string, string]>): LimitSettings {
  for (const [name, value] of vars) s = applyVariable(s, name, value) ?? s;
  return s;
}

/** Whether the settings ask for any check at all (DIEMSG alone asks for none). */
export function limitsAnything(s: LimitSettings): boolean {
  return s.maxLoad > 0 || s.maxConnIp !== null || s.maxConnNet !== null || s.maxRate !== null;
}

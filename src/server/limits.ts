// The limits step of the connection path (after rules, whose variables override tcpserver's
// environment), and what tcpserver needs to set it up: the defaults from its environment and -C.
import { Admission, ConnectionLimits, LimitSettings, limitsAnything, settingsFromEnvironment, withRuleVariables } from '../limits';
import type { Socket } from 'node:net';
import type { Step } from './connection';
import type { ServerOptions } from './options';

/** How a refused connection is closed. */
export interface Refusal {
  /** appended to the `deny` line: ` MAXCONNIP:5` ('' for a rules deny) */
  readonly suffix: string;
  /** DIEMSG, sent with CRLF before closing ('' for none) */
  readonly dieMsg: string;
  /** hold the connection for the patch's second before closing (a limit tripped) */
  readonly delay: boolean;
  /** where DIEMSG goes when not to the socket itself: a TLS session made for it */
  readonly via?: Socket;
}

/** What a connection carries through the limits step. */
export interface LimitedConnection {
  readonly remoteIp: string;
  deny: boolean;
  /** the matching rule's variables, in rule order (set by the rules step) */
  ruleEnv?: ReadonlyArray<readonly [string, string]>;
  /** its place in the counts while it runs: released when it ends, however it ends */
  admission?: Admission;
  refusal?: Refusal;
}

export interface ServerLimits {
  readonly engine: ConnectionLimits;
  /** from tcpserver's environment and -C */
  readonly defaults: LimitSettings;
}

/**
 * -C n[:message] is MAXCONNIP=n (and DIEMSG=message) in tcpserver's environment: the same defaults,
 * and the program sees the same variables. Returns the environment to run with.
 */
export function environWithPerIpLimit(environ: readonly string[], o: ServerOptions): readonly string[] {
  const limit = o.perIpLimit;
  if (limit === null || limit === 'invalid') return environ;
  const set = new Map([['MAXCONNIP', String(limit.count)]]);
  if (limit.message !== null) set.set('DIEMSG', limit.message);
  const kept = environ.filter((e) => !set.has(e.slice(0, e.indexOf('='))));
  return [...kept, ...[...set].map(([n, v]) => `${n}=${v}`)];
}

/**
 * The limits tcpserver runs with, or undefined when none can ever apply (no limit variable in its
 * environment and no rules file to set one) and no one will ask for the counts (`counted`, the
 * status socket): then connections are not even counted.
 */
export function serverLimits(environ: readonly string[], o: ServerOptions, counted = false): ServerLimits | undefined {
  const get = (name: string): string | undefined => {
    const prefix = name + '=';
    const e = environ.find((x) => x.startsWith(prefix));
    return e === undefined ? undefined : e.slice(prefix.length);
  };
  const defaults = settingsFromEnvironment(get);
  if (!limitsAnything(defaults) && o.rulesFile === null && !counted) return undefined;
  return { engine: new ConnectionLimits(), defaults };
}

/**
 * Admit the connection into the counts, or refuse it (deny, with the reason for the log and
 * DIEMSG). A connection the rules denied is not counted; it gets DIEMSG if one is set, as with
 * the patch.
 */
export function limitsStep(limits: ServerLimits): Step {
  return (c: LimitedConnection) => {
    const s = c.ruleEnv === undefined ? limits.defaults : withRuleVariables(limits.defaults, c.ruleEnv);
    if (c.deny) {
      if (s.dieMsg !== '') c.refusal = { suffix: '', dieMsg: s.dieMsg, delay: false };
      return;
    }
    const d = limits.engine.decide(c.remoteIp, s);
    if (d.admit) {
      c.admission = d.admission;
      return;
    }
    c.deny = true;
    c.refusal = { suffix: d.suffix, dieMsg: d.dieMsg, delay: true };
  };
}

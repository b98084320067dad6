// tcpserver's program argv read as a chain: each leading program that is one of ours is parsed
// exactly as it parses its own arguments and becomes a link the server does itself, until the first
// program that must run as a process (or addcr/delcr, which end every chain they are in).
import { getopt, ParsedOption } from '../getopt';
import { RBLSMTPD_OPTIONS } from '../rbl/client';
import type { Helper, OurPrograms } from './recognise';

export type Link =
  | { readonly kind: 'rblsmtpd'; readonly options: readonly ParsedOption[] }
  | { readonly kind: 'recordio' }
  | { readonly kind: 'fixcrio' }
  | { readonly kind: 'argv0' };

export type ChainEnd =
  /** a program to start: `file` found as the last link would find it, run with `argv` */
  | { readonly kind: 'program'; readonly file: string; readonly argv: readonly string[] }
  /** addcr or delcr: stdin to stdout through a CR filter, arguments ignored */
  | { readonly kind: 'filter'; readonly filter: 'addcr' | 'delcr' };

export interface ChainPlan {
  /** The links done in the server, in order (never empty). */
  readonly links: readonly Link[];
  readonly end: ChainEnd;
  /** The link that would exec `end` (`rblsmtpd: fatal: unable to run ...`); null for a filter alone. */
  readonly runner: Link['kind'] | null;
}

/**
 * The chain for a program argv under a $PATH, or null when its first program is not one of ours
 * (or is one of ours with a usage error: it then runs as a program and says so itself).
 */
export function planChain(argv: readonly string[], ours: OurPrograms, pathVar: string | undefined): ChainPlan | null {
  const links: Link[] = [];
  let file = argv[0];
  let rest = argv.slice(1);
  let argv0 = file;
  const ended = (end: ChainEnd): ChainPlan | null =>
    links.length === 0 && end.kind === 'program' ? null : { links, end, runner: links[links.length - 1]?.kind ?? null };
  for (;;) {
    const helper: Helper | null = ours.helperAt(file, pathVar);
    const external = (): ChainPlan | null => ended({ kind: 'program', file, argv: [argv0, ...rest] });
    switch (helper) {
      case null:
        return external();
      case 'addcr':
      case 'delcr':
        return ended({ kind: 'filter', filter: helper });
      case 'rblsmtpd': {
        const parsed = getopt(rest, RBLSMTPD_OPTIONS);
        if (parsed.problem || parsed.operands.length === 0) return external();
        links.push({ kind: 'rblsmtpd', options: parsed.options });
        [file, ...rest] = parsed.operands;
        argv0 = file;
        break;
      }
      case 'recordio':
      case 'fixcrio':
        // no options: the first argument is the program, whatever it looks like
        if (rest.length === 0) return external();
        links.push({ kind: helper });
        [file, ...rest] = rest;
        argv0 = file;
        break;
      case 'argv0':
        if (rest.length < 2) return external();
        links.push({ kind: 'argv0' });
        [file, argv0, ...rest] = rest;
        break;
    }
  }
}

/** How long a chain found under one $PATH is trusted before $PATH is searched again. */
export const RECHECK_MS = 1000;
const MAX_PATHS = 16;

/**
 * The chain for each $PATH a program is given (rules may set PATH), searched at most once a second:
 * a helper replaced by another program, or a program of the same name put earlier in $PATH, counts
 * from the first connection after the next search. The searches (a stat per $PATH element up to the
 * hit, and realpath) are synchronous: a few tens of microseconds, once a second at most.
 */
export class ChainPlanner {
  private readonly known = new Map<string, { plan: ChainPlan | null; at: number }>();

  constructor(
    private readonly argv: readonly string[],
    private readonly ours: OurPrograms,
  ) {}

  planFor(pathVar: string | undefined, now = Date.now()): ChainPlan | null {
    const key = pathVar ?? '\0';
    const hit = this.known.get(key);
    if (hit && now - hit.at < RECHECK_MS) return hit.plan;
    const plan = planChain(this.argv, this.ours, pathVar);
    if (!hit && this.known.size >= MAX_PATHS) this.known.clear();
    this.known.set(key, { plan, at: now });
    return plan;
  }
}

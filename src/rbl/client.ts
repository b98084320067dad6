// rblsmtpd's whole decision for one client, from its options and the environment it was given:
// $RBLSMTPD, then the -r/-a lookups in option order under $RBLTIMEOUT. Shared by the standalone
// program (its own environment) and tcpserver's in-process chain (the environment the program
// would have been given).
import type { ParsedOption } from '../getopt';
import { scanUlong } from '../scan';
import { blockMessage, printable } from './conversation';
import { RblDecision, RblLookups } from './decision';

export const RBLSMTPD_OPTIONS = 'bBcCt:r:a:';
// 0.88's usage line advertises a -R that does not exist; kept as is
export const RBLSMTPD_USAGE = 'rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]';

export type RblOutcome =
  /** not blocked: the SMTP program runs */
  | { readonly kind: 'pass' }
  /** $RBLTIMEOUT ran out: let through, after logging `note` */
  | { readonly kind: 'timed-out'; readonly note: string }
  /** the fake SMTP session with `message` (code and text), for `timeout` seconds (-t) */
  | { readonly kind: 'block'; readonly message: string; readonly timeout: bigint };

/** `getenv` over whichever environment rblsmtpd runs in. */
export type EnvironmentValue = (name: string) => string | undefined;

export async function decideClient(options: readonly ParsedOption[], env: EnvironmentValue, lookups: RblLookups): Promise<RblOutcome> {
  const decision = new RblDecision(env('TCPREMOTEIP') ?? '', lookups);
  decision.applyEnvironment(env('RBLSMTPD'));

  // QMailToaster's RBLTIMEOUT: all lookups together, read only when $RBLSMTPD has not decided
  const rblTimeout = decision.verdict === 'undecided' ? scanUlong(env('RBLTIMEOUT') ?? '').value : 0n;
  const ms = Number(rblTimeout & 0xffffffffn) * 1000;
  let lookupsTimedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    if (ms === 0) return;
    timer = setTimeout(
      () => {
        lookupsTimedOut = true;
        resolve();
      },
      Math.min(ms, 0x7fffffff),
    );
  });

  const lookupsDone = (async (): Promise<void> => {
    for (const opt of options) {
      // once the deadline has passed, the rest of the options are not acted on
      if (lookupsTimedOut) return;
      switch (opt.letter) {
        case 'b':
          decision.bounce = true;
          break;
        case 'B':
          decision.bounce = false;
          break;
        case 'c':
          decision.failClosed = true;
          break;
        case 'C':
          decision.failClosed = false;
          break;
        case 't':
          decision.timeout = scanUlong(opt.arg!).value;
          break;
        case 'r':
          await decision.rbl(opt.arg!);
          break;
        case 'a':
          await decision.antirbl(opt.arg!);
          break;
      }
    }
  })();
  await Promise.race([lookupsDone, deadline]);
  if (timer) clearTimeout(timer);

  if (lookupsTimedOut) return { kind: 'timed-out', note: printable(`timeout while waiting for : ${decision.lastBase}`) };
  if (decision.blocked) return { kind: 'block', message: blockMessage(decision.code, decision.text), timeout: decision.timeout };
  return { kind: 'pass' };
}

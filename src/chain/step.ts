// The in-process chain as a step of tcpserver's connection path, after the rules and the limits:
// each link reads the environment the program would have been given (rule variables included),
// rblsmtpd decides (its lookups are asynchronous), recordio and fixcrio become relay layers, argv0
// renames what follows; then the server starts the one program left, or runs a blocked client's
// session or addcr/delcr itself.
import { errorText } from '../errstr';
import { copierDirections, CopierMode } from '../copier/modes';
import { dnsServersFor, ip4ForName, txtForName } from '../dns';
import { Diagnostics, unableToRun, writeAll } from '../messages';
import { KnownEnviron } from '../pathexec';
import { decideClient } from '../rbl/client';
import { logLine } from '../rbl/conversation';
import type { RblLookups } from '../rbl/decision';
import { relayOf, Step } from '../server/connection';
import type { ProgramPlan } from '../server/program';
import { composeLayers, RelayLayer } from '../server/relay';
import { ChainPlan, ChainPlanner } from './plan';
import { filterProgram, refusalProgram } from './programs';
import { OurPrograms, ourBinDir } from './recognise';

/** The switch: `UCSPI_TS_CHAIN=off` in tcpserver's environment runs every program as a program. */
export const CHAIN_SWITCH = 'UCSPI_TS_CHAIN';

/** getenv over "NAME=value" entries: the first entry with the name, as libc's. */
export function valueIn(environ: readonly string[], name: string): string | undefined {
  const prefix = name + '=';
  for (const e of environ) if (e.startsWith(prefix)) return e.slice(prefix.length);
  return undefined;
}

function copierLayer(mode: CopierMode): RelayLayer {
  // 0.88's copiers stop at a failed write (stopsOnWriteFailure), and log with the program's pid
  return { directions: (pid) => copierDirections(mode, pid), stopsOnWriteFailure: true };
}

const RECORDIO = copierLayer('recordio');
const FIXCRIO = copierLayer('fixcrio');

function lookupsWith(dnsCacheIp: string | undefined): RblLookups {
  return {
    txt: (name) => txtForName(name, dnsServersFor(dnsCacheIp)),
    ip4: (name) => ip4ForName(name, dnsServersFor(dnsCacheIp)),
  };
}

function stderrLine(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // as the helpers: a lost log line does not stop the connection
  }
}

/**
 * The links of `plan` for one connection, whose program environment is `environ`: what runs at the
 * end, and the relay layers on the way.
 */
async function runLinks(plan: ChainPlan, environ: readonly string[]): Promise<{ program: ProgramPlan; layers: RelayLayer[] }> {
  const value = (name: string): string | undefined => valueIn(environ, name);
  const layers: RelayLayer[] = [];
  /** rblsmtpd's RBLTIMEOUT lines, which carry the pid of the program it becomes */
  const notes: string[] = [];
  const announce = (pid: number): void => {
    for (const note of notes) stderrLine(logLine(value('TCPREMOTEIP') ?? '', pid, note));
  };
  for (const link of plan.links) {
    switch (link.kind) {
      case 'rblsmtpd': {
        const outcome = await decideClient(link.options, value, lookupsWith(value('DNSCACHEIP')));
        if (outcome.kind === 'timed-out') notes.push(outcome.note);
        if (outcome.kind === 'block') {
          const inProcess = refusalProgram(value('TCPREMOTEIP') ?? '', outcome.message, outcome.timeout);
          return { program: { file: '', argv: [], inProcess, announce }, layers };
        }
        break;
      }
      case 'recordio':
        layers.push(RECORDIO);
        break;
      case 'fixcrio':
        layers.push(FIXCRIO);
        break;
      case 'argv0':
        // the rename is in the plan's argv already
        break;
    }
  }
  const end = plan.end;
  if (end.kind === 'filter') return { program: { file: '', argv: [], inProcess: filterProgram(end.filter), announce }, layers };
  const runner = plan.runner;
  const launchFailed = (pid: number, err: unknown): void => {
    // the link that would have exec'd it says so (exit 111); recordio's copier then logs the end
    // of the program's output
    if (runner) new Diagnostics(runner, '').say(`fatal: ${unableToRun(end.file)}: ${errorText(err)}`);
    composeLayers(layers, pid)[1].eof();
  };
  return { program: { file: end.file, argv: end.argv, announce, launchFailed }, layers };
}

export interface InProcessChain {
  readonly step: Step;
  /** Search $PATH now (after tcpserver has set its uid and gid: the programs run as those). */
  prime(): void;
}

/**
 * The chain step for tcpserver's program argv, or null when nothing can run in-process: the switch
 * is off, or none of our helpers is installed beside this program.
 */
export function inProcessChain(argv: readonly string[], environ: readonly string[]): InProcessChain | null {
  if (valueIn(environ, CHAIN_SWITCH) === 'off') return null;
  const ours = new OurPrograms(ourBinDir());
  if (ours.empty) return null;
  const planner = new ChainPlanner(argv, ours);
  const base = new KnownEnviron(environ);
  // synchronous when nothing runs in-process (the server's fast path takes no promise for it)
  const step: Step = (c) => {
    if (c.deny) return;
    const env = c.env.apply(base);
    const plan = planner.planFor(valueIn(env, 'PATH'));
    c.environ = env;
    if (!plan) return;
    return runLinks(plan, env).then(({ program, layers }) => {
      // sslserver -n: the program must own the socket, and a copier (recordio, fixcrio) between them
      // cannot be a relay layer here; the chain's programs then run as programs, as in C (where the
      // copier holds the socket and TLS through it cannot work either: doc/sslserver.md)
      if (layers.length && c.ucspiTls && !program.inProcess) return;
      c.program = program;
      if (layers.length) relayOf(c).layers.push(...layers);
    });
  };
  return { step, prime: () => void planner.planFor(valueIn(environ, 'PATH')) };
}

// rblsmtpd: decide from $RBLSMTPD and the -r/-a lookups; blocked clients get the fake SMTP
// session, everyone else gets the SMTP program, which this process becomes (exec in place).
import { errnoText } from '../errstr';
import { execProgram } from '../execprogram';
import { libc } from '../ffi';
import { getopt, getoptProblemMessage } from '../getopt';
import { Diagnostics, writeAll } from '../messages';
import { blockMessage, logLine, printable, refuseSession } from '../rbl/conversation';
import { RblDecision, RblLookups } from '../rbl/decision';
import { rawArgs, rawEnv, rawEnviron } from '../rawproc';
import { scanUlong } from '../scan';

// 0.88's usage line advertises a -R that does not exist; kept as is
const USAGE = 'rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]';
const OPTIONS = 'bBcCt:r:a:';

// Loaded on first use: most runs under $RBLSMTPD or with a pass never need all of it, and every
// module is paid for once per SMTP connection.
/* eslint-disable @typescript-eslint/no-require-imports */
const dns = (): typeof import('../dns') => require('../dns');
const dnsLookups: RblLookups = { txt: (name) => dns().txtForName(name), ip4: (name) => dns().ip4ForName(name) };

function runProgram(diag: Diagnostics, argv: string[]): void {
  const lib = libc();
  if (lib) {
    const errno = execProgram(lib, argv[0], argv, rawEnviron());
    diag.fatal(`unable to run ${argv[0]}: ${errnoText(errno)}`);
  }
  // without FFI: the program as a child on our stdio, signals passed on, its status ours
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'];
  for (const sig of signals) process.on(sig, forward);
  child.on('error', (err) => diag.fatalSys(`unable to run ${argv[0]}`, err));
  child.on('exit', (code, signal) => {
    if (signal) {
      for (const sig of signals) process.removeListener(sig, forward);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 111);
  });
}

export async function main(): Promise<void> {
  const diag = new Diagnostics('rblsmtpd', USAGE);
  const parsed = getopt(rawArgs(), OPTIONS);
  // Options are checked before any lookup (as the RBLTIMEOUT patch does); 0.88 looked up first and
  // complained after, which prints the same thing later.
  if (parsed.problem) {
    diag.line(getoptProblemMessage('rblsmtpd', parsed.problem));
    diag.usage(true);
  }
  if (parsed.operands.length === 0) diag.usage(true);

  const remoteIp = rawEnv('TCPREMOTEIP') ?? '';
  const decision = new RblDecision(remoteIp, dnsLookups);
  decision.applyEnvironment(rawEnv('RBLSMTPD'));

  const rblTimeout = decision.verdict === 'undecided' ? scanUlong(rawEnv('RBLTIMEOUT') ?? '').value : 0n;
  let lookupsTimedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    if (rblTimeout === 0n) return;
    const ms = Number(rblTimeout & 0xffffffffn) * 1000;
    if (ms === 0) return;
    timer = setTimeout(() => {
      lookupsTimedOut = true;
      resolve();
    }, Math.min(ms, 0x7fffffff));
  });

  const lookups = (async (): Promise<void> => {
    for (const opt of parsed.options) {
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
  await Promise.race([lookups, deadline]);
  if (timer) clearTimeout(timer);

  if (lookupsTimedOut) {
    // QMailToaster's RBLTIMEOUT: give up on the lists, log it, let the client through
    writeAll(2, logLine(remoteIp, printable(`timeout while waiting for : ${decision.lastBase}`)));
    return runProgram(diag, parsed.operands);
  }
  if (decision.blocked) {
    return refuseSession(remoteIp, blockMessage(decision.code, decision.text), decision.timeout);
  }
  runProgram(diag, parsed.operands);
}

// rblsmtpd: decide from $RBLSMTPD and the -r/-a lookups; blocked clients get the fake SMTP
// session, everyone else gets the SMTP program, which this process becomes (exec in place).
import { errnoText } from '../errstr';
import { execProgram } from '../execprogram';
import { libc } from '../ffi';
import { getopt, getoptProblemMessage } from '../getopt';
import { Diagnostics, unableToRun, writeAll } from '../messages';
import { decideClient, RBLSMTPD_OPTIONS, RBLSMTPD_USAGE } from '../rbl/client';
import { logLine, refuseSession } from '../rbl/conversation';
import type { RblLookups } from '../rbl/decision';
import { rawArgs, rawEnv, rawEnviron } from '../rawproc';

// Loaded on first use: most runs under $RBLSMTPD or with a pass never need all of it, and every
// module is paid for once per SMTP connection.
/* eslint-disable @typescript-eslint/no-require-imports */
const dns = (): typeof import('../dns') => require('../dns');
const dnsLookups: RblLookups = { txt: (name) => dns().txtForName(name), ip4: (name) => dns().ip4ForName(name) };

function runProgram(diag: Diagnostics, argv: string[]): void {
  const lib = libc();
  if (lib) {
    const errno = execProgram(lib, argv[0], argv, rawEnviron());
    diag.fatal(`${unableToRun(argv[0])}: ${errnoText(errno)}`);
  }
  // without FFI: the program as a child on our stdio, signals passed on, its status ours
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'];
  for (const sig of signals) process.on(sig, forward);
  child.on('error', (err) => diag.fatalSys(unableToRun(argv[0]), err));
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
  const diag = new Diagnostics('rblsmtpd', RBLSMTPD_USAGE);
  const parsed = getopt(rawArgs(), RBLSMTPD_OPTIONS);
  // Options are checked before any lookup (as the RBLTIMEOUT patch does); 0.88 looked up first and
  // complained after, which prints the same thing later.
  if (parsed.problem) {
    diag.line(getoptProblemMessage('rblsmtpd', parsed.problem));
    diag.usage(true);
  }
  if (parsed.operands.length === 0) diag.usage(true);

  const outcome = await decideClient(parsed.options, rawEnv, dnsLookups);
  const remoteIp = rawEnv('TCPREMOTEIP') ?? '';
  switch (outcome.kind) {
    case 'timed-out':
      // QMailToaster's RBLTIMEOUT: give up on the lists, log it, let the client through
      writeAll(2, logLine(remoteIp, process.pid, outcome.note));
      return runProgram(diag, parsed.operands);
    case 'block':
      return refuseSession(remoteIp, outcome.message, outcome.timeout);
    case 'pass':
      return runProgram(diag, parsed.operands);
  }
}

import { closeSync, openSync } from 'node:fs';
import { libc } from '../ffi';
import { ip4ForHostOperand } from '../dns';
import { getoptProblemMessage } from '../getopt';
import { Diagnostics, writeAll } from '../messages';
import { rawArgs, rawEnv, rawEnviron } from '../rawproc';
import { makeLauncher } from '../server/children';
import { ListenError, openListener } from '../server/listener';
import { ServerLog } from '../server/log';
import { parseServerArgs, TCPSERVER_USAGE } from '../server/options';
import { ConnectionServer } from '../server/server';
import { portForOperand } from '../services';

function ip4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function setIds(diag: Diagnostics, uid: number, gid: number): void {
  if (gid) {
    try {
      process.setgroups?.([gid]);
      process.setgid?.(gid);
    } catch (err) {
      diag.fatalSys('unable to set gid', err);
    }
  }
  if (uid) {
    try {
      process.setuid?.(uid);
    } catch (err) {
      diag.fatalSys('unable to set uid', err);
    }
  }
}

/**
 * 0.88 closes fds 0 and 1 once listening, releasing whatever the supervisor attached there. We put
 * /dev/null over them instead: the same outside, and Node does not complain at exit about a
 * closed stdout.
 */
function releaseStdio(): void {
  const lib = libc();
  const nul = openSync('/dev/null', 'r+');
  for (const fd of [0, 1]) {
    try {
      if (lib) lib.dup2(nul, fd);
      else closeSync(fd);
    } catch {
      // already closed
    }
  }
  closeSync(nul);
}

export async function main(): Promise<void> {
  const diag: Diagnostics = new Diagnostics('tcpserver', TCPSERVER_USAGE);
  const { options, operands, problem } = parseServerArgs(rawArgs());
  if (problem) {
    diag.line(getoptProblemMessage('tcpserver', problem));
    diag.usage(true);
  }
  diag.verbosity = options.verbosity;
  const [host, portOperand, ...program] = operands;
  if (host === undefined || portOperand === undefined) diag.usage();
  const port = portForOperand(portOperand);
  if (port === null) diag.fatal(`unable to figure out port number for ${portOperand}`);
  if (program.length === 0) diag.usage();

  process.on('SIGTERM', () => process.exit(0));
  const environ = rawEnviron();
  const launcher = makeLauncher(rawEnv('PATH'), environ);

  let ip = '0.0.0.0';
  if (host !== '' && host !== '0') {
    let addresses: string[];
    try {
      addresses = await ip4ForHostOperand(host);
    } catch (err) {
      return diag.fatalSys(`temporarily unable to figure out IP address for ${host}`, err);
    }
    if (addresses.length === 0) diag.fatal(`no IP address for ${host}`);
    ip = addresses[0];
  }

  const log = new ServerLog(diag);
  const server = new ConnectionServer({ options, program, environ, launcher, log });
  let listener;
  try {
    listener = await openListener(ip4Bytes(ip), ip, port, options.backlog, server.accept);
  } catch (err) {
    const e = err as ListenError;
    if (e.step === 'socket') diag.fatalSys('unable to create socket', e.error);
    if (e.step === 'bind') diag.fatalSys('unable to bind', e.error);
    return diag.fatalSys('unable to listen', e.error);
  }
  setIds(diag, options.uid, options.gid);
  if (options.printPort) {
    try {
      writeAll(1, `${listener.port}\n`);
    } catch {
      // 0.88 ignores a failed -1 write
    }
  }
  releaseStdio();
  server.attach(listener);
}


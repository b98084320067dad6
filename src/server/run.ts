// Starting a connection server (tcpserver, sslserver) from its parsed command line: check the
// operands, listen, set up TLS where asked (as root, before the ids change), drop privileges, release
// stdin and stdout, and start accepting. The commands differ only in their options and TLS set-up.
import { closeSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { interfaceIndex, libc, refuseDebuggerSignal } from '../ffi';
import { getoptProblemMessage, GetoptProblem } from '../getopt';
import { keepInheritedDescriptors } from '../inherited';
import { Diagnostics, writeAll } from '../messages';
import { rawEnviron } from '../rawproc';
import { portForOperand } from '../services';
import { makeLauncher } from './children';
import type { Step } from './connection';
import { ANY4, ANY6_DUAL, ListenAddress, resolveListenHost } from './host';
import { Listener, ListenError, openListener } from './listener';
import { environWithPerIpLimit, serverLimits } from './limits';
import { LogFlavour, ServerLog } from './log';
import type { ServerOptions } from './options';
import { ConnectionServer } from './server';

/** What TLS adds to a server: made once at start-up. */
export interface SecureParts {
  readonly handshake: Step;
  readonly environment?: Step;
}

export interface ServerCommand {
  readonly diag: Diagnostics;
  readonly options: ServerOptions;
  readonly operands: readonly string[];
  readonly problem?: GetoptProblem;
  readonly log?: LogFlavour;
  /**
   * Called after listening, before the ids change (certificates are often readable by root only).
   * Synchronous: no connection is accepted before the server that serves it exists.
   */
  readonly secure?: (environ: readonly string[]) => SecureParts;
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
 * /dev/null over them instead: the same outside, and those slots stay taken. A closed 0 or 1 would
 * be handed to the next accepted socket, which libuv then never closes (it leaves fds 0-2 alone), and
 * Node complains at exit about a closed stdout.
 */
function releaseStdio(): void {
  const lib = libc();
  for (const fd of [0, 1]) {
    try {
      if (lib) {
        const nul = openSync('/dev/null', 'r+');
        lib.dup2(nul, fd);
        closeSync(nul);
      } else {
        // no dup2 without FFI: the lowest free descriptor is the one just closed
        closeSync(fd);
        const nul = openSync('/dev/null', 'r+');
        if (nul !== fd) closeSync(nul);
      }
    } catch {
      // already closed
    }
  }
}

/** Run the server until a signal ends it; exits with a message (100 or 111) on a bad start. */
export async function runServer(cmd: ServerCommand): Promise<void> {
  // typed out so that TypeScript sees fatal() and usage() never return
  const diag: Diagnostics = cmd.diag;
  const { options, operands, problem } = cmd;
  if (problem) {
    diag.line(getoptProblemMessage(diag.program, problem));
    diag.usage(true);
  }
  diag.verbosity = options.verbosity;
  const [host, portOperand, ...program] = operands;
  if (host === undefined || portOperand === undefined) diag.usage();
  const port = portForOperand(portOperand);
  if (port === null) diag.fatal(`unable to figure out port number for ${portOperand}`);
  if (program.length === 0) diag.usage();
  if (options.perIpLimit === 'invalid') diag.usage();

  process.on('SIGTERM', () => process.exit(0));
  const lib = libc();
  if (lib) {
    refuseDebuggerSignal(lib);
    keepInheritedDescriptors(lib);
  }
  const environ = environWithPerIpLimit(rawEnviron(), options);
  const launcher = makeLauncher(environ);

  let address: ListenAddress;
  try {
    const r = await resolveListenHost(host, options.ipv4Only);
    if ('none' in r) return diag.fatal(`no IP address for ${host}`);
    address = r.address;
  } catch (err) {
    return diag.fatalSys(`temporarily unable to figure out IP address for ${host}`, err);
  }
  const scopeId = options.interfaceName === null ? 0 : interfaceIndex(options.interfaceName);

  // the server is made once listening (and TLS) is set up, in the same turn of the event loop
  let server: ConnectionServer | undefined;
  const accept = (socket: Socket) => server?.accept(socket);
  const listen = (a: ListenAddress) =>
    openListener(a.ip, a.text, port, options.backlog, accept, { v6only: a.v6only, scopeId });
  const listenFailed = (err: unknown): never => {
    const e = err as ListenError;
    if (e.step === 'socket') diag.fatalSys('unable to create socket', e.error);
    if (e.step === 'bind') diag.fatalSys('unable to bind', e.error);
    return diag.fatalSys('unable to listen', e.error);
  };
  let listener: Listener;
  try {
    listener = await listen(address);
  } catch (err) {
    // a kernel without IPv6 gets the IPv4 wildcard instead of the dual-stack one
    if (address !== ANY6_DUAL || (err as ListenError).step !== 'socket') listenFailed(err);
    listener = await listen(ANY4).catch(listenFailed);
  }
  const secure = cmd.secure?.(environ);
  const log = new ServerLog(diag, cmd.log);
  const limits = serverLimits(environ, options);
  server = new ConnectionServer({ options, program, environ, launcher, log, limits, ...secure });
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

// Starting a connection server (tcpserver, sslserver) from its parsed command line: check the
// operands, listen (or adopt the sockets handed over), set up TLS where asked (as root, before the
// ids change), drop privileges, release stdin and stdout, and start accepting. The commands differ
// only in their options, their log's flavour and their TLS set-up.
import { closeSync, openSync } from 'node:fs';
import { inProcessChain } from '../chain/step';
import { interfaceIndex, libc, refuseDebuggerSignal } from '../ffi';
import { getoptProblemMessage, GetoptProblem } from '../getopt';
import { keepInheritedDescriptors } from '../inherited';
import { Diagnostics, EXIT_USAGE, writeAll } from '../messages';
import { rawEnv, rawEnviron } from '../rawproc';
import { portForOperand } from '../services';
import type { AcceptedClient } from './accepted';
import { adoptInherited, addressText, inheritedListeners, withoutActivationVariables } from './activation';
import { makeLauncher } from './children';
import type { Step } from './connection';
import { ANY4, ANY6_DUAL, ListenAddress, resolveListenHost } from './host';
import { Listener, ListenError, openListener } from './listener';
import { environWithPerIpLimit, serverLimits } from './limits';
import { LogFlavour, ServerLog } from './log';
import type { ServerOptions } from './options';
import { proxySettings } from './proxy';
import { ConnectionServer } from './server';
import { openStatusSocket, STATUS_VARIABLE, statusReport } from './status';

/** What TLS adds to a server: made once at start-up. */
export interface SecureParts {
  readonly handshake: Step;
  readonly environment?: Step;
  /** descriptors a connection takes beyond 0.88's while its program starts */
  readonly descriptors?: number;
}

export interface ServerCommand {
  readonly diag: Diagnostics;
  readonly options: ServerOptions;
  readonly operands: readonly string[];
  readonly problem?: GetoptProblem;
  readonly log?: LogFlavour;
  /**
   * Called once listening, before the ids change (certificates are often readable by root only).
   * Synchronous: no connection is accepted before the server that serves it exists.
   */
  readonly secure?: (environ: readonly string[]) => SecureParts;
}

/**
 * The largest id setuid(2) and setgid(2) take: they refuse (uid_t)-1 with EINVAL, and 0.88 truncates
 * anything larger to 32 bits, so `-u 4294967296` would run as root. Both are refused as -1 is.
 */
const MAX_ID = 0xfffffffe;
const INVALID_ID = Object.assign(new Error('id out of range'), { code: 'EINVAL' });

function setIds(diag: Diagnostics, uid: number, gid: number): void {
  if (gid > MAX_ID) diag.fatalSys('unable to set gid', INVALID_ID);
  if (uid > MAX_ID) diag.fatalSys('unable to set uid', INVALID_ID);
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

/** How the fatal lines name inherited sockets: `descriptor 0`, `the socket from systemd`. */
function inheritedName(fd: number, count = 1): string {
  if (fd === 0) return 'descriptor 0';
  return count === 1 ? 'the socket from systemd' : `the ${count} sockets from systemd`;
}

/** Run the server until a signal ends it; exits with a message (100 or 111) on a bad start. */
export async function runServer(cmd: ServerCommand): Promise<void> {
  // typed out so that TypeScript sees fatal() and usage() never return
  const diag: Diagnostics = cmd.diag;
  const { options, operands, problem } = cmd;
  const lib = libc();
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
  // sockets handed to tcpserver (systemd, -0) are its own, never passed on
  const inherited = inheritedListeners(options.listenOnStdin, rawEnv, process.pid);
  if (lib) {
    refuseDebuggerSignal(lib);
    keepInheritedDescriptors(lib);
  } else if (inherited.length > 0) {
    diag.fatal('unable to use an inherited socket: no FFI (koffi) to keep it from the programs');
  }
  const environ = environWithPerIpLimit(withoutActivationVariables(rawEnviron()), options);
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

  const log = new ServerLog(diag, cmd.log);
  const statusPath = process.env[STATUS_VARIABLE] || null;
  const limits = serverLimits(environ, options, statusPath !== null);
  const proxy = proxySettings(rawEnv);
  if (proxy && 'bad' in proxy) diag.fatal(`unable to parse PROXYFROM: ${proxy.bad}`, EXIT_USAGE);
  // rblsmtpd, recordio, fixcrio, argv0, addcr, delcr of this installation run inside the server
  const chain = inProcessChain(program, environ);
  const programSteps = chain ? [chain.step] : [];
  // the server is made once listening (and TLS) is set up, in the same turn of the event loop
  let server: ConnectionServer | undefined;
  const accept = (client: AcceptedClient) => server?.accept(client);
  const listen = (a: ListenAddress) => openListener(a.ip, a.text, port, options.backlog, accept, { v6only: a.v6only, scopeId });
  const listenFailed = (err: unknown): never => {
    const e = err as ListenError;
    if (e.step === 'socket') diag.fatalSys('unable to create socket', e.error);
    if (e.step === 'bind') diag.fatalSys('unable to bind', e.error);
    return diag.fatalSys('unable to listen', e.error);
  };
  let listener: Listener;
  if (lib && inherited.length > 0) {
    const adopted = await adoptInherited(lib, inherited, address, port, options, accept).catch(listenFailed);
    if ('notListening' in adopted) diag.fatal(`unable to use ${inheritedName(adopted.notListening)}: not a listening TCP socket`);
    if ('noneServes' in adopted) {
      const seen = adopted.noneServes.map(addressText);
      const they = seen.length === 0 ? '' : ` (${seen.length === 1 ? 'it listens' : 'they listen'} on ${seen.join(', ')})`;
      diag.fatal(`unable to use ${inheritedName(inherited[0], inherited.length)}: not listening on ${host} port ${port}${they}`);
    }
    listener = adopted;
  } else {
    try {
      listener = await listen(address);
    } catch (err) {
      // a kernel without IPv6 gets the IPv4 wildcard instead of the dual-stack one
      if (address !== ANY6_DUAL || (err as ListenError).step !== 'socket') listenFailed(err);
      listener = await listen(ANY4).catch(listenFailed);
    }
  }
  const secure = cmd.secure?.(environ);
  const running = new ConnectionServer({
    options,
    program,
    environ,
    launcher,
    log,
    limits,
    proxy: proxy ?? undefined,
    programSteps,
    ...secure,
  });
  server = running;
  if (statusPath !== null) {
    const report = () => statusReport({ running: () => running.running(), limit: options.limit, limits });
    const status = await openStatusSocket(statusPath, report).catch((err) =>
      diag.fatalSys(`unable to bind status socket ${statusPath}`, err),
    );
    process.on('exit', status.remove);
  }
  setIds(diag, options.uid, options.gid);
  chain?.prime();
  if (options.printPort) {
    try {
      writeAll(1, `${listener.port}\n`);
    } catch {
      // 0.88 ignores a failed -1 write
    }
  }
  releaseStdio();
  running.attach(listener);
}

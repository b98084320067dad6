// tcpserver's accept loop: admit a connection against -c, run its steps, start the program or
// refuse, and keep the count and the log as 0.88 does.
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { errorText } from '../errstr';
import { EnvChanges } from '../pathexec';
import { endpointOf } from './address';
import type { Admission } from '../limits';
import { Connection, connectionSteps, Drop, Step } from './connection';
import type { Launcher, ProgramRequest } from './children';
import { limitsStep, ServerLimits } from './limits';
import type { Listener } from './listener';
import { relay, RelayPlan } from './relay';
import type { ServerLog } from './log';
import type { ServerOptions } from './options';

const EXIT_DENIED = 100 << 8;
const EXIT_DROPPED = 111 << 8;

/**
 * Connections that never get a process (denied, dropped before exec) still get 0.88's
 * `pid N from`, `deny N`/warning and `end N status S` lines, so log parsers can pair them. N is then
 * a connection number above the kernel's pid_max: it never collides with a real pid.
 */
class ConnectionNumbers {
  private readonly first: number;
  private next: number;
  constructor() {
    let pidMax = 4194304;
    try {
      pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1').trim()) || pidMax;
    } catch {
      // keep the 64-bit default
    }
    this.first = this.next = pidMax + 1;
  }
  take(): number {
    const n = this.next;
    this.next = this.next >= 0x7fffffff ? this.first : this.next + 1;
    return n;
  }
}

export interface ServerParts {
  readonly options: ServerOptions;
  readonly program: readonly string[];
  /** tcpserver's own environment, "NAME=value" latin1 entries. */
  readonly environ: readonly string[];
  readonly launcher: Launcher;
  readonly log: ServerLog;
  readonly steps?: readonly Step[];
  /** connection limits (MAXCONNIP ...): a step after the rules, counts released as children end */
  readonly limits?: ServerLimits;
  /** a TLS handshake step (sslserver, tcpserver -s), after the rules and limits */
  readonly handshake?: Step;
  /** the server's own environment step (sslserver's SSL* variables) instead of 0.88's */
  readonly environment?: Step;
}

export class ConnectionServer {
  private children = 0;
  /** Connections accepted whose program is not started yet (nor denied, nor dropped). */
  private inProgress = 0;
  private listener: Listener | null = null;
  private readonly numbers = new ConnectionNumbers();
  private readonly steps: readonly Step[];
  private localPort = 0;
  /** the places in the limit counts of running children, by pid */
  private readonly admissions = new Map<number, Admission>();
  /** relayed connections whose program or relay is still running, by pid */
  private readonly relaying = new Map<number, RelayEnding>();

  constructor(private readonly parts: ServerParts) {
    this.steps =
      parts.steps ??
      connectionSteps({
        limits: parts.limits && limitsStep(parts.limits),
        handshake: parts.handshake,
        environment: parts.environment,
      });
    parts.launcher.onExit = (pid, status) => this.exited(pid, status);
  }

  /** Start accepting on a listener whose connections are handed to `accept`. */
  attach(listener: Listener): void {
    // While accepting is paused nothing else keeps the event loop alive (signal watchers are
    // unref'd), and an exit would reset the clients waiting in the backlog. tcpserver only ever
    // ends by a signal.
    setInterval(() => {}, 0x7fffffff);
    this.listener = listener;
    this.localPort = listener.port;
    this.parts.log.status(this.children, this.parts.options.limit);
    this.gate();
  }

  private gate(): void {
    if (!this.listener) return;
    if (this.children >= this.parts.options.limit) this.listener.pause();
    else this.listener.resume();
  }

  private ended(pid: number, status: number): void {
    const admission = this.admissions.get(pid);
    if (admission) {
      this.admissions.delete(pid);
      admission.release();
    }
    this.parts.log.end(pid, status);
    if (this.children > 0) this.children--;
    this.parts.log.status(this.children, this.parts.options.limit);
    this.gate();
  }

  /** The listener's connection callback. */
  readonly accept = (socket: Socket): void => {
    const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
    const fd = handle?.fd ?? -1;
    const { ipv6Form } = this.parts.options;
    const remote = socket.remoteAddress === undefined ? null : endpointOf(socket.remoteAddress, ipv6Form);
    const local = socket.localAddress === undefined ? null : endpointOf(socket.localAddress, ipv6Form);
    if (fd < 0 || remote === null || local === null) {
      // reset before we could look at it: nothing was admitted
      socket.destroy();
      return;
    }
    this.children++;
    this.parts.log.status(this.children, this.parts.options.limit);
    this.gate();
    socket.on('error', () => {});
    const proto6 = !remote.ipv4 || ipv6Form;
    const c: Connection = {
      socket,
      fd,
      proto6,
      // the IPv6 variant sets its TCP6* variables for every client of an IPv6 socket
      tcp6Vars: (this.listener?.ipv6 ?? false) || ipv6Form,
      localIp: local.text,
      localIp6: local.text6,
      remoteIp6: remote.text6,
      interfaceName: local.scope,
      localPort: this.localPort,
      remoteIp: remote.text,
      remotePort: socket.remotePort ?? 0,
      localHost: null,
      remoteHost: null,
      remoteInfo: null,
      env: new EnvChanges(),
      deny: false,
      relay: null,
      tls: null,
    };
    this.inProgress++;
    void this.serve(c).finally(() => this.inProgress--);
  };

  private async serve(c: Connection): Promise<void> {
    const { log, options } = this.parts;
    try {
      for (const step of this.steps) await step(c, options);
    } catch (err) {
      c.admission?.release();
      const n = this.numbers.take();
      log.pidFrom(n, c.remoteIp);
      if (err instanceof Drop && err.admitted) log.verdict(false, n, c);
      log.drop(err instanceof Drop ? err.reason : `unable to serve: ${errorText(err)}`);
      closeClient(c);
      this.ended(n, EXIT_DROPPED);
      return;
    }
    if (c.deny) {
      const n = this.numbers.take();
      log.pidFrom(n, c.remoteIp);
      log.verdict(true, n, c, c.refusal?.suffix);
      // a refused client does not keep its -c slot: the delayed close (bounded) is the limits'
      const closer = this.parts.limits?.engine.closer;
      if (c.refusal && closer) closer.close(c.refusal.via ?? c.socket, c.refusal.dieMsg, c.refusal.delay);
      else c.socket.destroy();
      this.ended(n, EXIT_DENIED);
      return;
    }
    const [program, ...args] = this.parts.program;
    const request = {
      program,
      argv: [program, ...args],
      env: c.env.apply(this.parts.environ),
      idle: this.inProgress === 1 && !(this.listener?.waiting() ?? true),
    };
    let pid: number;
    try {
      if (c.relay) pid = await this.launchRelayed(request, c.relay);
      else pid = await this.parts.launcher.launch({ ...request, socket: c.socket, fd: c.fd });
    } catch (err) {
      c.admission?.release();
      const n = this.numbers.take();
      log.pidFrom(n, c.remoteIp);
      log.verdict(false, n, c);
      log.drop(`unable to run ${program}: ${errorText(err)}`);
      closeClient(c);
      this.ended(n, EXIT_DROPPED);
      return;
    }
    // the launcher reports the exit on a later turn of the event loop, never before this line
    if (c.admission) this.admissions.set(pid, c.admission);
    log.pidFrom(pid, c.remoteIp);
    log.verdict(false, pid, c);
    if (c.tls) log.tlsAccepted(pid, c.tls);
    // the program has its own copy of a socket it was given; a relayed one is the relay's
    if (!c.relay) c.socket.destroy();
  }

  /**
   * Start the program on pipes and relay the connection to it. The connection ends (its `end` line,
   * its -c slot) when both the program has exited and the relay has closed.
   */
  private async launchRelayed(request: ProgramRequest, plan: RelayPlan): Promise<number> {
    const piped = await this.parts.launcher.launchOnPipes(request);
    const ending: RelayEnding = { status: null, relayed: false };
    this.relaying.set(piped.pid, ending);
    void relay(plan.client, piped, plan).then(() => {
      ending.relayed = true;
      if (ending.status !== null) this.relayEnded(piped.pid, ending.status);
    });
    return piped.pid;
  }

  private exited(pid: number, status: number): void {
    const ending = this.relaying.get(pid);
    if (!ending) return this.ended(pid, status);
    ending.status = status;
    if (ending.relayed) this.relayEnded(pid, status);
  }

  private relayEnded(pid: number, status: number): void {
    this.relaying.delete(pid);
    this.ended(pid, status);
  }
}

/** Close a connection that gets no program: its TLS session too, if one was made for it. */
function closeClient(c: Connection): void {
  c.relay?.client.destroy();
  c.socket.destroy();
}

interface RelayEnding {
  /** the program's wait status once it has exited */
  status: number | null;
  /** the relay has closed both sides */
  relayed: boolean;
}

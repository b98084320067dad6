// tcpserver's accept loop: admit a connection against -c, run its steps, start the program or
// refuse, and keep the count and the log as 0.88 does.
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { errorText } from '../errstr';
import { unableToRun } from '../messages';
import { EnvChanges } from '../pathexec';
import { connectionAddresses, endpointOf, peerOfReset } from './address';
import type { Admission } from '../limits';
import { Connection, connectionSteps, Drop, relayOf, Step } from './connection';
import { DescriptorRoom, descriptorsPerConnection, isOutOfDescriptors } from './descriptors';
import { Launcher, LaunchRequest, PipedProgram, ProgramRequest, terminateProgram } from './children';
import { serveUcspiTls } from '../tls/ucspi-tls';
import { limitsStep, ServerLimits } from './limits';
import { ProxySettings, proxyStep } from './proxy';
import type { Listener } from './listener';
import type { InProcessProgram, ProgramPlan } from './program';
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
  /** PROXYFROM: a step reading the PROXY header of trusted peers, before everything else */
  readonly proxy?: ProxySettings;
  /** descriptors left (tests give a limit of their own) */
  readonly room?: DescriptorRoom;
  /** steps that choose what runs (the in-process chain): after the rules and the limits */
  readonly programSteps?: readonly Step[];
  /** a TLS handshake step (sslserver, tcpserver -s), after the rules and limits */
  readonly handshake?: Step;
  /** the server's own environment step (sslserver's SSL* variables) instead of 0.88's */
  readonly environment?: Step;
  /** descriptors a connection takes beyond 0.88's while its program starts (default: a relay's pipes with a handshake) */
  readonly descriptors?: number;
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
  private readonly room: DescriptorRoom;
  /** Connections waiting for a descriptor to go on, and how to wake them. */
  private short: Array<() => void> = [];

  constructor(private readonly parts: ServerParts) {
    const admission =
      parts.steps ??
      connectionSteps({
        proxy: parts.proxy && proxyStep(parts.proxy),
        limits: parts.limits && limitsStep(parts.limits),
        handshake: parts.handshake,
        environment: parts.environment,
      });
    this.steps = parts.programSteps?.length ? [...admission, ...parts.programSteps] : admission;
    // a relayed connection (TLS) also takes the four ends of its program's pipes while it starts
    const extra = parts.descriptors ?? (parts.handshake ? 4 : 0);
    this.room = parts.room ?? new DescriptorRoom(descriptorsPerConnection(parts.options) + extra);
    parts.launcher.onExit = (pid, status) => this.exited(pid, status);
  }

  /** Connections accepted and not ended: 0.88's `status: n/limit`. */
  running(): number {
    return this.children;
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
    // connections already accepted get the descriptors that free up before any new one
    const noRoom = this.room.short || this.short.length > 0;
    if (this.children >= this.parts.options.limit || noRoom) this.listener.pause();
    else this.listener.resume();
  }

  /** Something that held descriptors has let them go: wake whoever waits for them. */
  private freed(): void {
    if (!this.room.short && this.short.length === 0) return;
    for (const wake of this.short.splice(0)) wake();
    if (this.room.short && !this.room.recheck()) this.lookAgainLater();
    this.gate();
  }

  private lookAgain: NodeJS.Timeout | null = null;

  /** Descriptors may also free up where we do not see it (a lookup's socket): look each second. */
  private lookAgainLater(): void {
    this.lookAgain ??= setTimeout(() => {
      this.lookAgain = null;
      this.freed();
    }, 1000);
  }

  /**
   * Run a part of the connection's way that may fail for want of a descriptor (opening the rules,
   * starting the program without FFI) until it no longer does: the client waits, as it would in the
   * listen queue, instead of being dropped.
   */
  private async withDescriptors<T>(part: () => T | Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await part();
      } catch (err) {
        if (!isOutOfDescriptors(err)) throw err;
      }
      this.parts.log.outOfDescriptors();
      await new Promise<void>((resolve) => {
        this.short.push(resolve);
        this.lookAgainLater();
        this.gate();
      });
    }
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
    this.freed();
  }

  /** The listener's connection callback. */
  readonly accept = (socket: Socket): void => {
    const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
    const fd = handle?.fd ?? -1;
    const { ipv6Form } = this.parts.options;
    // a client that reset while it waited in the queue is still served (and logged) as 0.88 serves it
    const peer = socket.remoteAddress === undefined ? peerOfReset(fd, this.listener?.ipv6 ?? false) : null;
    const remoteText = socket.remoteAddress ?? peer?.text;
    const remote = remoteText === undefined ? null : endpointOf(remoteText, ipv6Form);
    const local = socket.localAddress === undefined ? null : endpointOf(socket.localAddress, ipv6Form);
    if (fd < 0 || remote === null || local === null) {
      // nothing known to log it by (no FFI): nothing was admitted
      socket.destroy();
      return;
    }
    this.children++;
    this.parts.log.status(this.children, this.parts.options.limit);
    if (this.room.afterAccept(fd)) this.parts.log.outOfDescriptors();
    this.gate();
    socket.on('error', () => {});
    const c: Connection = {
      socket,
      fd,
      ...connectionAddresses(local, this.localPort, remote, socket.remotePort ?? peer?.port ?? 0, {
        ipv6Form,
        tcp6Vars: (this.listener?.ipv6 ?? false) || ipv6Form,
      }),
      proxied: false,
      localHost: null,
      remoteHost: null,
      remoteInfo: null,
      env: new EnvChanges(),
      deny: false,
      relay: null,
      tls: null,
      program: null,
      environ: null,
    };
    this.inProgress++;
    void this.serve(c).finally(() => {
      this.inProgress--;
      this.freed();
    });
  };

  private async serve(c: Connection): Promise<void> {
    const { log, options } = this.parts;
    try {
      for (const step of this.steps) await this.withDescriptors(() => step(c, options));
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
    const plan = c.program;
    if (plan?.inProcess) return this.runInProcess(c, plan, plan.inProcess);
    const request = {
      program: plan ? plan.file : this.parts.program[0],
      argv: plan ? plan.argv : this.parts.program,
      env: c.environ ?? c.env.apply(this.parts.environ),
      idle: this.inProgress === 1 && !(this.listener?.waiting() ?? true),
    };
    let pid: number;
    try {
      pid = await this.withDescriptors(() =>
        c.relay
          ? this.launchRelayed(request, c.relay)
          : c.ucspiTls
            ? this.launchUcspiTls({ ...request, socket: c.socket, fd: c.fd }, c)
            : this.parts.launcher.launch({ ...request, socket: c.socket, fd: c.fd }),
      );
    } catch (err) {
      c.admission?.release();
      const n = this.numbers.take();
      log.pidFrom(n, c.remoteIp);
      log.verdict(false, n, c);
      plan?.announce?.(n);
      if (plan?.launchFailed) plan.launchFailed(n, err);
      else log.drop(`${unableToRun(request.program)}: ${errorText(err)}`);
      closeClient(c);
      this.ended(n, EXIT_DROPPED);
      return;
    }
    // the launcher reports the exit on a later turn of the event loop, never before this line
    if (c.admission) this.admissions.set(pid, c.admission);
    log.pidFrom(pid, c.remoteIp);
    log.verdict(false, pid, c);
    if (c.tls) log.tlsAccepted(pid, c.tls);
    plan?.announce?.(pid);
    // the program has its own copy of a socket it was given; a relayed one is the relay's, and a
    // UCSPI-TLS one the session's
    if (!c.relay && !c.ucspiTls) c.socket.destroy();
  }

  /**
   * A program that runs inside the server (a blocked rblsmtpd session, addcr): no process, so its
   * pid is a connection number, and it is relayed to the client like a program on pipes.
   */
  private runInProcess(c: Connection, plan: ProgramPlan, program: InProcessProgram): void {
    const { log } = this.parts;
    const n = this.numbers.take();
    if (c.admission) this.admissions.set(n, c.admission);
    log.pidFrom(n, c.remoteIp);
    log.verdict(false, n, c);
    plan.announce?.(n);
    const running = program.start(n);
    const relayed = relayOf(c);
    this.relayTo(running, relayed);
    void running.exited.then((status) => this.exited(n, status));
    void running.hungUp.then(() => {
      // a client that keeps up gets the usual end (and recordio its "> [EOF]"); one that does not
      // read is cut off, as the C program dies in the middle of its write
      if (running.fromProgram.readableLength > 0 || relayed.client.writableLength > 0) relayed.client.destroy();
    });
  }

  /**
   * Start the program on pipes and relay the connection to it. The connection ends (its `end` line,
   * its -c slot) when both the program has exited and the relay has closed.
   */
  private async launchRelayed(request: ProgramRequest, plan: RelayPlan): Promise<number> {
    const piped = await this.parts.launcher.launchOnPipes(request);
    this.relayTo(piped, plan);
    return piped.pid;
  }

  private relayTo(program: PipedProgram, plan: RelayPlan): void {
    this.endsWith(program.pid, relay(plan.client, program, plan));
  }

  /** sslserver -n: the program on the socket, the session (TLS when it asks) held by this process. */
  private async launchUcspiTls(request: LaunchRequest, c: Connection): Promise<number> {
    const { descriptors } = c.ucspiTls!;
    const program = await this.parts.launcher.launchUcspiTls(request, descriptors);
    const ending = this.endsWith(
      program.pid,
      serveUcspiTls(c, program, this.parts.log).then(({ kill }) => {
        if (kill && ending.status === null) terminateProgram(program.pid);
      }),
    );
    return program.pid;
  }

  /** The connection of `pid` ends when both the program has exited and `relayed` has resolved. */
  private endsWith(pid: number, relayed: Promise<void>): RelayEnding {
    const ending: RelayEnding = { status: null, relayed: false };
    this.relaying.set(pid, ending);
    void relayed.then(() => {
      ending.relayed = true;
      if (ending.status !== null) this.relayEnded(pid, ending.status);
    });
    return ending;
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

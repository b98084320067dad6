// tcpserver's accept loop: admit a connection against -c, run its steps, start the program or
// refuse, and keep the count and the log as 0.88 does.
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { errorText } from '../errstr';
import { unableToRun } from '../messages';
import { KnownEnviron } from '../pathexec';
import { AcceptedClient } from './accepted';
import { connectionAddresses, endpointOf, peerOfReset } from './address';
import type { Admission } from '../limits';
import { acceptedConnection, Connection, connectionSteps, Drop, relayOf, Step } from './connection';
import { DescriptorRoom, descriptorsPerConnection, isOutOfDescriptors } from './descriptors';
import { type Launcher, type LaunchRequest, type PipedProgram, type ProgramRequest, terminateProgram } from './children';
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
  /** Accepting is paused (at -c, or short of descriptors). */
  private paused = false;
  private readonly numbers = new ConnectionNumbers();
  private readonly steps: readonly Step[];
  private localPort = 0;
  /** the places in the limit counts of running children, by pid */
  private readonly admissions = new Map<number, Admission>();
  /** relayed connections whose program or relay is still running, by pid */
  private readonly relaying = new Map<number, RelayEnding>();
  private readonly room: DescriptorRoom;
  private readonly environ: KnownEnviron;
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
    this.environ = new KnownEnviron(parts.environ);
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
    this.parts.log.batch();
    this.parts.log.status(this.children, this.parts.options.limit);
    this.gate();
  }

  private gate(): void {
    if (!this.listener) return;
    // connections already accepted get the descriptors that free up before any new one
    const noRoom = this.room.short || this.short.length > 0;
    if (this.children >= this.parts.options.limit || noRoom) {
      // every time: libuv's accept loop turns reading back on when it runs, and stopping it again
      // is what keeps the next client in the kernel's queue
      this.listener.pause();
      this.paused = true;
    } else if (this.paused) {
      // first: resuming may accept (held clients, without FFI), and pause again
      this.paused = false;
      this.listener.resume();
    }
  }

  /** Something that held descriptors has let them go: wake whoever waits for them. */
  private freed(): void {
    if (!this.room.short && this.short.length === 0) return;
    for (const wake of this.short.splice(0)) wake();
    if (this.room.short && !this.room.recheck(this.inProgress)) this.lookAgainLater();
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
   * Wait until something frees descriptors: a part of the connection's way that failed for want of
   * one (opening the rules, starting the program without FFI) is then tried again. The client waits,
   * as it would in the listen queue, instead of being dropped.
   */
  private waitForDescriptors(): Promise<void> {
    this.parts.log.outOfDescriptors();
    return new Promise<void>((resolve) => {
      this.short.push(resolve);
      this.lookAgainLater();
      this.gate();
    });
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

  /** The listener's connection callback (a net.Server's sockets too). */
  readonly accept = (client: Socket | AcceptedClient): void => {
    const accepted = client instanceof AcceptedClient ? client : AcceptedClient.fromSocket(client);
    const fd = accepted.fd;
    const { ipv6Form } = this.parts.options;
    const remoteAddress = accepted.remote();
    // a client that reset while it waited in the queue is still served (and logged) as 0.88 serves it
    const peer = remoteAddress === undefined ? peerOfReset(fd, this.listener?.ipv6 ?? false) : null;
    const remoteText = remoteAddress?.address ?? peer?.text;
    const remote = remoteText === undefined ? null : endpointOf(remoteText, ipv6Form);
    const localAddress = accepted.local();
    const local = localAddress === undefined ? null : endpointOf(localAddress.address, ipv6Form);
    if (fd < 0 || remote === null || local === null) {
      // nothing known to log it by (no FFI): nothing was admitted
      accepted.close();
      return;
    }
    this.children++;
    this.parts.log.status(this.children, this.parts.options.limit);
    if (this.room.afterAccept(fd, this.inProgress)) this.parts.log.outOfDescriptors();
    this.gate();
    const addresses = connectionAddresses(local, this.localPort, remote, remoteAddress?.port ?? peer?.port ?? 0, {
      ipv6Form,
      tcp6Vars: (this.listener?.ipv6 ?? false) || ipv6Form,
    });
    this.inProgress++;
    this.runSteps(acceptedConnection(accepted, fd, addresses), 0);
  };

  /**
   * The steps from the i-th on, one after the other, then the program. As long as the steps are
   * synchronous (no lookups, no PROXY header, no banner) so is all of it: no promise per connection.
   */
  private runSteps(c: Connection, i: number): void {
    const { steps } = this;
    const { options } = this.parts;
    for (; i < steps.length; i++) {
      let pending: void | Promise<void>;
      try {
        pending = steps[i](c, options);
      } catch (err) {
        return this.stepFailed(c, i, err);
      }
      if (pending) {
        const step = i;
        pending.then(
          () => this.runSteps(c, step + 1),
          (err) => this.stepFailed(c, step, err),
        );
        return;
      }
    }
    this.start(c);
  }

  private stepFailed(c: Connection, step: number, err: unknown): void {
    if (isOutOfDescriptors(err)) {
      void this.waitForDescriptors().then(() => this.runSteps(c, step));
      return;
    }
    const { log } = this.parts;
    c.admission?.release();
    const n = this.numbers.take();
    log.pidFrom(n, c.remoteIp);
    if (err instanceof Drop && err.admitted) log.verdict(false, n, c);
    log.drop(err instanceof Drop ? err.reason : `unable to serve: ${errorText(err)}`);
    closeClient(c);
    this.ended(n, EXIT_DROPPED);
    this.served();
  }

  /** The connection is through its steps (started, denied or dropped): it holds no more descriptors. */
  private served(): void {
    this.inProgress--;
    this.freed();
  }

  /** After the steps: refuse the connection, or run what it runs. */
  private start(c: Connection): void {
    const { log } = this.parts;
    if (c.deny) {
      const n = this.numbers.take();
      log.pidFrom(n, c.remoteIp);
      log.verdict(true, n, c, c.refusal?.suffix);
      // a refused client does not keep its -c slot: the delayed close (bounded) is the limits'
      const closer = this.parts.limits?.engine.closer;
      if (c.refusal && closer) closer.close(c.refusal.via ?? c.socket, c.refusal.dieMsg, c.refusal.delay);
      else c.client.close();
      this.ended(n, EXIT_DENIED);
      return this.served();
    }
    const plan = c.program;
    if (plan?.inProcess) {
      this.runInProcess(c, plan, plan.inProcess);
      return this.served();
    }
    this.launch(c, {
      program: plan ? plan.file : this.parts.program[0],
      argv: plan ? plan.argv : this.parts.program,
      env: c.environ ?? c.env.apply(this.environ),
      idle: this.inProgress === 1 && !(this.listener?.waiting() ?? true),
    });
  }

  /** Start the program: with the socket as its fds 0 and 1, or on pipes behind a relay. */
  private launch(c: Connection, request: ProgramRequest): void {
    let started: Promise<number>;
    try {
      started = c.relay
        ? this.launchRelayed(request, c.relay)
        : c.ucspiTls
          ? this.launchUcspiTls(new OnItsSocket(request, c), c)
          : this.parts.launcher.launch(new OnItsSocket(request, c));
    } catch (err) {
      return this.launchFailed(c, request, err);
    }
    started.then(
      (pid) => this.launched(c, pid),
      (err) => this.launchFailed(c, request, err),
    );
  }

  private launched(c: Connection, pid: number): void {
    const { log } = this.parts;
    // the launcher reports the exit on a later turn of the event loop, never before this line
    if (c.admission) this.admissions.set(pid, c.admission);
    log.pidFrom(pid, c.remoteIp);
    log.verdict(false, pid, c);
    if (c.tls) log.tlsAccepted(pid, c.tls);
    c.program?.announce?.(pid);
    // the program has its own copy of a socket it was given; a relayed one is the relay's, and a
    // UCSPI-TLS one the session's
    if (!c.relay && !c.ucspiTls) c.client.close();
    this.served();
  }

  private launchFailed(c: Connection, request: ProgramRequest, err: unknown): void {
    if (isOutOfDescriptors(err)) {
      void this.waitForDescriptors().then(() => this.launch(c, request));
      return;
    }
    const { log } = this.parts;
    const plan = c.program;
    c.admission?.release();
    const n = this.numbers.take();
    log.pidFrom(n, c.remoteIp);
    log.verdict(false, n, c);
    plan?.announce?.(n);
    if (plan?.launchFailed) plan.launchFailed(n, err);
    else log.drop(`${unableToRun(request.program)}: ${errorText(err)}`);
    closeClient(c);
    this.ended(n, EXIT_DROPPED);
    this.served();
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
/**
 * The program on the connection's own socket, the net.Socket made only if the launcher asks for it
 * (child_process). A class for its getter's sake, as AcceptedConnection (connection.ts).
 */
export class OnItsSocket implements LaunchRequest {
  readonly program: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
  readonly idle: boolean | undefined;
  readonly fd: number;

  constructor(
    request: ProgramRequest,
    private readonly c: Connection,
  ) {
    this.program = request.program;
    this.argv = request.argv;
    this.env = request.env;
    this.idle = request.idle;
    this.fd = c.fd;
  }

  get socket(): Socket {
    return this.c.socket;
  }
}

function closeClient(c: Connection): void {
  c.relay?.client.destroy();
  c.client.close();
}

interface RelayEnding {
  /** the program's wait status once it has exited */
  status: number | null;
  /** the relay has closed both sides */
  relayed: boolean;
}

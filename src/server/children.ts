// Starting the program for a connection and learning when it ends.
//
// With FFI: posix_spawn on libuv's thread pool (vfork + exec, the event loop never waits), or on the
// loop's own thread when nothing else is waiting (cheaper, but the loop waits for the exec), the
// socket dup2'ed onto fds 0 and 1 in the child, and a SIGCHLD reaper that peeks at exited children
// (waitid WNOWAIT) and reaps only its own, so child_process's children are left to libuv and each
// exit costs O(1). Without FFI: child_process.spawn, which forks the whole Node process.
//
// Where to spawn was measured (issue 14, bench/spawn-cost.ts, bench/RESULTS.md): a spawner thread of
// our own (worker_threads) costs more than koffi's hand-off (postMessage both ways); a second Node
// process would carry V8's threads and the same spawn cost plus its own 40 MB; a small C spawner
// would be a second native artefact next to koffi; a smaller thread pool serializes the spawns
// (each holds its thread for the exec) and caps the rate. So: koffi, one call per spawn.
import { ChildProcess, spawn as nodeSpawn, StdioOptions } from 'node:child_process';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import {
  CStringCache,
  inheritStdio,
  Libc,
  libc,
  makePipe,
  makeSocketPair,
  peekExitedChild,
  reapChild,
  setBlocking,
  SpawnPlan,
  spawnAsync,
  spawnNow,
} from '../ffi';

export interface ProgramRequest {
  readonly program: string;
  /** argv, argv[0] included (the program name as given). */
  readonly argv: readonly string[];
  /** "NAME=value" latin1 entries. */
  readonly env: readonly string[];
  /**
   * Nothing else is waiting (no other connection in progress, none queued): the launcher may hold
   * the event loop until the exec, which costs less CPU than handing the spawn to another thread.
   */
  readonly idle?: boolean;
}

/** A program with the connection's socket on fds 0 and 1. */
export interface LaunchRequest extends ProgramRequest {
  readonly socket: Socket;
  readonly fd: number;
}

/**
 * A program on two pipes (fd 0 reads one, fd 1 writes the other; sslclient's program has them on 6
 * and 7), this process at their other ends.
 */
export interface PipedProgram {
  readonly pid: number;
  /** the program's standard input: end it and the program reads end of file */
  readonly toProgram: Writable & { destroy(): void };
  /** the program's standard output */
  readonly fromProgram: Readable;
}

/** The program's descriptors for its two pipes: [the one it reads, the one it writes]. */
export type PipeDescriptors = readonly [number, number];

const STDIO_PIPES: PipeDescriptors = [0, 1];

/** Where a UCSPI-TLS program finds its control socket and its pipes for after TLS. */
export interface UcspiTlsDescriptors {
  /** the socket's, for reading and writing: 0 and 1 (a server's program), 6 and 7 (sslclient's) */
  readonly socket?: PipeDescriptors;
  readonly control: number;
  readonly read: number;
  readonly write: number;
}

/**
 * A UCSPI-TLS program (sslserver -n): the socket on fds 0 and 1 for the plaintext part; this process
 * at the other ends of its control socket and of its pipes (toProgram feeds SSLREADFD, fromProgram
 * drains SSLWRITEFD) for the relay once TLS is on.
 */
export interface UcspiTlsProgram extends PipedProgram {
  readonly control: Socket;
}

export interface Launcher {
  /** Resolves with the child's pid once it runs the program; rejects with an errno error otherwise. */
  launch(req: LaunchRequest): Promise<number>;
  /**
   * The same with the program on pipes, for a relay in this process (TLS, in-process helpers):
   * `fds` are the program's descriptors for them, [reading, writing].
   */
  launchOnPipes(req: ProgramRequest, fds?: PipeDescriptors): Promise<PipedProgram>;
  /**
   * The socket on fds 0 and 1 as launch() gives it, and a control socket and two pipes on `fds`.
   * The caller keeps its copy of the socket (for TLS later); it is left blocking, untouched, meanwhile.
   */
  launchUcspiTls(req: LaunchRequest, fds: UcspiTlsDescriptors): Promise<UcspiTlsProgram>;
  /** Called with the raw wait status of every child this launcher started. */
  onExit: (pid: number, waitStatus: number) => void;
  readonly kind: 'posix_spawn' | 'child_process';
}

class PosixSpawnLauncher implements Launcher {
  readonly kind = 'posix_spawn';
  onExit: (pid: number, waitStatus: number) => void = () => {};
  private readonly running = new Set<number>();
  private readonly info = Buffer.alloc(128);

  private readonly strings: CStringCache;

  constructor(
    private readonly lib: Libc,
    environ: readonly string[],
  ) {
    this.strings = new CStringCache(environ);
    inheritStdio(lib);
    process.on('SIGCHLD', () => this.reap());
  }

  launch(req: LaunchRequest): Promise<number> {
    // the file description is shared with the child, which expects blocking I/O; the parent
    // only closes its copy from now on
    setBlocking(this.lib, req.fd);
    return this.spawn(req, [
      [req.fd, 0],
      [req.fd, 1],
    ]);
  }

  async launchOnPipes(req: ProgramRequest, fds: PipeDescriptors = STDIO_PIPES): Promise<PipedProgram> {
    // [read, write] each, close-on-exec; the child gets its ends by dup2 onto fds
    const input = makePipe(this.lib);
    let output: [number, number];
    try {
      output = makePipe(this.lib);
    } catch (err) {
      for (const fd of input) this.lib.close(fd);
      throw err;
    }
    let pid: number;
    try {
      pid = await this.spawn(req, [
        [input[0], fds[0]],
        [output[1], fds[1]],
      ]);
    } catch (err) {
      this.lib.close(input[1]);
      this.lib.close(output[0]);
      throw err;
    } finally {
      // the child's ends: it has its own copies now (or never will)
      this.lib.close(input[0]);
      this.lib.close(output[1]);
    }
    return {
      pid,
      toProgram: new Socket({ fd: input[1], readable: false, writable: true }),
      fromProgram: new Socket({ fd: output[0], readable: true, writable: false }),
    };
  }

  async launchUcspiTls(req: LaunchRequest, fds: UcspiTlsDescriptors): Promise<UcspiTlsProgram> {
    // [ours, the program's] for the control socket; [read, write] for each pipe
    const opened: number[] = [];
    const open = (make: () => [number, number]): [number, number] => {
      const ends = make();
      opened.push(...ends);
      return ends;
    };
    let control: [number, number], input: [number, number], output: [number, number];
    try {
      control = open(() => makeSocketPair(this.lib));
      input = open(() => makePipe(this.lib));
      output = open(() => makePipe(this.lib));
    } catch (err) {
      for (const fd of opened) this.lib.close(fd);
      throw err;
    }
    setBlocking(this.lib, req.fd);
    const [reading, writing] = fds.socket ?? STDIO_PIPES;
    let pid: number;
    try {
      pid = await this.spawn(req, [
        [req.fd, reading],
        [req.fd, writing],
        [control[1], fds.control],
        [input[0], fds.read],
        [output[1], fds.write],
      ]);
    } catch (err) {
      for (const fd of [control[0], input[1], output[0]]) this.lib.close(fd);
      throw err;
    } finally {
      for (const fd of [control[1], input[0], output[1]]) this.lib.close(fd);
    }
    return {
      pid,
      control: new Socket({ fd: control[0], readable: true, writable: true }),
      toProgram: new Socket({ fd: input[1], readable: false, writable: true }),
      fromProgram: new Socket({ fd: output[0], readable: true, writable: false }),
    };
  }

  private spawn(req: ProgramRequest, moves: SpawnPlan['moves']): Promise<number> {
    // A bare name is searched in $PATH inside the vfork child, as 0.88 searches it in its forked
    // child, so the server's thread never stats PATH elements. glibc's search is djb's pathexec but
    // for two rare cases: a PATH element that is a file (ENOTDIR) moves on, and EPERM stops it.
    const plan = { path: req.program, argv: req.argv, env: req.env, moves, searchPath: !req.program.includes('/') };
    if (req.idle) {
      // its SIGCHLD cannot be handled before this turn of the loop is over
      try {
        const pid = spawnNow(this.lib, plan, this.strings);
        this.running.add(pid);
        return Promise.resolve(pid);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return spawnAsync(this.lib, plan, this.strings).then((pid) => {
      this.running.add(pid);
      // The child may have exited, and its SIGCHLD been handled, before we knew its pid. Reap it on
      // a later turn of the loop: the caller logs the `pid`/`ok` lines in this turn, and `end` must
      // come after them.
      setImmediate(() => this.reap());
      return pid;
    });
  }

  private finish(pid: number, status: number): void {
    this.running.delete(pid);
    this.onExit(pid, status);
  }

  private reap(): void {
    for (;;) {
      const pid = peekExitedChild(this.lib, this.info);
      if (pid <= 0) return;
      if (!this.running.has(pid)) {
        // someone else's child (child_process's, or one glibc is about to reap) is first in line:
        // check ours one by one instead of waiting behind it
        for (const mine of [...this.running]) {
          const status = reapChild(this.lib, mine);
          if (status !== null) this.finish(mine, status);
        }
        return;
      }
      const status = reapChild(this.lib, pid);
      if (status === null) return;
      this.finish(pid, status);
    }
  }
}

const SIGNALS = osConstants.signals as Record<string, number>;

class ChildProcessLauncher implements Launcher {
  readonly kind = 'child_process';
  onExit: (pid: number, waitStatus: number) => void = () => {};

  async launch(req: LaunchRequest): Promise<number> {
    return (await this.spawn(req, [req.socket, req.socket, 'inherit'])).pid as number;
  }

  async launchOnPipes(req: ProgramRequest, fds: PipeDescriptors = STDIO_PIPES): Promise<PipedProgram> {
    // the descriptors up to the highest one: 0-2 as this process has them, others closed
    const stdio: StdioOptions = Array.from({ length: Math.max(...fds, 2) + 1 }, (_, fd) => (fd <= 2 ? 'inherit' : 'ignore'));
    stdio[fds[0]] = 'pipe';
    stdio[fds[1]] = 'pipe';
    const child = await this.spawn(req, stdio);
    return {
      pid: child.pid as number,
      toProgram: child.stdio[fds[0]] as Writable & { destroy(): void },
      fromProgram: child.stdio[fds[1]] as Readable,
    };
  }

  async launchUcspiTls(req: LaunchRequest, fds: UcspiTlsDescriptors): Promise<UcspiTlsProgram> {
    // libuv's 'pipe' is a socket pair: a control socket, and pipes as good as pipes
    const [reading, writing] = fds.socket ?? STDIO_PIPES;
    const stdio: StdioOptions = Array.from({ length: Math.max(fds.control, fds.read, fds.write, reading, writing) + 1 }, (_, fd) =>
      fd <= 2 ? 'inherit' : 'ignore',
    );
    stdio[reading] = stdio[writing] = req.socket;
    // the program expects blocking I/O, and libuv makes only fds 0-2 blocking; the description is
    // shared, so ours is blocking too until TLS (untouched meanwhile)
    (req.socket as unknown as { _handle?: { setBlocking?(b: boolean): number } })._handle?.setBlocking?.(true);
    stdio[fds.control] = stdio[fds.read] = stdio[fds.write] = 'pipe';
    const child = await this.spawn(req, stdio);
    return {
      pid: child.pid as number,
      control: child.stdio[fds.control] as Socket,
      toProgram: child.stdio[fds.read] as Writable & { destroy(): void },
      fromProgram: child.stdio[fds.write] as Readable,
    };
  }

  private spawn(req: ProgramRequest, stdio: StdioOptions): Promise<ChildProcess> {
    return new Promise((resolve, reject) => {
      const child = nodeSpawn(req.program, req.argv.slice(1), { argv0: req.argv[0], env: envObject(req.env), stdio });
      child.once('error', reject);
      child.once('spawn', () => resolve(child));
      child.once('exit', (code, signal) => {
        if (child.pid === undefined) return;
        this.onExit(child.pid, signal ? (SIGNALS[signal] ?? 0) : (code ?? 0) << 8);
      });
    });
  }
}

function envObject(environ: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of environ) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = Buffer.from(e.slice(eq + 1), 'latin1').toString();
  }
  return env;
}

/** SIGTERM to a program of ours not reaped yet (its pid is still its own). */
export function terminateProgram(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // gone already
  }
}

/** The best launcher this process can have, or the plain-Node one when asked for. */
export function makeLauncher(environ: readonly string[], kind: 'best' | 'child_process' = 'best'): Launcher {
  const lib = kind === 'best' ? libc() : null;
  return lib ? new PosixSpawnLauncher(lib, environ) : new ChildProcessLauncher();
}

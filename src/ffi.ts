// The only module that talks to libc directly (through koffi). Node cannot exec in place, dup2,
// spawn without forking its whole heap, or adopt a socket listening with our own backlog; this does
// those few things. Everything here is optional: `libc()` is null when koffi or glibc is missing,
// and callers fall back to child_process / plain Node.
import { constants as osConstants } from 'node:os';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

export interface Libc {
  readonly koffi: any;
  posix_spawn: Fn;
  posix_spawnp: Fn;
  fa_init: Fn;
  fa_destroy: Fn;
  fa_adddup2: Fn;
  fa_addclose: Fn;
  attr_init: Fn;
  attr_destroy: Fn;
  attr_setflags: Fn;
  attr_setsigmask: Fn;
  attr_setsigdefault: Fn;
  execve: Fn;
  dup2: Fn;
  fcntl: Fn;
  close: Fn;
  signal: Fn;
  pthread_sigmask: Fn;
  waitid: Fn;
  waitpid: Fn;
  socket: Fn;
  setsockopt: Fn;
  getsockopt: Fn;
  bind: Fn;
  listen: Fn;
  if_nametoindex: Fn;
  poll: Fn;
  pipe2: Fn;
  socketpair: Fn;
  getsockname: Fn;
  recv: Fn;
}

let cached: Libc | null | undefined;

/** libc through koffi, or null where that cannot load (no koffi build, no glibc). */
export function libc(): Libc | null {
  if (cached !== undefined) return cached;
  if (process.env.UCSPI_TS_NO_FFI) return (cached = null);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const koffi = require('koffi');
    const lib = koffi.load('libc.so.6');
    const f = (proto: string): Fn => lib.func(proto);
    cached = {
      koffi,
      posix_spawn: f('int posix_spawn(_Out_ int *pid, const char *path, void *fa, void *attr, const char **argv, const char **envp)'),
      posix_spawnp: f('int posix_spawnp(_Out_ int *pid, const char *file, void *fa, void *attr, const char **argv, const char **envp)'),
      fa_init: f('int posix_spawn_file_actions_init(void *fa)'),
      fa_destroy: f('int posix_spawn_file_actions_destroy(void *fa)'),
      fa_adddup2: f('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
      fa_addclose: f('int posix_spawn_file_actions_addclose(void *fa, int fd)'),
      attr_init: f('int posix_spawnattr_init(void *attr)'),
      attr_destroy: f('int posix_spawnattr_destroy(void *attr)'),
      attr_setflags: f('int posix_spawnattr_setflags(void *attr, short flags)'),
      attr_setsigmask: f('int posix_spawnattr_setsigmask(void *attr, void *set)'),
      attr_setsigdefault: f('int posix_spawnattr_setsigdefault(void *attr, void *set)'),
      execve: f('int execve(const char *path, const char **argv, const char **envp)'),
      dup2: f('int dup2(int oldfd, int newfd)'),
      fcntl: f('int fcntl(int fd, int cmd, int arg)'),
      close: f('int close(int fd)'),
      signal: f('void *signal(int sig, void *handler)'),
      pthread_sigmask: f('int pthread_sigmask(int how, void *set, void *oldset)'),
      waitid: f('int waitid(int idtype, int id, void *infop, int options)'),
      waitpid: f('int waitpid(int pid, _Out_ int *status, int options)'),
      socket: f('int socket(int domain, int type, int protocol)'),
      setsockopt: f('int setsockopt(int fd, int level, int name, void *value, uint32_t len)'),
      getsockopt: f('int getsockopt(int fd, int level, int name, void *value, _Inout_ uint32_t *len)'),
      bind: f('int bind(int fd, void *addr, uint32_t len)'),
      listen: f('int listen(int fd, int backlog)'),
      if_nametoindex: f('unsigned int if_nametoindex(const char *name)'),
      poll: f('int poll(void *fds, unsigned long nfds, int timeout)'),
      pipe2: f('int pipe2(void *fds, int flags)'),
      socketpair: f('int socketpair(int domain, int type, int protocol, void *fds)'),
      getsockname: f('int getsockname(int fd, void *addr, _Inout_ uint32_t *len)'),
      recv: f('long recv(int fd, void *buf, unsigned long len, int flags)'),
    };
  } catch {
    cached = null;
  }
  return cached;
}

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM_CLOEXEC = 1 | 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const IPPROTO_IP = 0;
const IP_OPTIONS = 4;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;

function sockaddr(ip: Buffer, port: number, scopeId = 0): Buffer {
  if (ip.length === 4) {
    const sa = Buffer.alloc(16);
    sa.writeUInt16LE(AF_INET, 0);
    sa.writeUInt16BE(port, 2);
    ip.copy(sa, 4);
    return sa;
  }
  const sa = Buffer.alloc(28);
  sa.writeUInt16LE(AF_INET6, 0);
  sa.writeUInt16BE(port, 2);
  ip.copy(sa, 8);
  sa.writeUInt32LE(scopeId, 24);
  return sa;
}

export type ListenFailure = { readonly step: 'socket' | 'bind' | 'listen'; readonly error: NodeJS.ErrnoException };

/**
 * A listening TCP socket made as tcpserver makes it (SO_REUSEADDR, bind, listen with our backlog),
 * close-on-exec so no child inherits it. `ip` is 4 bytes (IPv4) or 16 (IPv6; v6only as given).
 */
export function listenSocket(
  lib: Libc,
  ip: Buffer,
  port: number,
  backlog: number,
  opts: { v6only?: boolean; scopeId?: number } = {},
): number | ListenFailure {
  const fd = lib.socket(ip.length === 4 ? AF_INET : AF_INET6, SOCK_STREAM_CLOEXEC, 0);
  if (fd < 0) return { step: 'socket', error: errnoError(lastErrno(lib), 'socket') };
  const fail = (step: 'bind' | 'listen'): ListenFailure => {
    const error = errnoError(lastErrno(lib), step);
    lib.close(fd);
    return { step, error };
  };
  setIntOption(lib, fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (ip.length === 16) setIntOption(lib, fd, IPPROTO_IPV6, IPV6_V6ONLY, opts.v6only ? 1 : 0);
  const sa = sockaddr(ip, port, opts.scopeId);
  if (lib.bind(fd, sa, sa.length) < 0) return fail('bind');
  if (lib.listen(fd, backlog) < 0) return fail('listen');
  return fd;
}

const SO_TYPE = 3;
const SO_ACCEPTCONN = 30;
const SOCK_STREAM = 1;

function intOption(lib: Libc, fd: number, level: number, name: number): number | null {
  const v = Buffer.alloc(4);
  return lib.getsockopt(fd, level, name, v, [4]) < 0 ? null : v.readInt32LE(0);
}

/**
 * The address of a listening IPv4 or IPv6 stream socket (ip: 4 or 16 bytes); null when `fd` is
 * anything else (not open, not a socket, not listening, UDP, UNIX).
 */
export function listeningTcpAddress(lib: Libc, fd: number): { ip: Buffer; port: number } | null {
  if (intOption(lib, fd, SOL_SOCKET, SO_ACCEPTCONN) !== 1) return null;
  if (intOption(lib, fd, SOL_SOCKET, SO_TYPE) !== SOCK_STREAM) return null;
  const sa = Buffer.alloc(128);
  if (lib.getsockname(fd, sa, [sa.length]) < 0) return null;
  const family = sa.readUInt16LE(0);
  if (family === AF_INET) return { ip: Buffer.from(sa.subarray(4, 8)), port: sa.readUInt16BE(2) };
  if (family === AF_INET6) return { ip: Buffer.from(sa.subarray(8, 24)), port: sa.readUInt16BE(2) };
  return null;
}

const MSG_PEEK = 0x02;
const MSG_DONTWAIT = 0x40;

/**
 * What a socket has received and not yet been read, up to buf's length, without reading it and
 * without waiting: the byte count (0 at end of file), or null when nothing is there yet (EAGAIN);
 * throws an errno error.
 */
export function peekReceived(lib: Libc, fd: number, buf: Buffer): number | null {
  return receiveNow(lib, fd, buf, MSG_PEEK);
}

/** Read up to buf's length from a socket without waiting: as peekReceived, but the bytes are taken. */
export function receiveNow(lib: Libc, fd: number, buf: Buffer, flags = 0): number | null {
  const n = Number(lib.recv(fd, buf, buf.length, flags | MSG_DONTWAIT));
  if (n >= 0) return n;
  const errno = lastErrno(lib);
  if (errno === 11) return null; // EAGAIN
  throw errnoError(errno, 'recv');
}

/** The index of a network interface (the scope id of its link-local addresses), 0 if unknown. */
export function interfaceIndex(name: string): number {
  const lib = libc();
  return lib ? lib.if_nametoindex(name) : 0;
}

export function setIntOption(lib: Libc, fd: number, level: number, name: number, value: number): boolean {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value, 0);
  return lib.setsockopt(fd, level, name, v, 4) === 0;
}

const SO_PEERNAME = 28;

/**
 * The peer of an accepted TCP socket as [address bytes (4 or 16), port], even after the peer has
 * reset the connection: getpeername (and so Node's remoteAddress) then fails with ENOTCONN, where
 * the kernel still answers SO_PEERNAME, given the exact length of the family's address (`ipv6`: the
 * socket's). 0.88 has the address from accept() itself. Null when that fails too.
 */
export function peerOf(lib: Libc, fd: number, ipv6: boolean): { ip: Buffer; port: number } | null {
  const sa = Buffer.alloc(28);
  const len = [ipv6 ? 28 : 16];
  if (lib.getsockopt(fd, SOL_SOCKET, SO_PEERNAME, sa, len) < 0) return null;
  const family = sa.readUInt16LE(0);
  if (family === AF_INET) return { ip: Buffer.from(sa.subarray(4, 8)), port: sa.readUInt16BE(2) };
  if (family === AF_INET6) return { ip: Buffer.from(sa.subarray(8, 24)), port: sa.readUInt16BE(2) };
  return null;
}

/** tcpserver -O: drop any IP options the client sent (setsockopt IP_OPTIONS with an empty value). */
export function killIpOptions(lib: Libc, fd: number): boolean {
  return lib.setsockopt(fd, IPPROTO_IP, IP_OPTIONS, null, 0) === 0;
}

/** errno of the last failed libc call on this thread. */
export function lastErrno(lib: Libc): number {
  return lib.koffi.errno();
}

/** An error in Node's shape ({code, errno}) for an errno number, so errstr can name it. */
export function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  const names = osConstants.errno as Record<string, number>;
  const code = Object.keys(names).find((k) => names[k] === errno) ?? 'EUNKNOWN';
  const e: NodeJS.ErrnoException = new Error(`${syscall}: ${code}`);
  e.code = code;
  e.errno = -errno;
  e.syscall = syscall;
  return e;
}

/** A C string (NUL-terminated bytes) from a latin1 byte string. */
export function cString(s: string): Buffer {
  const b = Buffer.allocUnsafe(s.length + 1);
  b.write(s, 0, 'latin1');
  b[s.length] = 0;
  return b;
}

const F_GETFL = 3;
const F_SETFL = 4;
const F_GETFD = 1;
const F_SETFD = 2;
const O_NONBLOCK = 0o4000;
const SIGPIPE = 13;
const SIGXFSZ = 25;
const SIGUSR1 = 10;
// dispositions Node sets to SIG_IGN at start-up (and SIGUSR1, see refuseDebuggerSignal), which an
// exec would otherwise pass on
const NODE_IGNORED_SIGNALS = [SIGPIPE, SIGXFSZ, SIGUSR1];

/**
 * SIGUSR1 makes Node open its inspector on 127.0.0.1:9229, where any local user may connect and
 * run code with this process's privileges; after -u/-g, the service's own uid may send it. Node 20
 * cannot switch that off (--disable-sigusr1 came later); ignoring the signal at the libc level
 * replaces the inspector's handler. Programs we start get SIGUSR1 back at its default.
 */
export function refuseDebuggerSignal(lib: Libc): void {
  ignoreSignal(lib, SIGUSR1);
}

/** Make a descriptor blocking (programs given a socket expect blocking I/O). */
export function setBlocking(lib: Libc, fd: number): void {
  const fl = lib.fcntl(fd, F_GETFL, 0);
  if (fl >= 0 && fl & O_NONBLOCK) lib.fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/** Close a descriptor on exec (programs must not get it). */
export function setCloexec(lib: Libc, fd: number): void {
  const fl = lib.fcntl(fd, F_GETFD, 0);
  if (fl >= 0 && !(fl & 1)) lib.fcntl(fd, F_SETFD, fl | 1);
}

/** Keep a descriptor open across exec. */
export function clearCloexec(lib: Libc, fd: number): void {
  const fl = lib.fcntl(fd, F_GETFD, 0);
  if (fl >= 0 && fl & 1) lib.fcntl(fd, F_SETFD, fl & ~1);
}

export interface ExecPlan {
  /** Full path of the program (no PATH search here). */
  readonly path: string;
  readonly argv: readonly string[];
  /** "NAME=value" latin1 entries. */
  readonly env: readonly string[];
  /** [from, to] pairs applied in order with dup2 before the exec; `to` is made blocking. */
  readonly moves?: ReadonlyArray<readonly [number, number]>;
}

/**
 * Node marks fds 0-2 close-on-exec at start-up (uv_disable_stdio_inheritance); a program we exec, or
 * spawn to share our stdio, must get them as it would from a C parent.
 */
export function inheritStdio(lib: Libc): void {
  for (const fd of [0, 1, 2]) clearCloexec(lib, fd);
}

/** dup2 each [from, to] in order, keeping `to` open across exec and blocking; 0 or the errno. */
export function moveDescriptors(lib: Libc, moves: ReadonlyArray<readonly [number, number]>): number {
  for (const [from, to] of moves) {
    if (from !== to && lib.dup2(from, to) < 0) return lastErrno(lib);
    clearCloexec(lib, to);
    setBlocking(lib, to);
  }
  return 0;
}

const O_CLOEXEC = 0o2000000;
const F_DUPFD_CLOEXEC = 1030;

/** A close-on-exec copy of a descriptor, numbered `minFd` or above; throws an errno error. */
export function duplicateDescriptor(lib: Libc, fd: number, minFd = 3): number {
  const copy = lib.fcntl(fd, F_DUPFD_CLOEXEC, minFd);
  if (copy < 0) throw errnoError(lastErrno(lib), 'fcntl');
  return copy;
}

/** A close-on-exec pipe: [read end, write end], both at least `minFd` so later dup2s cannot clobber them. */
export function makePipe(lib: Libc, minFd = 10): [number, number] {
  const fds = Buffer.alloc(8);
  if (lib.pipe2(fds, O_CLOEXEC) < 0) throw errnoError(lastErrno(lib), 'pipe2');
  return raisePair(lib, fds, minFd);
}

const AF_UNIX = 1;

/** A close-on-exec AF_UNIX stream socket pair (UCSPI-TLS's control socket), both ends at least `minFd`. */
export function makeSocketPair(lib: Libc, minFd = 10): [number, number] {
  const fds = Buffer.alloc(8);
  if (lib.socketpair(AF_UNIX, SOCK_STREAM_CLOEXEC, 0, fds) < 0) throw errnoError(lastErrno(lib), 'socketpair');
  return raisePair(lib, fds, minFd);
}

function raisePair(lib: Libc, fds: Buffer, minFd: number): [number, number] {
  const ends: [number, number] = [fds.readInt32LE(0), fds.readInt32LE(4)];
  for (let i = 0; i < 2; i++) {
    if (ends[i] >= minFd) continue;
    const high = lib.fcntl(ends[i], F_DUPFD_CLOEXEC, minFd);
    if (high < 0) throw errnoError(lastErrno(lib), 'fcntl');
    lib.close(ends[i]);
    ends[i] = high;
  }
  return ends;
}

/** Signal numbers sigaction takes on Linux. */
const ALL_SIGNALS = Array.from({ length: 64 }, (_, i) => i + 1).filter((sig) => sig !== 9 && sig !== 19);
const SIG_IGN = 1n;

/** Ignore a signal (SIG_IGN, which an exec passes on). */
export function ignoreSignal(lib: Libc, sig: number): void {
  lib.signal(sig, lib.koffi.as(SIG_IGN, 'void *'));
}

/** A signal back at its default action. */
export function defaultSignal(lib: Libc, sig: number): void {
  lib.signal(sig, null);
}

/** The signal state a program starts with: the signals it finds ignored, and those blocked. */
export interface ProgramSignals {
  readonly ignored: readonly number[];
  readonly blocked: readonly number[];
}

let programSignals: ProgramSignals = { ignored: [], blocked: [] };
/** posix_spawn attributes for programSignals, made on the first spawn. */
let spawnAttributes: Buffer | undefined;

/** What every program started or exec'd from now on gets (until then: nothing ignored or blocked). */
export function setProgramSignals(signals: ProgramSignals): void {
  programSignals = signals;
  spawnAttributes = undefined;
}

/**
 * A sigset_t (Linux: 1024 bits in unsigned longs, bit n-1 for signal n) made by hand: glibc's
 * sigaddset refuses 32 and 33, which its posix_spawn would otherwise leave ignored in the program.
 */
function sigset(signals: readonly number[]): Buffer {
  const words = new BigUint64Array(16);
  for (const sig of signals) words[(sig - 1) >> 6] |= 1n << BigInt((sig - 1) & 63);
  return Buffer.from(words.buffer);
}

const SIG_SETMASK = 2;

/**
 * Replace this process with a program (dup2 the moves, clear O_NONBLOCK on their targets, give the
 * signals the program's dispositions and mask, execve). Returns only on failure, with the errno.
 */
export function execInPlace(lib: Libc, plan: ExecPlan): number {
  const moveErrno = moveDescriptors(lib, plan.moves ?? []);
  if (moveErrno) return moveErrno;
  inheritStdio(lib);
  const { ignored, blocked } = programSignals;
  for (const sig of NODE_IGNORED_SIGNALS) if (!ignored.includes(sig)) defaultSignal(lib, sig);
  for (const sig of ignored) ignoreSignal(lib, sig);
  if (blocked.length) lib.pthread_sigmask(SIG_SETMASK, sigset(blocked), null);
  lib.execve(plan.path, NO_CACHE.encode(plan.argv), NO_CACHE.encode(plan.env));
  const errno = lastErrno(lib);
  if (blocked.length) lib.pthread_sigmask(SIG_SETMASK, sigset([]), null);
  ignoreSignal(lib, SIGPIPE); // as Node expects
  return errno;
}

const SPAWN_SETSIGDEF = 0x04;
const SPAWN_SETSIGMASK = 0x08;

export interface SpawnPlan extends ExecPlan {
  /** [from, to] descriptor copies done in the child before exec (dup2 clears close-on-exec). */
  readonly moves: ReadonlyArray<readonly [number, number]>;
  /** `path` is a name to search in this process's $PATH, inside the child (posix_spawnp). */
  readonly searchPath?: boolean;
}

/**
 * The same for every spawn, so made once and kept: the calling thread is a libuv worker with every
 * signal blocked, which the child must not inherit, and every signal not meant to be ignored goes
 * back to default (Node's ignored ones, and those ignored here for the server's own sake).
 */
function spawnAttr(lib: Libc): Buffer {
  if (spawnAttributes) return spawnAttributes;
  const attr = Buffer.alloc(512);
  const { ignored, blocked } = programSignals;
  lib.attr_init(attr);
  lib.attr_setsigmask(attr, sigset(blocked));
  lib.attr_setsigdefault(attr, sigset(ALL_SIGNALS.filter((sig) => !ignored.includes(sig))));
  lib.attr_setflags(attr, SPAWN_SETSIGDEF | SPAWN_SETSIGMASK);
  return (spawnAttributes = attr);
}

/**
 * C strings for entries that recur on every spawn (a server's own environment), encoded once.
 * Anything not in it is encoded per call.
 */
export class CStringCache {
  private readonly known = new Map<string, Buffer>();
  constructor(entries: Iterable<string> = []) {
    for (const e of entries) this.known.set(e, cString(e));
  }
  encode(items: readonly string[]): Array<Buffer | null> {
    const out: Array<Buffer | null> = new Array(items.length + 1);
    for (let i = 0; i < items.length; i++) out[i] = this.known.get(items[i]) ?? cString(items[i]);
    out[items.length] = null;
    return out;
  }
}

const NO_CACHE = new CStringCache();

/** posix_spawn file actions, and what to do once the spawn is over. */
interface FileActions {
  readonly actions: Buffer;
  done(): void;
}

/** File actions kept, by their moves ("from>to ..."), and at most how many. */
const keptFileActions = new Map<string, FileActions>();
const KEPT_FILE_ACTIONS = 4096;
const KEEP = (): void => {};

/**
 * The file actions for `moves`, made once and kept: a connection's descriptor is one of a few
 * numbers again and again (the kernel hands out the lowest free one), and making them costs four
 * getrlimit calls in glibc. Kept ones are never destroyed, so a spawn on another thread may use
 * them; past the limit they are made for one spawn and destroyed after it.
 */
function fileActions(lib: Libc, moves: ReadonlyArray<readonly [number, number]>): FileActions {
  let key = '';
  for (const [from, to] of moves) key += `${from}>${to} `;
  const kept = keptFileActions.get(key);
  if (kept) return kept;
  const actions = Buffer.alloc(256);
  lib.fa_init(actions);
  for (const [from, to] of moves) lib.fa_adddup2(actions, from, to);
  if (keptFileActions.size >= KEPT_FILE_ACTIONS) return { actions, done: () => lib.fa_destroy(actions) };
  const made = { actions, done: KEEP };
  keptFileActions.set(key, made);
  return made;
}

/** Whether a listening socket has connections waiting in its queue, without waiting (poll, 0 ms). */
export function hasPendingConnections(lib: Libc, fd: number): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(1, 4); // POLLIN
  return lib.poll(pfd, 1, 0) > 0;
}

const POLLOUT = 4;
const POLLERR = 8;
const POLLHUP = 16;

/**
 * Whether a connected socket's peer is gone for good (reset, or both directions closed), without
 * waiting (poll, 0 ms): a half-closed peer still reads and is not gone.
 */
export function peerGone(lib: Libc, fd: number): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLOUT, 4);
  if (lib.poll(pfd, 1, 0) <= 0) return false;
  return (pfd.readInt16LE(6) & (POLLERR | POLLHUP)) !== 0;
}

/**
 * posix_spawn on this thread: the event loop waits until the child has exec'd (a few hundred µs),
 * but costs about a third of the CPU of spawnAsync's hand-off to koffi's workers. For when there is
 * nothing else to do. Returns the pid, or throws an errno error.
 */
export function spawnNow(lib: Libc, plan: SpawnPlan, strings: CStringCache = NO_CACHE): number {
  const fa = fileActions(lib, plan.moves);
  try {
    const pid = [0];
    const spawn = plan.searchPath ? lib.posix_spawnp : lib.posix_spawn;
    const rc = spawn(pid, plan.path, fa.actions, spawnAttr(lib), strings.encode(plan.argv), strings.encode(plan.env));
    if (rc !== 0) throw errnoError(rc, 'posix_spawn');
    return pid[0];
  } finally {
    fa.done();
  }
}

/**
 * posix_spawn on libuv's thread pool: the event loop never waits for the exec. Resolves with the
 * pid, or rejects with an errno error (an exec failure is reported this way by glibc, which then
 * reaps the failed child itself).
 */
export function spawnAsync(lib: Libc, plan: SpawnPlan, strings: CStringCache = NO_CACHE): Promise<number> {
  const fa = fileActions(lib, plan.moves);
  const argv = strings.encode(plan.argv);
  const envp = strings.encode(plan.env);
  const pid = [0];
  return new Promise((resolve, reject) => {
    const spawn = plan.searchPath ? lib.posix_spawnp : lib.posix_spawn;
    spawn.async(pid, plan.path, fa.actions, spawnAttr(lib), argv, envp, (err: unknown, rc: number) => {
      fa.done();
      void argv; // kept alive until the child has exec'd
      void envp;
      if (err) reject(err);
      else if (rc !== 0) reject(errnoError(rc, 'posix_spawn'));
      else resolve(pid[0]);
    });
  });
}

const P_ALL = 0;
const WEXITED = 4;
const WNOHANG = 1;
const WNOWAIT = 0x01000000;

/**
 * Pid of some exited child that is still waitable, without reaping it (waitid WNOWAIT), or 0.
 * Lets a reaper pick out its own children without stealing child_process's.
 */
export function peekExitedChild(lib: Libc, info: Buffer): number {
  info.fill(0);
  if (lib.waitid(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) < 0) return 0;
  return info.readInt32LE(16); // siginfo_t.si_pid on Linux
}

/** Reap one specific child if it has exited: its raw wait status, or null if still running. */
export function reapChild(lib: Libc, pid: number): number | null {
  const status = [0];
  const r = lib.waitpid(pid, status, WNOHANG);
  if (r === pid) return status[0];
  if (r < 0) return -1;
  return null;
}

/**
 * Terminate by a signal Node ignores (SIGPIPE after EPIPE), as the C program would have died of it:
 * restore the default disposition and send it to ourselves. Returns only if that did not work.
 */
export function dieOfSignal(lib: Libc, sig: number): void {
  defaultSignal(lib, sig);
  process.kill(process.pid, sig);
}

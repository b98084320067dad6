// djb's error texts (error_str.c), not strerror(): log parsers match these.
import { constants } from 'node:os';

const TEXT: ReadonlyArray<readonly [string, string]> = [
  ['EINTR', 'interrupted system call'],
  ['ENOMEM', 'out of memory'],
  ['ENOENT', 'file does not exist'],
  ['ETXTBSY', 'text busy'],
  ['EIO', 'input/output error'],
  ['EEXIST', 'file already exists'],
  ['ETIMEDOUT', 'timed out'],
  ['EINPROGRESS', 'operation in progress'],
  ['EAGAIN', 'temporary failure'],
  ['EWOULDBLOCK', 'input/output would block'],
  ['EPIPE', 'broken pipe'],
  ['EPERM', 'permission denied'],
  ['EACCES', 'access denied'],
  ['ENXIO', 'device not configured'],
  ['EPROTO', 'protocol error'],
  ['EISDIR', 'is a directory'],
  ['ESRCH', 'no such process'],
  ['E2BIG', 'argument list too long'],
  ['ENOEXEC', 'exec format error'],
  ['EBADF', 'file descriptor not open'],
  ['ECHILD', 'no child processes'],
  ['EDEADLK', 'operation would cause deadlock'],
  ['EFAULT', 'bad address'],
  ['ENOTBLK', 'not a block device'],
  ['EBUSY', 'device busy'],
  ['EXDEV', 'cross-device link'],
  ['ENODEV', 'device does not support operation'],
  ['ENOTDIR', 'not a directory'],
  ['EINVAL', 'invalid argument'],
  ['ENFILE', 'system cannot open more files'],
  ['EMFILE', 'process cannot open more files'],
  ['ENOTTY', 'not a tty'],
  ['EFBIG', 'file too big'],
  ['ENOSPC', 'out of disk space'],
  ['ESPIPE', 'unseekable descriptor'],
  ['EROFS', 'read-only file system'],
  ['EMLINK', 'too many links'],
  ['EDOM', 'input out of range'],
  ['ERANGE', 'output out of range'],
  ['EALREADY', 'operation already in progress'],
  ['ENOTSOCK', 'not a socket'],
  ['EDESTADDRREQ', 'destination address required'],
  ['EMSGSIZE', 'message too long'],
  ['EPROTOTYPE', 'incorrect protocol type'],
  ['ENOPROTOOPT', 'protocol not available'],
  ['EPROTONOSUPPORT', 'protocol not supported'],
  ['ESOCKTNOSUPPORT', 'socket type not supported'],
  ['EOPNOTSUPP', 'operation not supported'],
  ['EPFNOSUPPORT', 'protocol family not supported'],
  ['EAFNOSUPPORT', 'address family not supported'],
  ['EADDRINUSE', 'address already used'],
  ['EADDRNOTAVAIL', 'address not available'],
  ['ENETDOWN', 'network down'],
  ['ENETUNREACH', 'network unreachable'],
  ['ENETRESET', 'network reset'],
  ['ECONNABORTED', 'connection aborted'],
  ['ECONNRESET', 'connection reset'],
  ['ENOBUFS', 'out of buffer space'],
  ['EISCONN', 'already connected'],
  ['ENOTCONN', 'not connected'],
  ['ESHUTDOWN', 'socket shut down'],
  ['ETOOMANYREFS', 'too many references'],
  ['ECONNREFUSED', 'connection refused'],
  ['ELOOP', 'symbolic link loop'],
  ['ENAMETOOLONG', 'file name too long'],
  ['EHOSTDOWN', 'host down'],
  ['EHOSTUNREACH', 'host unreachable'],
  ['ENOTEMPTY', 'directory not empty'],
  ['EUSERS', 'too many users'],
  ['EDQUOT', 'disk quota exceeded'],
  ['ESTALE', 'stale NFS file handle'],
  ['EREMOTE', 'too many levels of remote in path'],
  ['ENOLCK', 'no locks available'],
  ['ENOSYS', 'system call not available'],
  ['ENOSTR', 'not a stream device'],
  ['ETIME', 'timer expired'],
  ['ENOSR', 'out of stream resources'],
  ['ENOMSG', 'no message of desired type'],
  ['EBADMSG', 'bad message type'],
  ['EIDRM', 'identifier removed'],
  ['ENONET', 'machine not on network'],
  ['ENOLINK', 'link severed'],
  ['EADV', 'advertise error'],
  ['ESRMNT', 'srmount error'],
  ['ECOMM', 'communication error'],
  ['EMULTIHOP', 'multihop attempted'],
  ['EREMCHG', 'remote address changed'],
];

const errnoTable = constants.errno as Record<string, number>;
// First match wins, as in error_str.c's chain of ifs (EAGAIN shadows EWOULDBLOCK on Linux).
const byNumber = new Map<number, string>([[0, 'no error']]);
for (const [name, text] of TEXT) {
  const n = errnoTable[name];
  if (n !== undefined && !byNumber.has(n)) byNumber.set(n, text);
}

/** The djb text for an errno number (positive or libuv's negative form). */
export function errnoText(errno: number): string {
  return byNumber.get(Math.abs(errno)) ?? 'unknown error';
}

/** The djb text for an error thrown by Node (code 'ENOENT', errno -2) or by our FFI layer. */
export function errorText(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; errno?: unknown };
    if (typeof e.code === 'string' && errnoTable[e.code] !== undefined) return errnoText(errnoTable[e.code]);
    if (typeof e.errno === 'number') return errnoText(e.errno);
  }
  return 'unknown error';
}

/** errno number for a code name, for building errors that carry djb semantics. */
export function errnoOf(code: string): number {
  return errnoTable[code] ?? 0;
}

/** An Error carrying an errno code, as Node's system errors do. */
export class SystemError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(code: string, message?: string) {
    super(message ?? code);
    this.code = code;
    this.errno = -errnoOf(code);
  }
}

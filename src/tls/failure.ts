// What went wrong in a TLS handshake, as a short text for the log: OpenSSL's own error string where
// OpenSSL failed (as ERR_error_string prints it), djb's errno text for socket errors.
import { errorText } from '../errstr';

/** A handshake that did not finish within its time (-T). */
export class HandshakeTimeout extends Error {
  constructor() {
    super('timed out');
  }
}

// Node's message holds OpenSSL's line: "...:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:..."
const OPENSSL_LINE = /error:([0-9A-F]{8}):([^:]*):[^:]*:([^:]*)/;

/** OpenSSL's `error:0A00010B:SSL routines::wrong version number`, or null for other errors. */
export function opensslErrorText(err: unknown): string | null {
  const m = OPENSSL_LINE.exec((err as Error)?.message ?? '');
  return m ? `error:${m[1]}:${m[2]}::${m[3]}` : null;
}

/** The reason a handshake failed. */
export function handshakeFailureText(err: unknown): string {
  if (err instanceof HandshakeTimeout) return 'timed out';
  const openssl = opensslErrorText(err);
  if (openssl) return openssl;
  const e = err as NodeJS.ErrnoException;
  // Node's "Client network socket disconnected before secure TLS connection was established"
  if (e?.code === 'ECONNRESET' && !e.syscall) return 'end of file';
  return errorText(err);
}

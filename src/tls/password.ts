// -3: the private key's password, read once at start-up from descriptor 3 up to a NUL (or the end),
// then descriptor 3 is closed so that no program inherits it, as ucspi-ssl does.
import { closeSync, readSync } from 'node:fs';

/** OpenSSL's PEM_BUFSIZE: the password callback's buffer; a longer password does not fit. */
export const MAX_PASSWORD = 1024;

export type PasswordResult = { readonly password: Buffer } | { readonly error: unknown } | { readonly tooLong: true };

export function readPassword(fd = 3): PasswordResult {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(256);
  let total = 0;
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        // a descriptor someone left non-blocking: wait for the writer a little
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
          continue;
        }
        throw err;
      }
      if (n === 0) break;
      const nul = buf.subarray(0, n).indexOf(0);
      chunks.push(Buffer.from(buf.subarray(0, nul < 0 ? n : nul)));
      total += nul < 0 ? n : nul;
      if (nul >= 0) break;
      // no NUL after more than a password could hold: the rest does not matter
      if (total > MAX_PASSWORD) break;
    }
  } catch (error) {
    return { error };
  } finally {
    try {
      closeSync(fd);
    } catch {
      // not open
    }
  }
  if (total > MAX_PASSWORD) return { tooLong: true };
  return { password: Buffer.concat(chunks) };
}

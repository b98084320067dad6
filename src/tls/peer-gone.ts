// Node's TLS socket can wedge once its peer has sent end of file: if a write of TLS's own (the
// session tickets sent after the handshake) then fails because the peer has gone altogether,
// Node's TLSWrap drops the error and holds its write slot for ever, so every later write and the
// close_notify hang without an error (seen with `openssl s_time`, which closes right after its
// Finished). A TLS socket whose input has ended is therefore watched: once its peer is gone for good
// the socket is destroyed, as the write's EPIPE would have had it in C.
import type { TLSSocket } from 'node:tls';
import { libc, peerGone } from '../ffi';

/** First look soon after the end of input (a peer that closed at once is gone by then), then less often. */
const FIRST_CHECK_MS = 10;
const MAX_CHECK_MS = 1000;
/** Without FFI the peer cannot be asked: pending writes that make no progress this long give up. */
const STALLED_MS = 30_000;

/** Destroy `tls` when its input has ended and its peer (on descriptor `fd`) is gone. */
export function releaseWhenPeerGone(tls: TLSSocket, fd: number): void {
  const watch = (): void => {
    const lib = libc();
    let written = tls.bytesWritten;
    let stalledSince = Date.now();
    let delay = FIRST_CHECK_MS;
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      if (tls.destroyed) return;
      if (lib && fd >= 0) {
        if (peerGone(lib, fd)) return void tls.destroy();
      } else {
        const pending = tls.writableLength > 0 || (tls.writableEnded && !tls.writableFinished);
        if (!pending || tls.bytesWritten !== written) {
          written = tls.bytesWritten;
          stalledSince = Date.now();
        } else if (Date.now() - stalledSince >= STALLED_MS) return void tls.destroy();
      }
      delay = Math.min(delay * 2, MAX_CHECK_MS);
      timer = setTimeout(check, delay).unref();
    };
    timer = setTimeout(check, delay).unref();
    tls.once('close', () => clearTimeout(timer));
  };
  if (tls.readableEnded) watch();
  else tls.once('end', watch);
}

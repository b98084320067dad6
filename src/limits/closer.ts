// Closing a refused client. The tcpserver-limits patch writes DIEMSG, sleeps a second and exits,
// so a client that reconnects at once is slowed to one try a second per connection it holds.
// tcpserver here is one process: the second is a timer, not a sleep, and the number of clients
// waiting out their second is bounded; past the bound a refused client is closed at once. So a
// flood holds at most `maxPending` descriptors, no -c slot, and no time of the accept loop.
import type { Socket } from 'node:net';

export const DEFAULT_CLOSE_DELAY_MS = 1000;
export const DEFAULT_MAX_DELAYED = 64;

export class DelayedCloser {
  private waiting = 0;

  constructor(
    readonly delayMs = DEFAULT_CLOSE_DELAY_MS,
    readonly maxPending = DEFAULT_MAX_DELAYED,
  ) {}

  /** Clients now waiting to be closed. */
  get pending(): number {
    return this.waiting;
  }

  /**
   * Send `message` (CRLF added; '' sends nothing), then close: after the delay if `delay` and
   * there is room, else as soon as the message is written. Returns whether the close was delayed.
   */
  close(socket: Socket, message: string, delay: boolean): boolean {
    const held = delay && this.delayMs > 0 && this.waiting < this.maxPending;
    if (held) {
      this.waiting++;
      setTimeout(() => {
        this.waiting--;
        socket.destroy();
      }, this.delayMs).unref();
    }
    if (message === '') {
      if (!held) socket.destroy();
      return held;
    }
    socket.write(Buffer.from(message + '\r\n', 'latin1'), () => {
      if (!held) socket.destroy();
    });
    // a write that never completes (a client that does not read) must not hold the socket
    if (!held) setTimeout(() => socket.destroy(), this.delayMs || DEFAULT_CLOSE_DELAY_MS).unref();
    return held;
  }
}

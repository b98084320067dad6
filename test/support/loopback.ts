// Loopback addresses for test servers that must use a fixed port (53, 113): every 127.x.y.z is
// local on Linux, so each test file takes its own random one and parallel files never collide.
import { randomInt } from 'node:crypto';

/** A random 127.x.y.z away from 127.0.0.0/16 (where real local services live). */
export function randomLoopbackIp(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/** Run `bind` on random loopback addresses until one is free (EADDRINUSE means try another). */
export async function bindOnRandomLoopback<T>(bind: (ip: string) => Promise<T>, attempts = 20): Promise<T> {
  let lastErr: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await bind(randomLoopbackIp());
    } catch (err) {
      lastErr = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  throw lastErr;
}

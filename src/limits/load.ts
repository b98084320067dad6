// The 1-minute load average × 100, as the tcpserver-limits patch reads it.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/**
 * The patch's /proc/loadavg parse ("13.08 3.04 ..."): 1 to 4 integer digits, a dot, exactly two
 * decimals → integer × 100 + decimals; other decimals → integer × 100. null if it does not start
 * like a load average.
 */
export function parseLoadavg(text: string): number | null {
  const m = /^(\d{1,4})\.(\d*)/.exec(text);
  if (!m) return null;
  const whole = Number(m[1]) * 100;
  return m[2].length === 2 ? whole + Number(m[2]) : whole;
}

/** Current load × 100: /proc/loadavg where there is one, else getloadavg(3) via Node. */
export function currentLoad(read: () => string = () => readFileSync('/proc/loadavg', 'latin1')): number {
  try {
    const load = parseLoadavg(read());
    if (load !== null) return load;
  } catch {
    // not Linux, or /proc not mounted
  }
  return Math.floor(loadavg()[0] * 100);
}

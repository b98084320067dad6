// Reading other processes from /proc, for tests and benchmarks.
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, ...]; null if it is gone. */
export function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // the command name, in parentheses, may itself hold spaces and ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

// USER_HZ, the unit of /proc's CPU times, is 100 on Linux
const MS_PER_TICK = 10;

/**
 * CPU a process has used so far, in ms, from /proc/<pid>/stat: its own (utime+stime) and its reaped
 * children's (cutime+cstime); zeros once it is gone.
 */
export function cpuTimesMs(pid: number): { own: number; children: number } {
  const f = procStat(pid);
  if (!f) return { own: 0, children: 0 };
  return { own: (Number(f[11]) + Number(f[12])) * MS_PER_TICK, children: (Number(f[13]) + Number(f[14])) * MS_PER_TICK };
}

/** The children of a process, with their state letter ('Z' for a zombie). */
export function childrenOf(pid: number): Array<{ pid: number; state: string }> {
  const out: Array<{ pid: number; state: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = procStat(Number(entry));
    if (fields && Number(fields[1]) === pid) out.push({ pid: Number(entry), state: fields[0] });
  }
  return out;
}

/** A number from /proc/<pid>/status (`VmRSS` in kB, `Threads` ...); NaN if the process is gone. */
export function statusNumber(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** How many descriptors a process has open; NaN if it is gone. */
export function openDescriptors(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

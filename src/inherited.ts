// Descriptors above 2 that this process inherited. C programs that exec (argv0, recordio, tcpclient)
// pass every inherited descriptor on to the program; Node marks the low ones close-on-exec at
// start-up (uv_disable_stdio_inheritance), so they would be lost. Node's own descriptors are told
// apart by kind: epoll/eventfd/io_uring (anon_inode), its self-pipes (both ends held), and the
// /dev/null it keeps open. A /dev/null the parent passed is therefore not passed on (harmless).
import { readdirSync, readlinkSync } from 'node:fs';
import { clearCloexec, Libc } from './ffi';

let remembered: number[] | undefined;

function scan(): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const links = new Map<number, string>();
  for (const name of names) {
    const fd = Number(name);
    if (!(fd > 2)) continue;
    try {
      links.set(fd, readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // the directory descriptor readdir used, closed by now
    }
  }
  const seen = new Map<string, number>();
  for (const target of links.values()) seen.set(target, (seen.get(target) ?? 0) + 1);
  const inherited: number[] = [];
  for (const [fd, target] of links) {
    if (target.startsWith('anon_inode:') || target === '/dev/null') continue;
    if (target.startsWith('pipe:') && seen.get(target)! > 1) continue;
    inherited.push(fd);
  }
  return inherited;
}

/** Take note of the inherited descriptors; call first thing, before this process opens any. */
export function rememberInheritedDescriptors(): void {
  remembered ??= scan();
}

/** Let the remembered descriptors survive the coming exec. */
export function keepInheritedDescriptors(lib: Libc): void {
  for (const fd of remembered ?? []) clearCloexec(lib, fd);
}

/** Whether fd was open when this process started (as far as the scan can tell; see above). */
export function wasInherited(fd: number): boolean {
  rememberInheritedDescriptors();
  return remembered!.includes(fd);
}

/** Leave these out of what programs get (sockets handed to tcpserver for itself). */
export function forgetInheritedDescriptors(fds: readonly number[]): void {
  rememberInheritedDescriptors();
  remembered = remembered!.filter((fd) => !fds.includes(fd));
}

// Listening sockets tcpserver is handed instead of binding its own: systemd's socket activation
// (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, descriptors from 3 on) or the s6 way,
// one socket on descriptor 0 (-0). The one serving the host and port operands is used, so the same
// command line works with and without them; none of them, nor the variables, reach the programs.
import type { Socket } from 'node:net';
import { formatIp4, formatIp6, isV4Mapped } from '../dns/address';
import { duplicateDescriptor, Libc, listeningTcpAddress, setCloexec } from '../ffi';
import { forgetInheritedDescriptors } from '../inherited';
import type { ListenAddress } from './host';
import { adoptListener, Listener } from './listener';

export const ACTIVATION_VARIABLES: readonly string[] = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'];
const SD_LISTEN_FDS_START = 3;

/** sd_listen_fds: the descriptors systemd passed to this process; [] when none are meant for it. */
export function systemdDescriptors(get: (name: string) => string | undefined, pid: number): number[] {
  const forPid = get('LISTEN_PID');
  const count = get('LISTEN_FDS');
  if (forPid === undefined || count === undefined || !/^[0-9]{1,9}$/.test(count)) return [];
  if (!/^[1-9][0-9]*$/.test(forPid) || Number(forPid) !== pid) return [];
  return Array.from({ length: Number(count) }, (_, i) => SD_LISTEN_FDS_START + i);
}

/** The environment without sd_listen_fds's variables (which it unsets, whoever they were for). */
export function withoutActivationVariables(environ: readonly string[]): string[] {
  return environ.filter((e) => !ACTIVATION_VARIABLES.includes(e.slice(0, e.indexOf('='))));
}

/** An inherited listening socket's address. */
export interface SocketAddress {
  /** 4 bytes (an IPv4 socket) or 16 (an IPv6 socket) */
  readonly ip: Buffer;
  readonly port: number;
}

export function addressText(a: SocketAddress): string {
  return `${a.ip.length === 4 ? formatIp4(a.ip) : formatIp6(a.ip)} port ${a.port}`;
}

const as16 = (ip: Buffer): Buffer => (ip.length === 16 ? ip : Buffer.concat([Buffer.from('00000000000000000000ffff', 'hex'), ip]));

/**
 * Whether a socket serves the host and port operands: the host's address (v4-mapped or not alike;
 * `0` any wildcard socket, only an IPv4 one with -4), the same port (port 0: any).
 */
export function servesOperands(s: SocketAddress, want: ListenAddress, port: number, ipv4Only: boolean): boolean {
  if (port !== 0 && s.port !== port) return false;
  if (want.ip.every((b) => b === 0)) return s.ip.every((b) => b === 0) && (!ipv4Only || s.ip.length === 4);
  const a = as16(s.ip);
  return a.equals(as16(want.ip)) && (!ipv4Only || s.ip.length === 4 || isV4Mapped(a));
}

export type InheritedChoice =
  | { readonly fd: number; readonly address: SocketAddress }
  /** a descriptor that is no listening TCP socket, or none that serves the operands */
  | { readonly notListening: number }
  | { readonly noneServes: readonly SocketAddress[] };

/** The inherited socket that serves the operands, if any. */
export function chooseInherited(lib: Libc, fds: readonly number[], want: ListenAddress, port: number, ipv4Only: boolean): InheritedChoice {
  const seen: SocketAddress[] = [];
  for (const fd of fds) {
    const address = listeningTcpAddress(lib, fd);
    if (!address) {
      if (fds.length === 1) return { notListening: fd };
      continue;
    }
    if (servesOperands(address, want, port, ipv4Only)) return { fd, address };
    seen.push(address);
  }
  return { noneServes: seen };
}

/**
 * The listening sockets handed to this process: descriptor 0 with -0, else systemd's. They are
 * left out of the descriptors programs inherit.
 */
export function inheritedListeners(listenOnStdin: boolean, get: (name: string) => string | undefined, pid: number): number[] {
  const fds = listenOnStdin ? [0] : systemdDescriptors(get, pid);
  forgetInheritedDescriptors(fds);
  return fds;
}

/**
 * Serve the inherited socket that serves the operands (with `backlog` as its queue), closing the
 * others; or say why none can be used.
 */
export async function adoptInherited(
  lib: Libc,
  fds: readonly number[],
  want: ListenAddress,
  port: number,
  o: { readonly ipv4Only: boolean; readonly backlog: number },
  onConnection: (socket: Socket) => void,
): Promise<Listener | Exclude<InheritedChoice, { fd: number }>> {
  const choice = chooseInherited(lib, fds, want, port, o.ipv4Only);
  if (!('fd' in choice)) return choice;
  for (const fd of fds) if (fd !== choice.fd && fd > 2) lib.close(fd);
  // descriptor 0 gets /dev/null once tcpserver listens (0.88 closes it): serve a copy
  const fd = choice.fd < 3 ? duplicateDescriptor(lib, choice.fd) : choice.fd;
  setCloexec(lib, fd);
  return adoptListener(lib, fd, o.backlog, onConnection, choice.address.ip.length === 16);
}

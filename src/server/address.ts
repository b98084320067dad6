// A connection's addresses as tcpserver reports them. 0.88 knows only IPv4; Debian's
// ucspi-tcp-ipv6 reports a v4-mapped client as plain IPv4 unless -6, and everything else as
// IPv6 text in its own format (first longest zero run compressed, even a single group).
import { formatIp4, formatIp6, isV4Mapped, parseIp4, parseIp6 } from '../dns/address';
import { libc, peerOf } from '../ffi';

export interface Endpoint {
  /** The address as this connection reports it: dotted IPv4, or IPv6 text. */
  readonly text: string;
  /** Always IPv6 text (v4-mapped for IPv4), for the TCP6* variables. */
  readonly text6: string;
  /** An IPv4 address (plain or v4-mapped). */
  readonly ipv4: boolean;
  /** Interface name of a scoped (link-local) address, as Node appends it after '%'. */
  readonly scope: string | null;
}

/** Parse Node's address text ('127.0.0.1', '::ffff:127.0.0.1', 'fe80::1%eth0'). */
export function endpointOf(nodeText: string, ipv6Form: boolean): Endpoint | null {
  const pct = nodeText.indexOf('%');
  const bare = pct < 0 ? nodeText : nodeText.slice(0, pct);
  const scope = pct < 0 ? null : nodeText.slice(pct + 1);
  const v4 = parseIp4(bare);
  const v6 = v4 ? null : parseIp6(bare);
  if (!v4 && !v6) return null;
  const ipv4 = v4 !== null || isV4Mapped(v6 as Buffer);
  const dotted = v4 ? formatIp4(v4) : ipv4 ? formatIp4(v6 as Buffer, 12) : '';
  const text6 = v4 ? `::ffff:${dotted}` : formatIp6(v6 as Buffer);
  return { text: ipv4 && !ipv6Form ? dotted : text6, text6, ipv4, scope };
}

/** Where a connection comes from and goes to, as the steps, the log and the environment see it. */
export interface ConnectionAddresses {
  /** The IPv6 variant's view: PROTO=TCP6 and IPv6 text (an IPv6 client, or any client with -6). */
  proto6: boolean;
  /** Set the TCP6* variables too (a server on an IPv6 socket, an IPv6 client, or -6). */
  tcp6Vars: boolean;
  localIp: string;
  localIp6: string;
  localPort: number;
  remoteIp: string;
  remoteIp6: string;
  remotePort: number;
  /** TCP6INTERFACE: the interface of a link-local local address. */
  interfaceName: string | null;
}

/** The addresses of a connection from `remote` to `local`; `tcp6Vars`: the server's socket is IPv6, or -6. */
export function connectionAddresses(
  local: Endpoint,
  localPort: number,
  remote: Endpoint,
  remotePort: number,
  o: { readonly ipv6Form: boolean; readonly tcp6Vars: boolean },
): ConnectionAddresses {
  return {
    proto6: !remote.ipv4 || o.ipv6Form,
    // the IPv6 variant sets its TCP6* variables for every client of an IPv6 socket
    tcp6Vars: o.tcp6Vars || !remote.ipv4,
    localIp: local.text,
    localIp6: local.text6,
    localPort,
    remoteIp: remote.text,
    remoteIp6: remote.text6,
    remotePort,
    interfaceName: local.scope,
  };
}

/**
 * The client's address and port in Node's text, for a socket whose remoteAddress Node no longer
 * knows (the client reset the connection while it waited in the listen queue), as 0.88, which has
 * it from accept(), would report it. Null without FFI, or when the kernel does not say either.
 */
export function peerOfReset(fd: number, ipv6Socket: boolean): { text: string; port: number } | null {
  const lib = libc();
  const peer = lib ? peerOf(lib, fd, ipv6Socket) : null;
  if (!peer) return null;
  return { text: peer.ip.length === 4 ? formatIp4(peer.ip) : formatIp6(peer.ip), port: peer.port };
}

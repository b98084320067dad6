// The sending side (tcpclient -P, and sslclient before its handshake): the header for the connection
// the client runs under, as tcpserver describes it to its program (TCPREMOTEIP and TCPREMOTEPORT are
// the source, TCPLOCALIP and TCPLOCALPORT the destination), so that `tcpserver ... tcpclient -P2
// backend ...` passes the real client on; without TCPREMOTEIP, the client's own connection.
import { isV4Mapped } from '../dns/address';
import type { ProxyEndpoint } from './inspection';
import { ip4FromText, ip6FromText, portFromText } from './text';
import { formatV1 } from './v1';
import { formatV2 } from './v2';

export type HeaderVersion = 1 | 2;

/** -P's argument: 1 or 2. */
export function parseHeaderVersion(arg: string): HeaderVersion | null {
  return arg === '1' ? 1 : arg === '2' ? 2 : null;
}

/** A connection's ends in Node's address text (v4-mapped and %zone allowed). */
export interface OwnEnds {
  readonly localIp: string;
  readonly localPort: number;
  readonly remoteIp: string;
  readonly remotePort: number;
}

/** 4 bytes for IPv4 (v4-mapped included), 16 for IPv6, null for anything else. */
function addressBytes(text: string): Buffer | null {
  const bare = text.replace(/%.*$/, '');
  const ip = ip4FromText(bare) ?? ip6FromText(bare);
  return ip && ip.length === 16 && isV4Mapped(ip) ? Buffer.from(ip.subarray(12)) : ip;
}

/**
 * The header to send first on the connection, or what is wrong with the variables it would be made
 * from (`TCPLOCALPORT=x is not a port`).
 */
export function headerToSend(
  version: HeaderVersion,
  env: (name: string) => string | undefined,
  own: OwnEnds,
): Buffer | { readonly problem: string } {
  let source: ProxyEndpoint;
  let destination: ProxyEndpoint;
  if (env('TCPREMOTEIP') === undefined) {
    const local = addressBytes(own.localIp);
    const remote = addressBytes(own.remoteIp);
    if (!local || !remote) return { problem: `${local ? own.remoteIp : own.localIp} is not an IP address` };
    source = { ip: local, port: own.localPort };
    destination = { ip: remote, port: own.remotePort };
  } else {
    const values: Array<Buffer | number> = [];
    for (const name of ['TCPREMOTEIP', 'TCPREMOTEPORT', 'TCPLOCALIP', 'TCPLOCALPORT']) {
      const text = env(name) ?? '';
      const value = name.endsWith('IP') ? addressBytes(text) : portFromText(text);
      if (value === null) return { problem: `${name}=${text} is not ${name.endsWith('IP') ? 'an IP address' : 'a port'}` };
      values.push(value);
    }
    const [sip, sport, dip, dport] = values as [Buffer, number, Buffer, number];
    source = { ip: sip, port: sport };
    destination = { ip: dip, port: dport };
  }
  return version === 1 ? formatV1(source, destination) : formatV2(source, destination);
}

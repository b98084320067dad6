// The sending side (tcpclient -P, and sslclient before its handshake): the header for the connection
// the client runs under, as tcpserver describes it to its program (TCPREMOTEIP and TCPREMOTEPORT are
// the source, TCPLOCALIP and TCPLOCALPORT the destination), so that `tcpserver ... tcpclient -P2
// backend ...` passes the real client on; without TCPREMOTEIP, the client's own connection.
import { isIPv4, isIPv6 } from 'node:net';
import { parseIp4, parseIp6 } from '../dns/address';
import type { ProxyEndpoint } from './inspection';
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
  if (isIPv4(bare)) return parseIp4(bare);
  if (!isIPv6(bare)) return null;
  const ip = parseIp6(bare);
  if (ip && ip.subarray(0, 12).equals(Buffer.from('00000000000000000000ffff', 'hex'))) return Buffer.from(ip.subarray(12));
  return ip;
}

function portNumber(text: string): number | null {
  return /^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535 ? Number(text) : null;
}

/**
 * The header to send first on the connection, or what is wrong with the variables it would be made
 * from (`TCPLOCALPORT=x is not a port`).
 */
export function headerToSend(version: HeaderVersion, env: (name: string) => string | undefined, own: OwnEnds): Buffer | { readonly problem: string } {
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
      const value = name.endsWith('IP') ? addressBytes(text) : portNumber(text);
      if (value === null) return { problem: `${name}=${text} is not ${name.endsWith('IP') ? 'an IP address' : 'a port'}` };
      values.push(value);
    }
    const [sip, sport, dip, dport] = values as [Buffer, number, Buffer, number];
    source = { ip: sip, port: sport };
    destination = { ip: dip, port: dport };
  }
  return version === 1 ? formatV1(source, destination) : formatV2(source, destination);
}

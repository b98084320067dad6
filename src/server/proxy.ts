// The PROXY step: a connection from a peer in PROXYFROM (a load balancer) must begin with a PROXY
// header, whose addresses then replace the connection's own, so that everything after this step
// (banner, name lookups, rules, limits, the log lines, the environment) sees the real client. A
// connection from anyone else never has a header read: otherwise any client could forge its address.
import { formatIp4, formatIp6 } from '../dns/address';
import { libc } from '../ffi';
import type { ProxyEndpoint } from '../proxy/inspection';
import { ReadOutcome, readProxyHeader } from '../proxy/read';
import { tlvVariables } from '../proxy/tlv';
import { parseTrustedPeers, TrustedPeers } from '../proxy/trusted';
import { scanUlong } from '../scan';
import { connectionAddresses, Endpoint, endpointOf } from './address';
import { Connection, Drop, relayOf, Step } from './connection';
import type { ServerOptions } from './options';

export interface ProxySettings {
  readonly trusted: TrustedPeers;
  /** how long a trusted peer has to send its whole header */
  readonly timeoutMs: number;
}

export const DEFAULT_PROXY_TIMEOUT_SECONDS = 5;

/**
 * PROXYFROM and PROXYTIMEOUT from tcpserver's environment: null when PROXYFROM lists no peer (the
 * step is then left out), `bad` with the first entry that is neither an address nor a prefix.
 */
export function proxySettings(get: (name: string) => string | undefined): ProxySettings | null | { readonly bad: string } {
  const from = get('PROXYFROM');
  if (from === undefined) return null;
  const trusted = parseTrustedPeers(from);
  if (!(trusted instanceof TrustedPeers)) return trusted;
  if (trusted.empty) return null;
  const seconds = scanUlong(get('PROXYTIMEOUT') ?? '');
  const timeout = seconds.length > 0 && seconds.value > 0n ? Number(seconds.value) : DEFAULT_PROXY_TIMEOUT_SECONDS;
  return { trusted, timeoutMs: Math.min(timeout * 1000, 2 ** 31 - 1) };
}

/** A header's endpoint as Node would have reported it, in this server's form (-6). */
function endpointFrom(e: ProxyEndpoint, ipv6Form: boolean): Endpoint {
  return endpointOf(e.ip.length === 4 ? formatIp4(e.ip) : formatIp6(e.ip), ipv6Form) as Endpoint;
}

export function proxyStep(settings: ProxySettings): Step {
  return (c: Connection, o) => {
    if (!settings.trusted.trusts(c.remoteIp)) return;
    const r = readProxyHeader(libc(), c, settings.timeoutMs);
    // a header that has arrived already is taken in this turn, as the steps after it may be
    if (r instanceof Promise) return r.then((outcome) => useHeader(c, o, outcome));
    useHeader(c, o, r);
  };
}

function useHeader(c: Connection, o: ServerOptions, r: ReadOutcome): void {
  if (r.kind === 'invalid') throw new Drop(`unable to parse PROXY header: ${r.reason}`);
  if (r.kind === 'unreadable') throw new Drop(`unable to read PROXY header: ${r.reason}`);
  // bytes after the header wait in Node's buffer of the socket: only a relay can hand them on
  if (r.buffered) relayOf(c);
  const { addresses, tlvs } = r.header;
  // LOCAL (health checks), UNKNOWN, UNSPEC and UNIX: the connection's own endpoints stand
  if (addresses) {
    const { source, destination } = addresses;
    Object.assign(
      c,
      connectionAddresses(endpointFrom(destination, o.ipv6Form), destination.port, endpointFrom(source, o.ipv6Form), source.port, {
        ipv6Form: o.ipv6Form,
        tcp6Vars: c.tcp6Vars,
      }),
    );
    c.proxied = true;
  }
  for (const [name, value] of tlvVariables(tlvs)) c.env.set(name, value);
}

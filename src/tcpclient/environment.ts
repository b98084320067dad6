// The variables tcpclient sets for its program, in 0.88's order (which is the order they are appended
// to the environment): PROTO, TCPLOCALPORT, TCPLOCALIP, TCPLOCALHOST, TCPREMOTEPORT, TCPREMOTEIP,
// TCPREMOTEHOST, TCPREMOTEINFO. IPv6 as Debian's ucspi-tcp-ipv6 tcpclient: PROTO=TCP and dotted
// addresses for an IPv4 (or v4-mapped) connection unless -6, else PROTO=TCP6 and IPv6 text; unlike
// its tcpserver, no TCP6* variables.
import { EnvChanges } from '../pathexec';
import { endpointOf } from '../server/address';

export interface ConnectionEnds {
  /** Node's address text ('127.0.0.1', '::ffff:127.0.0.1', 'fe80::1%eth0'). */
  readonly localIp: string;
  readonly localPort: number;
  readonly remoteIp: string;
  readonly remotePort: number;
}

export interface EnvironmentOptions {
  /** -l: TCPLOCALHOST as given, no lookup. */
  readonly localName?: string;
  readonly remoteHost: boolean;
  readonly remoteInfo: boolean;
  readonly infoTimeoutSeconds: number;
  /** -6: IPv6 form (PROTO=TCP6) even for an IPv4 connection. */
  readonly ipv6Form?: boolean;
  /** The variables' names: tcpclient's by default. */
  readonly names?: ClientVariableNames;
}

/** PROTO's values and the prefixes each variable is set under (in this order). */
export interface ClientVariableNames {
  readonly proto4: string;
  readonly proto6: string;
  /** `TCP` for tcpclient; `SSL`, or `SSL` and `TCP` (-e) for sslclient */
  readonly prefixes: readonly string[];
}

export const TCPCLIENT_NAMES: ClientVariableNames = { proto4: 'TCP', proto6: 'TCP6', prefixes: ['TCP'] };

/** The lookups the environment needs (DNS PTR, ident); injectable for tests. */
export interface Lookups {
  /** PTR name; null when the lookup succeeded without a name; rejects when it failed. */
  nameForIp(ip: string): Promise<string | null>;
  remoteInfo(q: { localIp: string; remoteIp: string; localPort: number; remotePort: number; timeoutMs: number }): Promise<string | null>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A host name variable as tcpclient 0.88 sets it: unlike tcpserver, a lookup that finds no name
 * sets it empty, and only a failed lookup leaves it unset.
 */
async function hostVariable(lookups: Lookups, ip: string): Promise<string | null> {
  try {
    return (await lookups.nameForIp(ip)) ?? '';
  } catch {
    return null;
  }
}

/** An address as the environment shows it: dotted or IPv6 text (Node's text when it is neither). */
function shown(nodeText: string, ipv6Form: boolean): { text: string; ipv4: boolean } {
  return endpointOf(nodeText, ipv6Form) ?? { text: nodeText, ipv4: !nodeText.includes(':') };
}

/**
 * The environment edits for a connection; `connected` runs where 0.88 prints its -v line and gets
 * the remote address as the environment shows it.
 */
export async function connectionEnvironment(
  ends: ConnectionEnds,
  opts: EnvironmentOptions,
  lookups: Lookups,
  connected: (remoteIp: string) => void,
): Promise<EnvChanges> {
  const ipv6Form = opts.ipv6Form ?? false;
  const names = opts.names ?? TCPCLIENT_NAMES;
  const local = shown(ends.localIp, ipv6Form);
  const remote = shown(ends.remoteIp, ipv6Form);
  const env = new EnvChanges();
  const put = (name: string, value: string | null) => {
    for (const prefix of names.prefixes) env.put(prefix + name, value);
  };
  // the C variant decides by the local address alone (an IPv4 socket's peer is IPv4 too)
  env.set('PROTO', local.ipv4 && !ipv6Form ? names.proto4 : names.proto6);
  put('LOCALPORT', String(ends.localPort));
  put('LOCALIP', local.text);
  put('LOCALHOST', opts.localName ?? (await hostVariable(lookups, local.text)));
  put('REMOTEPORT', String(ends.remotePort));
  put('REMOTEIP', remote.text);
  connected(remote.text);
  put('REMOTEHOST', opts.remoteHost ? await hostVariable(lookups, remote.text) : null);
  const info = opts.remoteInfo
    ? await lookups.remoteInfo({
        localIp: ends.localIp,
        remoteIp: ends.remoteIp,
        localPort: ends.localPort,
        remotePort: ends.remotePort,
        timeoutMs: Math.min(opts.infoTimeoutSeconds * 1000, MAX_TIMER_MS),
      })
    : null;
  put('REMOTEINFO', info);
  return env;
}

// The variables tcpclient sets for its program, in 0.88's order (which is the order they are appended
// to the environment): PROTO, TCPLOCALPORT, TCPLOCALIP, TCPLOCALHOST, TCPREMOTEPORT, TCPREMOTEIP,
// TCPREMOTEHOST, TCPREMOTEINFO.
import { EnvChanges } from '../pathexec';

export interface ConnectionEnds {
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
}

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

/** The environment edits for a connection; `connected` runs where 0.88 prints its -v line. */
export async function connectionEnvironment(
  ends: ConnectionEnds,
  opts: EnvironmentOptions,
  lookups: Lookups,
  connected: () => void,
): Promise<EnvChanges> {
  const env = new EnvChanges();
  env.set('PROTO', 'TCP');
  env.set('TCPLOCALPORT', String(ends.localPort));
  env.set('TCPLOCALIP', ends.localIp);
  env.put('TCPLOCALHOST', opts.localName ?? (await hostVariable(lookups, ends.localIp)));
  env.set('TCPREMOTEPORT', String(ends.remotePort));
  env.set('TCPREMOTEIP', ends.remoteIp);
  connected();
  env.put('TCPREMOTEHOST', opts.remoteHost ? await hostVariable(lookups, ends.remoteIp) : null);
  const info = opts.remoteInfo
    ? await lookups.remoteInfo({
        localIp: ends.localIp,
        remoteIp: ends.remoteIp,
        localPort: ends.localPort,
        remotePort: ends.remotePort,
        timeoutMs: Math.min(opts.infoTimeoutSeconds * 1000, MAX_TIMER_MS),
      })
    : null;
  env.put('TCPREMOTEINFO', info);
  return env;
}

// The part of a client's run that tcpclient and sslclient share: the host's addresses, the connect
// loop with 0.88's messages, the connection's two ends, and the environment that describes it
// (with the `connected to` line where 0.88 prints it).
import type { Socket } from 'node:net';
import { errorText } from '../errstr';
import type { Diagnostics } from '../messages';
import type { EnvChanges } from '../pathexec';
import { headerToSend, HeaderVersion } from '../proxy/send';
import { rawEnv } from '../rawproc';
import { addressesForHost } from './address';
import { connectFirst } from './connect';
import { ClientVariableNames, ConnectionEnds, connectionEnvironment, Lookups } from './environment';
import type { ConnectOptions } from './options';

// DNS and ident load only when a lookup is needed (start-up cost; -RHl0 needs neither)
const lookups: Lookups = {
  nameForIp: async (ip) => (await import('../dns')).nameForIp(ip),
  remoteInfo: async (q) => (await import('../ident')).remoteInfo(q),
};

/** Connected to the first address of `host` that answers; exits with 0.88's messages otherwise. */
export async function connectToHost(diag: Diagnostics, o: ConnectOptions, host: string, port: number): Promise<Socket> {
  let addresses: string[];
  try {
    addresses = await addressesForHost(host, o.ipv4Only);
  } catch (err) {
    return diag.fatal(`temporarily unable to figure out IP address for ${host}: ${errorText(err)}`);
  }
  if (addresses.length === 0) diag.fatal(`no IP address for ${host}`);
  const outcome = await connectFirst(
    {
      addresses,
      port,
      localIp: o.localIp,
      localPort: o.localPort,
      timeouts: o.connectTimeouts,
      ipv4Only: o.ipv4Only,
      scope: o.interfaceName,
    },
    (ip, error) => diag.say(`unable to connect to ${ip} port ${port}: ${errorText(error)}`),
  );
  if (outcome.kind === 'setup') {
    diag.fatal(`${outcome.stage === 'bind' ? 'unable to bind socket' : 'unable to create socket'}: ${errorText(outcome.error)}`);
  }
  if (outcome.kind === 'exhausted') process.exit(111);
  return outcome.socket;
}

/** The connection's addresses and ports, as Node reports them. */
export function connectionEnds(diag: Diagnostics, socket: Socket): ConnectionEnds {
  const ends = {
    localIp: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    remoteIp: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
  };
  if (!ends.localIp) diag.fatal('unable to get local address: not connected');
  if (!ends.remoteIp) diag.fatal('unable to get remote address: not connected');
  return ends;
}

/**
 * -P: the PROXY header, written before anything else (before sslclient's handshake too), so it is
 * the first thing the server reads.
 */
export async function sendProxyHeader(diag: Diagnostics, socket: Socket, version: HeaderVersion, ends: ConnectionEnds): Promise<void> {
  const header = headerToSend(version, rawEnv, ends);
  if (!Buffer.isBuffer(header)) return diag.fatal(`unable to make PROXY header: ${header.problem}`);
  await new Promise<void>((resolve) => {
    socket.write(header, (err) => (err ? diag.fatalSys('unable to send PROXY header', err) : resolve()));
  });
}

/** The program's variables for the connection (tcpclient's names unless told). */
export function describeConnection(
  diag: Diagnostics,
  ends: ConnectionEnds,
  o: ConnectOptions,
  names?: ClientVariableNames,
): Promise<EnvChanges> {
  return connectionEnvironment(
    ends,
    {
      localName: o.localName,
      remoteHost: o.remoteHost,
      remoteInfo: o.remoteInfo,
      infoTimeoutSeconds: o.infoTimeout,
      ipv6Form: o.ipv6Form,
      names,
    },
    lookups,
    (remoteIp) => {
      if (o.verbosity >= 2) diag.say(`connected to ${remoteIp} port ${ends.remotePort}`);
    },
  );
}

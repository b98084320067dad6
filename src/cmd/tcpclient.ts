// tcpclient: connect to host:port, set the TCP* environment, run the program with the connection on
// fds 6 and 7 (0.88 semantics, IPv6 as Debian's ucspi-tcp-ipv6; see doc/tcpclient.md).
import type { Socket } from 'node:net';
import { basename } from 'node:path';
import { errorText } from '../errstr';
import { getoptProblemMessage } from '../getopt';
import { Diagnostics } from '../messages';
import { programPath, rawArgs, rawEnv } from '../rawproc';
import { headerToSend } from '../proxy/send';
import { portForOperand } from '../services';
import { addressesForHost, thisHost } from '../tcpclient/address';
import { connectFirst } from '../tcpclient/connect';
import { connectionEnvironment, Lookups } from '../tcpclient/environment';
import { runProgramOnSocket } from '../tcpclient/handover';
import { parseCommandLine, TCPCLIENT_USAGE } from '../tcpclient/options';
import { rememberInheritedDescriptors } from '../inherited';

// DNS and ident load only when a lookup is needed (start-up cost; -RHl0 needs neither)
const lookups: Lookups = {
  nameForIp: async (ip) => (await import('../dns')).nameForIp(ip),
  remoteInfo: async (q) => (await import('../ident')).remoteInfo(q),
};

/** The header goes out before the program runs, so it is the first thing the server reads. */
async function sendProxyHeader(diag: Diagnostics, socket: Socket, header: Buffer | { problem: string }): Promise<void> {
  if (!Buffer.isBuffer(header)) return diag.fatal(`unable to make PROXY header: ${header.problem}`);
  await new Promise<void>((resolve) => {
    socket.write(header, (err) => (err ? diag.fatalSys('unable to send PROXY header', err) : resolve()));
  });
}

export async function main(): Promise<void> {
  rememberInheritedDescriptors();
  const diag: Diagnostics = new Diagnostics('tcpclient', TCPCLIENT_USAGE);
  const parsed = parseCommandLine(rawArgs());
  if (parsed.kind === 'getopt') {
    diag.line(getoptProblemMessage(basename(programPath()), parsed.problem));
    diag.usage(true);
  }
  if (parsed.kind === 'usage') diag.usage(true);
  const { options, operands } = parsed;
  diag.verbosity = options.verbosity;

  let [host, portOperand, ...program] = operands;
  if (host === undefined) diag.usage();
  // 0.88: "" and "0" mean this host, 127.0.0.1 (not 0.0.0.0); ::1 when IPv6 is asked for
  if (host === '' || host === '0') host = thisHost(options);
  if (portOperand === undefined) diag.usage();
  const port = portForOperand(portOperand);
  if (port === null) diag.fatal(`unable to figure out port number for ${portOperand}`);
  if (program.length === 0) diag.usage();

  let addresses: string[];
  try {
    addresses = await addressesForHost(host, options.ipv4Only);
  } catch (err) {
    diag.fatal(`temporarily unable to figure out IP address for ${host}: ${errorText(err)}`);
  }
  if (addresses.length === 0) diag.fatal(`no IP address for ${host}`);

  const outcome = await connectFirst(
    {
      addresses,
      port,
      localIp: options.localIp,
      localPort: options.localPort,
      timeouts: options.connectTimeouts,
      ipv4Only: options.ipv4Only,
      scope: options.interfaceName,
    },
    (ip, error) => diag.say(`unable to connect to ${ip} port ${port}: ${errorText(error)}`),
  );
  if (outcome.kind === 'setup') {
    diag.fatal(`${outcome.stage === 'bind' ? 'unable to bind socket' : 'unable to create socket'}: ${errorText(outcome.error)}`);
  }
  if (outcome.kind === 'exhausted') process.exit(111);
  const { socket } = outcome;
  if (!options.delay) socket.setNoDelay(true);

  const ends = {
    localIp: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    remoteIp: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
  };
  if (!ends.localIp) diag.fatal('unable to get local address: not connected');
  if (!ends.remoteIp) diag.fatal('unable to get remote address: not connected');
  if (options.proxyHeader !== null) await sendProxyHeader(diag, socket, headerToSend(options.proxyHeader, rawEnv, ends));
  const env = await connectionEnvironment(
    ends,
    {
      localName: options.localName,
      remoteHost: options.remoteHost,
      remoteInfo: options.remoteInfo,
      infoTimeoutSeconds: options.infoTimeout,
      ipv6Form: options.ipv6Form,
    },
    lookups,
    (remoteIp) => {
      if (options.verbosity >= 2) diag.say(`connected to ${remoteIp} port ${ends.remotePort}`);
    },
  );
  runProgramOnSocket(diag, socket, program, env);
}

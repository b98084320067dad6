// tcpclient: connect to host:port, set the TCP* environment, run the program with the connection on
// fds 6 and 7 (0.88 semantics, IPv6 as Debian's ucspi-tcp-ipv6; see doc/tcpclient.md).
import { basename } from 'node:path';
import { getoptProblemMessage } from '../getopt';
import { Diagnostics } from '../messages';
import { programPath, rawArgs } from '../rawproc';
import { portForOperand } from '../services';
import { thisHost } from '../tcpclient/address';
import { connectionEnds, connectToHost, describeConnection, sendProxyHeader } from '../tcpclient/open';
import { runProgramOnSocket } from '../tcpclient/handover';
import { parseCommandLine, TCPCLIENT_USAGE } from '../tcpclient/options';
import { rememberInheritedDescriptors } from '../inherited';

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

  const socket = await connectToHost(diag, options, host, port);
  if (!options.delay) socket.setNoDelay(true);
  const ends = connectionEnds(diag, socket);
  if (options.proxyHeader !== null) await sendProxyHeader(diag, socket, options.proxyHeader, ends);
  const env = await describeConnection(diag, ends, options);
  runProgramOnSocket(diag, socket, program, env);
}

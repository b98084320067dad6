// sslclient: connect as tcpclient does, speak TLS, check the server's certificate, then run the
// program with the session on fds 6 and 7 through a relay in this process (ucspi-ssl 0.95b's command
// line and messages; see doc/sslclient.md).
import { basename } from 'node:path';
import { errorText } from '../errstr';
import { getoptProblemMessage } from '../getopt';
import { rememberInheritedDescriptors } from '../inherited';
import { Diagnostics } from '../messages';
import { programPath, rawArgs, rawEnviron } from '../rawproc';
import { portForOperand } from '../services';
import { parseSslClientArgs, SSLCLIENT_USAGE } from '../sslclient/options';
import { endAs, runProgram } from '../sslclient/program';
import { connectTls, serverProblem } from '../sslclient/secure';
import { addressesForHost } from '../tcpclient/address';
import { connectFirst } from '../tcpclient/connect';
import { connectionEnvironment, Lookups } from '../tcpclient/environment';
import { makeContext } from '../tls/context';
import { handshakeFailureText } from '../tls/failure';
import { PASSWORD_TOO_LONG, READ_PASSWORD, SSLCLIENT_CONTEXT_FAILURES, sslConnectFailure } from '../tls/messages';
import { readPassword } from '../tls/password';
import { sessionEnvironment } from '../tls/session';

// DNS and ident load only when a lookup is needed (start-up cost; -RHl0 needs neither)
const lookups: Lookups = {
  nameForIp: async (ip) => (await import('../dns')).nameForIp(ip),
  remoteInfo: async (q) => (await import('../ident')).remoteInfo(q),
};

export async function main(): Promise<void> {
  const parsed = parseSslClientArgs(rawArgs());
  const password = parsed.kind === 'ok' && parsed.options.passwordOnFd3 ? readPassword(3) : null;
  rememberInheritedDescriptors();
  const diag: Diagnostics = new Diagnostics('sslclient', SSLCLIENT_USAGE);
  if (parsed.kind === 'getopt') {
    diag.line(getoptProblemMessage(basename(programPath()), parsed.problem));
    diag.usage(true);
  }
  if (parsed.kind === 'usage') diag.usage(true);
  const { options: o, operands } = parsed;
  diag.verbosity = o.verbosity;

  let [host, portOperand, ...program] = operands;
  if (host === undefined) diag.usage();
  // ucspi-ssl: "" and "0" are this host, ::1 unless -4
  if (host === '' || host === '0') host = o.ipv4Only ? '127.0.0.1' : '::1';
  if (portOperand === undefined) diag.usage();
  const port = portForOperand(portOperand);
  if (port === null) diag.fatal(`unable to figure out port number for ${portOperand}`);
  if (password && 'error' in password) diag.fatalSys(READ_PASSWORD, password.error);
  if (password && 'tooLong' in password) diag.fatal(PASSWORD_TOO_LONG);
  if (program.length === 0) diag.usage();

  let addresses: string[];
  try {
    addresses = await addressesForHost(host, o.ipv4Only);
  } catch (err) {
    diag.fatal(`temporarily unable to figure out IP address for ${host}: ${errorText(err)}`);
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
  const { socket } = outcome;

  const ends = {
    localIp: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    remoteIp: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
  };
  if (!ends.localIp) diag.fatal('unable to get local address: not connected');
  if (!ends.remoteIp) diag.fatal('unable to get remote address: not connected');
  const env = await connectionEnvironment(
    ends,
    {
      localName: o.localName,
      remoteHost: o.remoteHost,
      remoteInfo: o.remoteInfo,
      infoTimeoutSeconds: o.infoTimeout,
      ipv6Form: o.ipv6Form,
      names: { proto4: 'SSL', proto6: 'SSL6', prefixes: o.tcpEnvironment ? ['SSL', 'TCP'] : ['SSL'] },
    },
    lookups,
    (remoteIp) => {
      if (o.verbosity >= 2) diag.say(`connected to ${remoteIp} port ${ends.remotePort}`);
    },
  );

  const made = makeContext({
    certFile: o.certFile,
    keyFile: o.keyFile,
    password: password && 'password' in password ? password.password : null,
    caFile: o.caFile,
    caDir: o.caDir,
    ciphers: o.ciphers,
  });
  if ('failure' in made) return diag.fatal(SSLCLIENT_CONTEXT_FAILURES[made.failure]);
  const [first, second] = o.connectTimeouts;
  let tls;
  try {
    tls = await connectTls(socket, made.context, host, (first + second) * 1000);
  } catch (err) {
    return diag.fatal(sslConnectFailure(handshakeFailureText(err)));
  }
  if (o.verbosity >= 2) diag.say('ssl connect');
  if (o.verifyServer) {
    const problem = serverProblem(tls, o.checkName ? host : null, o.verifyDepth);
    if (problem !== null) diag.fatal(problem);
  }
  if (!o.delay) socket.setNoDelay(true);
  if (o.sslEnvironment) for (const [name, value] of sessionEnvironment(tls, 'CLIENT')) env.set(name, value);

  const started = await runProgram(tls, program, env.apply(rawEnviron()), o.idleTimeout * 1000);
  if ('error' in started) return diag.fatalSys(`unable to run ${program[0]}`, started.error);
  endAs(await started.done);
}

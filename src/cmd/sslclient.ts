// sslclient: connect as tcpclient does, speak TLS, check the server's certificate, then run the
// program with the session on fds 6 and 7 through a relay in this process (ucspi-ssl 0.95b's command
// line and messages; see doc/sslclient.md).
import { basename } from 'node:path';
import { getoptProblemMessage } from '../getopt';
import { rememberInheritedDescriptors } from '../inherited';
import { Diagnostics, unableToRun } from '../messages';
import { programPath, rawArgs, rawEnviron } from '../rawproc';
import { portForOperand } from '../services';
import { parseSslClientArgs, SSLCLIENT_USAGE } from '../sslclient/options';
import { endAs, runProgram } from '../sslclient/program';
import { ClientTlsSettings, clientSession } from '../sslclient/secure';
import { PROGRAM_SOCKET, runUcspiTlsProgram } from '../sslclient/ucspi-tls';
import { connectionEnds, connectToHost, describeConnection, sendProxyHeader } from '../tcpclient/open';
import { makeContext } from '../tls/context';
import { PASSWORD_TOO_LONG, READ_PASSWORD, SSLCLIENT_CONTEXT_FAILURES } from '../tls/messages';
import { readPassword } from '../tls/password';
import { sessionEnvironment } from '../tls/session';
import { ucspiTlsDescriptors, ucspiTlsVariables } from '../tls/ucspi-tls';

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

  const socket = await connectToHost(diag, o, host, port);
  const ends = connectionEnds(diag, socket);
  if (o.proxyHeader !== null) await sendProxyHeader(diag, socket, o.proxyHeader, ends);
  const env = await describeConnection(diag, ends, o, {
    proto4: 'SSL',
    proto6: 'SSL6',
    prefixes: o.tcpEnvironment ? ['SSL', 'TCP'] : ['SSL'],
  });

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
  const settings: ClientTlsSettings = {
    context: made.context,
    host,
    timeoutMs: (first + second) * 1000,
    verifyServer: o.verifyServer,
    checkName: o.checkName,
    verifyDepth: o.verifyDepth,
    noDelay: !o.delay,
  };
  const session = () => clientSession(socket, settings, () => o.verbosity >= 2 && diag.say('ssl connect'));
  if (o.ucspiTls) {
    const descriptors = ucspiTlsDescriptors(PROGRAM_SOCKET);
    for (const [name, value] of ucspiTlsVariables(descriptors)) env.set(name, value);
    const started = await runUcspiTlsProgram(socket, program, env.apply(rawEnviron()), descriptors, {
      session,
      variables: (tls) => sessionEnvironment(tls, 'CLIENT'),
      failed: (message) => diag.say(`fatal: ${message}`),
      idleMs: o.idleTimeout * 1000,
    });
    if ('error' in started) return diag.fatalSys(unableToRun(program[0]), started.error);
    endAs(await started.done);
  }
  const tls = await session();
  if (typeof tls === 'string') return diag.fatal(tls);
  if (o.sslEnvironment) for (const [name, value] of sessionEnvironment(tls, 'CLIENT')) env.set(name, value);

  const started = await runProgram(tls, program, env.apply(rawEnviron()), o.idleTimeout * 1000);
  if ('error' in started) return diag.fatalSys(unableToRun(program[0]), started.error);
  endAs(await started.done);
}

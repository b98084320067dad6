// sslserver: tcpserver's connection path with TLS terminated in the server (ucspi-ssl 0.95b's
// command line and messages; see doc/sslserver.md).
import { libc } from '../ffi';
import { Diagnostics } from '../messages';
import { rememberInheritedDescriptors } from '../inherited';
import { rawArgs } from '../rawproc';
import { runServer } from '../server/run';
import { keepServerSignals } from '../signals';
import { SSLSERVER_LOG, SSLSERVER_LOG_DETAILS } from '../tls/messages';
import { readPassword } from '../tls/password';
import { sslserverSecure } from '../tls/setup';
import { parseSslServerArgs, SSLSERVER_USAGE } from '../tls/sslserver-options';

export async function main(): Promise<void> {
  const parsed = parseSslServerArgs(rawArgs());
  const { options } = parsed;
  // read and closed before anything is remembered as inherited: no program gets descriptor 3
  const password = !parsed.problem && options.passwordOnFd3 ? readPassword(3) : null;
  rememberInheritedDescriptors();
  // as soon as can be: a signal inherited as ignored must not kill us meanwhile
  keepServerSignals(libc());
  const diag: Diagnostics = new Diagnostics('sslserver', SSLSERVER_USAGE);
  await runServer({
    diag,
    ...parsed,
    log: options.tlsDetails ? SSLSERVER_LOG_DETAILS : SSLSERVER_LOG,
    secure: sslserverSecure(diag, options, password),
  });
}

// bin/sslserver's shim runs this file itself
if (require.main === module) void main();

import { libc } from '../ffi';
import { rememberInheritedDescriptors } from '../inherited';
import { Diagnostics } from '../messages';
import { rawArgs } from '../rawproc';
import { parseServerArgs, TCPSERVER_USAGE } from '../server/options';
import { runServer } from '../server/run';
import { keepServerSignals } from '../signals';
import { patchSecure } from '../tls/setup';

export async function main(): Promise<void> {
  // before this process opens anything: what it inherited beyond 0-2 goes on to every program, as in 0.88
  rememberInheritedDescriptors();
  // as soon as can be: a signal inherited as ignored must not kill us meanwhile
  keepServerSignals(libc());
  const diag: Diagnostics = new Diagnostics('tcpserver', TCPSERVER_USAGE);
  const parsed = parseServerArgs(rawArgs());
  await runServer({ diag, ...parsed, secure: parsed.options.tls ? patchSecure(diag, parsed.options.certFile) : undefined });
}

// bin/tcpserver's shim runs this file itself
if (require.main === module) void main();

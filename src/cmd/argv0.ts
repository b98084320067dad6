// argv0: exec realname with argv[0] set to program (PATH search as 0.88's pathexec).
import { spawn } from 'node:child_process';
import { errnoText } from '../errstr';
import { execProgram } from '../execprogram';
import { libc } from '../ffi';
import { Diagnostics, unableToRun } from '../messages';
import { rawArgs, rawEnviron } from '../rawproc';
import { rememberInheritedDescriptors } from '../inherited';

export function main(): void {
  rememberInheritedDescriptors();
  const diag = new Diagnostics('argv0', 'argv0 realname program [ arg ... ]');
  const [realname, ...argv] = rawArgs();
  if (realname === undefined || argv.length === 0) diag.usage();
  const lib = libc();
  if (lib) {
    const errno = execProgram(lib, realname, argv, rawEnviron());
    diag.fatal(`${unableToRun(realname)}: ${errnoText(errno)}`);
  }
  // without FFI: a child with the chosen argv[0], its status passed on
  const child = spawn(realname, argv.slice(1), { argv0: argv[0], stdio: 'inherit' });
  child.on('error', (err) => diag.fatalSys(unableToRun(realname), err));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 111);
  });
}

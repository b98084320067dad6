import { errorText } from '../errstr';
import { Diagnostics, EXIT_TEMPORARY, EXIT_USAGE } from '../messages';
import { rawArgs } from '../rawproc';
import { CompileError, CompileFailure, compileRules } from '../rules/compile';

/** 0.88's message (without "tcprules: fatal: ") and exit code for a failed compile. */
export function compileFailureMessage(f: CompileFailure, cdb: string, tmp: string): { text: string; code: number } {
  switch (f.stage) {
    case 'create':
      return { text: `unable to create ${tmp}: ${errorText(f.error)}`, code: EXIT_TEMPORARY };
    case 'read':
      return { text: `unable to read input: ${errorText(f.error)}`, code: EXIT_TEMPORARY };
    case 'parse':
      // strerr prints the line as a C string: it ends at the first NUL byte
      return { text: `unable to parse this line: ${f.line.split('\0')[0]}`, code: EXIT_USAGE };
    case 'write':
      return { text: `unable to write to ${tmp}: ${errorText(f.error)}`, code: EXIT_TEMPORARY };
    case 'move':
      return { text: `unable to move ${tmp} to ${cdb}: ${errorText(f.error)}`, code: EXIT_TEMPORARY };
  }
}

export function main(): void {
  const diag = new Diagnostics('tcprules', 'tcprules rules.cdb rules.tmp');
  const [cdb, tmp] = rawArgs();
  if (cdb === undefined || tmp === undefined) diag.usage();
  try {
    compileRules(0, cdb, tmp);
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    const { text, code } = compileFailureMessage(err.failure, cdb, tmp);
    return diag.fatal(text, code);
  }
  process.exit(0);
}

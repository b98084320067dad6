import { errorText } from '../errstr';
import { Diagnostics, EXIT_TEMPORARY, EXIT_USAGE } from '../messages';
import { rawArgs } from '../rawproc';
import { CompileError, CompileFailure, compileRules } from '../rules/compile';

/**
 * 0.88's message (without "tcprules: fatal: ") and exit code for a failed compile. A line that cannot
 * be parsed is printed as it was read, and may be longer than a JS string can be: `bytes` has it.
 */
export function compileFailureMessage(f: CompileFailure, cdb: string, tmp: string): { text: string; bytes?: Buffer; code: number } {
  if (f.stage === 'parse') {
    // strerr prints the line as a C string: it ends at the first NUL byte
    const nul = f.line.indexOf(0);
    const bytes = Buffer.concat([Buffer.from('unable to parse this line: '), nul < 0 ? f.line : f.line.subarray(0, nul)]);
    return {
      bytes,
      get text() {
        return bytes.toString('latin1');
      },
      code: EXIT_USAGE,
    };
  }
  switch (f.stage) {
    case 'create':
      return { text: `unable to create ${tmp}: ${errorText(f.error)}`, code: EXIT_TEMPORARY };
    case 'read':
      return { text: `unable to read input: ${errorText(f.error)}`, code: EXIT_TEMPORARY };
    case 'write':
      return { text: `unable to write to ${tmp}: ${errorText(f.error)}`, code: EXIT_TEMPORARY };
    case 'memory':
      return { text: 'out of memory', code: EXIT_TEMPORARY };
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
    const m = compileFailureMessage(err.failure, cdb, tmp);
    return m.bytes ? diag.fatalBytes(m.bytes, m.code) : diag.fatal(m.text, m.code);
  }
  process.exit(0);
}

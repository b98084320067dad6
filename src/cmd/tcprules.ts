import { errorText } from '../errstr';
import { Diagnostics, EXIT_USAGE } from '../messages';
import { rawArgs } from '../rawproc';
import { CompileError, compileRules } from '../rules/compile';

export function main(): void {
  const diag = new Diagnostics('tcprules', 'tcprules rules.cdb rules.tmp');
  const [cdb, tmp] = rawArgs();
  if (cdb === undefined || tmp === undefined) diag.usage();
  try {
    compileRules(0, cdb, tmp);
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    const f = err.failure;
    switch (f.stage) {
      case 'create':
        return diag.fatal(`unable to create ${tmp}: ${errorText(f.error)}`);
      case 'read':
        return diag.fatal(`unable to read input: ${errorText(f.error)}`);
      case 'parse':
        return diag.fatal(`unable to parse this line: ${f.line}`, EXIT_USAGE);
      case 'write':
        return diag.fatal(`unable to write to ${tmp}: ${errorText(f.error)}`);
      case 'move':
        return diag.fatal(`unable to move ${tmp} to ${cdb}: ${errorText(f.error)}`);
    }
  }
  process.exit(0);
}

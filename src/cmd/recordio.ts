// recordio: run a program with its stdin and stdout through a copier that logs both directions to stderr. No options.
import { runThroughCopier } from '../copier/launch';
import { Diagnostics } from '../messages';
import { rawArgs } from '../rawproc';
import { rememberInheritedDescriptors } from '../inherited';

export function main(): void {
  rememberInheritedDescriptors();
  const diag = new Diagnostics('recordio', 'recordio program [ arg ... ]');
  const argv = rawArgs();
  if (argv.length === 0) diag.usage();
  void runThroughCopier(diag, 'recordio', argv, __dirname);
}

// fixcrio: run a program with its stdin and stdout through a copier that adds missing CRs before LFs. No options.
import { runThroughCopier } from '../copier/launch';
import { Diagnostics } from '../messages';
import { rawArgs } from '../rawproc';
import { rememberInheritedDescriptors } from '../inherited';

export function main(): void {
  rememberInheritedDescriptors();
  const diag = new Diagnostics('fixcrio', 'fixcrio program [ arg ... ]');
  const argv = rawArgs();
  if (argv.length === 0) diag.usage();
  void runThroughCopier(diag, 'fixcrio', argv, __dirname);
}

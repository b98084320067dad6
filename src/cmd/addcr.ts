// addcr: stdin to stdout, CR before every LF. Arguments are ignored, as in 0.88.
import { AddCr } from '../crlf';
import { EXIT_TEMPORARY } from '../messages';
import { pumpSync } from '../pump';
import { exitAfterWriteError } from '../sigpipe';

export function main(): void {
  const r = pumpSync(0, 1, new AddCr());
  if (r.ok) process.exit(0);
  if (r.stage === 'write') exitAfterWriteError(r.error, EXIT_TEMPORARY);
  process.exit(EXIT_TEMPORARY);
}

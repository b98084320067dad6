// delcr: stdin to stdout, CR LF to LF. Arguments are ignored, as in 0.88.
import { DelCr } from '../crlf';
import { EXIT_TEMPORARY } from '../messages';
import { pumpSync } from '../pump';
import { exitAfterWriteError } from '../sigpipe';

export function main(): void {
  // 0.88 ignores an error on the last flush (the CR held back at end of input)
  const r = pumpSync(0, 1, new DelCr(), false);
  if (r.ok) process.exit(0);
  if (r.stage === 'write') exitAfterWriteError(r.error, EXIT_TEMPORARY);
  process.exit(EXIT_TEMPORARY);
}

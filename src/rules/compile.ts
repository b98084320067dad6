// tcprules' job as a library call: rules text in, cdb file out, replacing the target atomically.
import { closeSync, fsyncSync, openSync, readSync, renameSync } from 'node:fs';
import { CdbWriter, FdOutput } from '../cdb/writer';
import { parseRulesLine, RuleSyntaxError } from './parse';

/** Where a compile failed, so the command can print 0.88's message for it. */
export type CompileFailure =
  | { readonly stage: 'create'; readonly error: unknown }
  | { readonly stage: 'read'; readonly error: unknown }
  | { readonly stage: 'parse'; readonly line: string }
  | { readonly stage: 'write'; readonly error: unknown }
  | { readonly stage: 'move'; readonly error: unknown };

export class CompileError extends Error {
  constructor(readonly failure: CompileFailure) {
    super(failure.stage);
  }
}

/** Calls `onLine` for each LF-terminated line of a descriptor (and a final unterminated one). */
export function forEachLine(fd: number, onLine: (line: string) => void): void {
  const chunk = Buffer.allocUnsafe(1 << 16);
  let carry = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw err;
    }
    if (n === 0) break;
    const text = carry + chunk.toString('latin1', 0, n);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      onLine(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
  }
  if (carry.length > 0) onLine(carry);
}

/**
 * Read rules text from `inputFd`, write the cdb to `tmpPath`, then rename it over `cdbPath`.
 * On any failure the old cdb is untouched (and, as in 0.88, the partial temp file stays).
 */
export function compileRules(inputFd: number, cdbPath: string, tmpPath: string): void {
  let fd: number;
  try {
    fd = openSync(tmpPath, 'w', 0o644);
  } catch (error) {
    throw new CompileError({ stage: 'create', error });
  }
  const writer = new CdbWriter(new FdOutput(fd));
  const writing = <T>(f: () => T): T => {
    try {
      return f();
    } catch (error) {
      if (error instanceof CompileError) throw error;
      throw new CompileError({ stage: 'write', error });
    }
  };
  try {
    forEachLine(inputFd, (line) => {
      let records;
      try {
        records = parseRulesLine(line);
      } catch (err) {
        if (err instanceof RuleSyntaxError) throw new CompileError({ stage: 'parse', line: err.line });
        throw err;
      }
      writing(() => {
        for (const r of records) writer.add(Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1'));
      });
    });
  } catch (error) {
    if (error instanceof CompileError) throw error;
    throw new CompileError({ stage: 'read', error });
  }
  writing(() => {
    writer.finish();
    fsyncSync(fd);
    closeSync(fd);
  });
  try {
    renameSync(tmpPath, cdbPath);
  } catch (error) {
    throw new CompileError({ stage: 'move', error });
  }
}

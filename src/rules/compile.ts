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

/**
 * Calls `onLine` for each LF-terminated line of a descriptor (and a final unterminated one), as
 * latin1 strings. A read error is thrown as CompileError 'read'; what `onLine` throws passes through.
 */
export function forEachLine(fd: number, onLine: (line: string) => void): void {
  const chunk = Buffer.allocUnsafe(1 << 16);
  // pieces of a line that spans chunks, joined once its LF arrives (no rescanning of long lines)
  let carry: string[] = [];
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw new CompileError({ stage: 'read', error });
    }
    if (n === 0) break;
    const text = chunk.toString('latin1', 0, n);
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl >= 0 && carry.length > 0) {
      carry.push(text.slice(0, nl));
      const line = carry.join('');
      carry = [];
      start = nl + 1;
      nl = text.indexOf('\n', start);
      onLine(line);
    }
    while (nl >= 0) {
      onLine(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (start < text.length) carry.push(text.slice(start));
  }
  if (carry.length > 0) onLine(carry.join(''));
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
  try {
    forEachLine(inputFd, (line) => {
      let records;
      try {
        records = parseRulesLine(line);
      } catch (err) {
        if (err instanceof RuleSyntaxError) throw new CompileError({ stage: 'parse', line: err.line });
        throw err;
      }
      for (const r of records) writer.addLatin1(r.key, r.data);
    });
    writer.finish();
    fsyncSync(fd);
    closeSync(fd);
  } catch (error) {
    // read and parse failures arrive as CompileError; anything else came from writing the file
    if (error instanceof CompileError) throw error;
    throw new CompileError({ stage: 'write', error });
  }
  try {
    renameSync(tmpPath, cdbPath);
  } catch (error) {
    throw new CompileError({ stage: 'move', error });
  }
}

// tcprules' job as a library call: rules text in, cdb file out, replacing the target atomically.
// Each line goes through encodeRulesLine (plain lines, bytes to record) or else
// parseRulesLineBytes; neither makes a JS string of the line, which may be longer than V8 allows.
import { closeSync, fsyncSync, openSync, readSync, renameSync } from 'node:fs';
import { CdbWriter, FdOutput } from '../cdb/writer';
import { encodeRulesLine } from './encode';
import { parseRulesLineBytes, RuleSyntaxError } from './parse';

/** Where a compile failed, so the command can print 0.88's message for it. */
export type CompileFailure =
  | { readonly stage: 'create'; readonly error: unknown }
  | { readonly stage: 'read'; readonly error: unknown }
  | { readonly stage: 'parse'; readonly line: Buffer }
  | { readonly stage: 'write'; readonly error: unknown }
  | { readonly stage: 'memory' }
  | { readonly stage: 'move'; readonly error: unknown };

export class CompileError extends Error {
  constructor(readonly failure: CompileFailure) {
    super(failure.stage);
  }
}

/** Input is read in pieces of this size (a line longer than that grows the buffer). */
const READ_SIZE = 1 << 20;
const LF = 0x0a;

/**
 * Calls `onLine(bytes, start, end)` for each LF-terminated line of a descriptor (bytes[start, end),
 * without the LF) and for a final unterminated one. The bytes are valid only during the call. A
 * read error is thrown as CompileError 'read'; what `onLine` throws passes through.
 */
export function forEachLine(fd: number, onLine: (bytes: Buffer, start: number, end: number) => void): void {
  let buf = Buffer.allocUnsafe(READ_SIZE);
  let filled = 0; // buf[0, filled) holds input: the start of a line, then whatever was read after it
  let scanned = 0; // buf[0, scanned) has no LF (no rescanning of a line that spans reads)
  for (;;) {
    if (filled === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, filled);
      buf = bigger;
    }
    let n: number;
    try {
      n = readSync(fd, buf, filled, buf.length - filled, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw new CompileError({ stage: 'read', error });
    }
    if (n === 0) break;
    filled += n;
    const input = buf.subarray(0, filled);
    let start = 0;
    // indexOf (memchr) beats a loop over the bytes in JS by about 2x here
    for (let nl = input.indexOf(LF, scanned); nl >= 0; nl = input.indexOf(LF, start)) {
      onLine(buf, start, nl);
      start = nl + 1;
    }
    buf.copyWithin(0, start, filled);
    filled -= start;
    scanned = filled;
  }
  if (filled > 0) onLine(buf, 0, filled);
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
    forEachLine(inputFd, (bytes, start, end) => {
      if (encodeRulesLine(bytes, start, end, writer)) return;
      let records;
      try {
        records = parseRulesLineBytes(bytes, start, end);
      } catch (err) {
        if (err instanceof RuleSyntaxError) throw new CompileError({ stage: 'parse', line: err.bytes });
        throw err;
      }
      for (const r of records) writer.add(r.key, r.data);
    });
    writer.finish();
    fsyncSync(fd);
    closeSync(fd);
  } catch (error) {
    // read and parse failures arrive as CompileError; a RangeError is a buffer or a string larger
    // than Node makes (0.88's malloc failing); anything else came from writing the file
    if (error instanceof CompileError) throw error;
    if (error instanceof RangeError) throw new CompileError({ stage: 'memory' });
    throw new CompileError({ stage: 'write', error });
  }
  try {
    renameSync(tmpPath, cdbPath);
  } catch (error) {
    throw new CompileError({ stage: 'move', error });
  }
}

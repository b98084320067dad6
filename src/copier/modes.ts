// What the copier does to each direction: recordio logs, fixcrio inserts CRs.
import { FixCr, maxOutput } from '../crlf';
import { writeAll } from '../messages';
import { CopyDirection } from './copier';
import { recordEof, recordLines, RecordDirection } from './record';

export type CopierMode = 'recordio' | 'fixcrio';

export function isCopierMode(s: string | undefined): s is CopierMode {
  return s === 'recordio' || s === 'fixcrio';
}

function logLine(line: Buffer): void {
  try {
    writeAll(2, line);
  } catch {
    // the original does not stop copying because its log is gone
  }
}

function recording(pid: number, dir: RecordDirection): CopyDirection {
  return {
    forward(chunk) {
      for (const line of recordLines(pid, dir, chunk)) logLine(line);
      return chunk;
    },
    eof() {
      logLine(recordEof(pid, dir));
    },
  };
}

function fixingCr(): CopyDirection {
  const filter = new FixCr();
  return {
    forward(chunk) {
      // a fresh buffer per chunk: the previous one may still be queued for writing
      const out = Buffer.allocUnsafe(maxOutput(chunk.length));
      return out.subarray(0, filter.push(chunk, out));
    },
    eof() {},
  };
}

/** [into the program, out of the program] for a mode; pid is the program's, for recordio's log. */
export function copierDirections(mode: CopierMode, pid: number): [CopyDirection, CopyDirection] {
  return mode === 'recordio' ? [recording(pid, ' < '), recording(pid, ' > ')] : [fixingCr(), fixingCr()];
}

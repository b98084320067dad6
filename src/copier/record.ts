// recordio's log lines: 0.88 reads at most 256 bytes at a time and logs each read as lines
// "<pid> < text \n" for each LF-terminated piece and "<pid> < rest+\n" for bytes after the last LF.

const LF = 10;
const READ_SIZE = 256;

export type RecordDirection = ' < ' | ' > ';

/** The log lines (one write each) for a chunk read in one direction, split as 256-byte reads. */
export function recordLines(pid: number, dir: RecordDirection, chunk: Buffer): Buffer[] {
  const prefix = Buffer.from(`${pid}${dir}`, 'latin1');
  const lines: Buffer[] = [];
  for (let base = 0; base < chunk.length; base += READ_SIZE) {
    const read = chunk.subarray(base, Math.min(base + READ_SIZE, chunk.length));
    let from = 0;
    while (from < read.length) {
      const lf = read.indexOf(LF, from);
      if (lf < 0) {
        lines.push(Buffer.concat([prefix, read.subarray(from), PLUS_NL]));
        break;
      }
      lines.push(Buffer.concat([prefix, read.subarray(from, lf), SPACE_NL]));
      from = lf + 1;
    }
  }
  return lines;
}

/** The line logged when a direction reaches end of file. */
export function recordEof(pid: number, dir: RecordDirection): Buffer {
  return Buffer.from(`${pid}${dir}[EOF]\n`, 'latin1');
}

const PLUS_NL = Buffer.from('+\n');
const SPACE_NL = Buffer.from(' \n');

// Synchronous descriptor-to-descriptor copy through a ByteFilter, with two fixed buffers: the filters
// (addcr, delcr) run once per stream, so a blocking loop without an event loop is the cheapest shape,
// and memory stays constant however long the stream is. Output is written out in full before each
// read, as substdio's flush-before-read does in the originals.
import { readSync, writeSync } from 'node:fs';
import { ByteFilter, maxOutput } from './crlf';

const READ_SIZE = 64 * 1024;

export type PumpOutcome = { readonly ok: true } | { readonly ok: false; readonly stage: 'read' | 'write'; readonly error: unknown };

const waitCell = new Int32Array(new SharedArrayBuffer(4));

/** Wait a little for a descriptor someone left non-blocking (the C tools would fail there instead). */
function retryable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EAGAIN') {
    Atomics.wait(waitCell, 0, 0, 2);
    return true;
  }
  return code === 'EINTR';
}

function readSome(fd: number, buf: Buffer): number {
  for (;;) {
    try {
      return readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if (!retryable(err)) throw err;
    }
  }
}

function writeFully(fd: number, buf: Buffer, len: number): void {
  let off = 0;
  while (off < len) {
    try {
      off += writeSync(fd, buf, off, len - off);
    } catch (err) {
      if (!retryable(err)) throw err;
    }
  }
}

/**
 * Copy inFd to outFd through filter until end of input. Bytes the filter holds back until the end
 * (delcr's final CR) are written after EOF; a failure to write those is reported only if
 * `finalWriteCounts` (delcr ignores it, as 0.88 ignores its last flush).
 */
export function pumpSync(inFd: number, outFd: number, filter: ByteFilter, finalWriteCounts = true): PumpOutcome {
  const input = Buffer.allocUnsafe(READ_SIZE);
  const output = Buffer.allocUnsafe(maxOutput(READ_SIZE));
  for (;;) {
    let n: number;
    try {
      n = readSome(inFd, input);
    } catch (error) {
      return { ok: false, stage: 'read', error };
    }
    if (n === 0) break;
    const len = filter.push(input.subarray(0, n), output);
    try {
      writeFully(outFd, output, len);
    } catch (error) {
      return { ok: false, stage: 'write', error };
    }
  }
  const len = filter.finish(output);
  try {
    writeFully(outFd, output, len);
  } catch (error) {
    if (finalWriteCounts) return { ok: false, stage: 'write', error };
  }
  return { ok: true };
}

// The copier loop itself (recordio's and fixcrio's, and the server's relay): a direction's end of
// file is passed on only after every byte read before it has been written, however the writes are
// pending. Slow in-memory sinks stand in for a peer that reads late: they take each write and
// complete it a while later, as a full socket buffer does.
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { CopyDirection, runCopier } from '../src/copier/copier';

const PASS: CopyDirection = { forward: (c) => c, eof: () => {} };

/** A sink that completes each write `ms` later; `ended` tells whether destroy() came after all bytes. */
function slowSink(ms: number): Writable & { received: Buffer[]; destroyedAfter: number | null } {
  const received: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      setTimeout(() => {
        received.push(chunk);
        cb();
      }, ms);
    },
  }) as Writable & { received: Buffer[]; destroyedAfter: number | null };
  sink.received = received;
  sink.destroyedAfter = null;
  const destroy = sink.destroy.bind(sink);
  sink.destroy = (err?: Error) => {
    sink.destroyedAfter = Buffer.concat(received).length;
    return destroy(err);
  };
  return sink;
}

describe('runCopier', () => {
  it("calls done only once the client has been sent every byte of the program's output", async () => {
    const clientOut = slowSink(50);
    const programOut = new PassThrough();
    const done = new Promise<void>((resolve) =>
      runCopier({ clientIn: new PassThrough(), programIn: slowSink(0), programOut, clientOut }, PASS, PASS, resolve),
    );
    // small writes, each accepted at once (below the high-water mark) and completed later
    programOut.write('a');
    programOut.end('b');
    await done;
    assert.equal(Buffer.concat(clientOut.received).toString(), 'ab');
  });

  it("closes the program's input only after every byte read before the client's end of file", async () => {
    const programIn = slowSink(50);
    const clientIn = new PassThrough();
    runCopier({ clientIn, programIn, programOut: new PassThrough(), clientOut: slowSink(0) }, PASS, PASS, () => {});
    clientIn.write('x');
    clientIn.end('y');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(programIn.destroyedAfter, 2, 'destroyed after both bytes were written');
  });
});

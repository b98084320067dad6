// The programs of a chain that need no process at all: rblsmtpd's session with a blocked client,
// and addcr/delcr at the end of a chain. Each is the standalone program's own code (RefusalSession,
// the CR filters) on the streams the server relays to the client.
import { AddCr, ByteFilter, DelCr, maxOutput } from '../crlf';
import { RefusalSession } from '../rbl/conversation';
import { InProcessProgram, startInProcess } from '../server/program';

/** rblsmtpd blocking a client: its log line (with `pid`) and the fake SMTP session; exit 0. */
export function refusalProgram(remoteIp: string, message: string, timeout: bigint): InProcessProgram {
  return {
    start: (pid) =>
      startInProcess(pid, (out) => {
        const session = new RefusalSession(message, {
          write: (text) => out.write(text),
          end: () => out.exit(0),
          expire: () => out.hangUp(0),
        });
        session.start(remoteIp, pid, timeout);
        return { input: (chunk) => session.input(chunk), inputEnded: () => session.inputEnded() };
      }),
  };
}

/** addcr or delcr: input to output through the filter, exit 0 at end of input. */
export function filterProgram(filter: 'addcr' | 'delcr'): InProcessProgram {
  return {
    start: (pid) =>
      startInProcess(pid, (out) => {
        const f: ByteFilter = filter === 'addcr' ? new AddCr() : new DelCr();
        return {
          input(chunk) {
            const bytes = Buffer.allocUnsafe(maxOutput(chunk.length));
            const n = f.push(chunk, bytes);
            if (n) out.write(bytes.subarray(0, n));
          },
          inputEnded() {
            // delcr's CR held back at the very end of the input
            const bytes = Buffer.alloc(1);
            const n = f.finish(bytes);
            if (n) out.write(bytes.subarray(0, n));
            out.exit(0);
          },
        };
      }),
  };
}

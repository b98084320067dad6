// Internal program, not in bin/: the copying process that recordio and fixcrio start before they
// exec the program. Run as `node copier.js recordio|fixcrio <program pid>` with fd 0/1 the client side,
// fd 3 the program's input pipe and fd 4 the program's output pipe.
import { Socket } from 'node:net';
import { runCopier } from '../copier/copier';
import { copierDirections, isCopierMode } from '../copier/modes';

export const PROGRAM_IN_FD = 3;
export const PROGRAM_OUT_FD = 4;

export function main(): void {
  const [mode, pidText] = process.argv.slice(2);
  if (!isCopierMode(mode)) process.exit(100);
  const [input, output] = copierDirections(mode, Number(pidText));
  const programIn = new Socket({ fd: PROGRAM_IN_FD, readable: false, writable: true });
  const programOut = new Socket({ fd: PROGRAM_OUT_FD, readable: true, writable: false });
  runCopier({ clientIn: process.stdin, programIn, programOut, clientOut: process.stdout }, input, output, () => process.exit(0));
}

if (require.main === module) main();

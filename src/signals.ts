// Signal dispositions as 0.88 has them. Before any of our code runs, Node resets every signal it
// inherited as ignored to its default, and empties the blocked mask; 0.88 keeps them, so a tcpserver
// started by nohup, or as a `&` job of a script (SIGINT and SIGQUIT ignored), survives those signals
// and so do its programs. bin/tcpserver's shim reads the inherited state first (rawproc's
// shimSignalMasks); this puts it back.
import { constants as osConstants } from 'node:os';
import { defaultSignal, ignoreSignal, Libc, setProgramSignals } from './ffi';
import { shimSignalMasks } from './rawproc';

export interface InheritedSignals {
  readonly ignored: readonly number[];
  readonly blocked: readonly number[];
}

export const SIGHUP = 1;
const SIGKILL = 9;
const SIGPIPE = 13;
const SIGTERM = 15;
const SIGCHLD = 17;
const SIGSTOP = 19;
const SIGXFSZ = 25;
const SIGNAL_NAMES = new Map(Object.entries(osConstants.signals).map(([name, sig]) => [sig, name as NodeJS.Signals]));

/** Signal numbers of a /proc status mask (hex, bit n-1 for signal n). */
export function signalsOfMask(hex: string): number[] {
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) return [];
  const mask = BigInt('0x' + hex);
  const out: number[] = [];
  for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) out.push(sig);
  return out.filter((sig) => sig !== SIGKILL && sig !== SIGSTOP);
}

/** The ignored and blocked signals this process started with ("SigIgn SigBlk"), if the shim said. */
export function parseShimSignals(text: string | undefined): InheritedSignals {
  const [ignored = '', blocked = ''] = (text ?? '').split(' ');
  return { ignored: signalsOfMask(ignored), blocked: signalsOfMask(blocked) };
}

/** Whether the server inherited `sig` ignored or blocked: 0.88 never acts on such a signal, nor do we. */
export function inheritedUnacted(sig: number, inherited = parseShimSignals(shimSignalMasks())): boolean {
  return inherited.ignored.includes(sig) || inherited.blocked.includes(sig);
}

/** tcpserver's programs, as 0.88's child leaves them: sig_uncatch of CHLD, TERM and PIPE, CHLD unblocked. */
export function serverProgramSignals(inherited: InheritedSignals): InheritedSignals {
  return {
    ignored: inherited.ignored.filter((sig) => sig !== SIGPIPE && sig !== SIGTERM && sig !== SIGCHLD),
    blocked: inherited.blocked.filter((sig) => sig !== SIGCHLD),
  };
}

/**
 * tcpserver's own signals as 0.88's: what it inherited as ignored stays ignored, and what it
 * inherited blocked (which 0.88 never unblocks, so never acts on) is ignored, but for CHLD and TERM,
 * which 0.88 catches; SIGXFSZ, which Node ignores, kills it as it kills 0.88. Its programs get 0.88's.
 */
export function keepServerSignals(lib: Libc | null, inherited = parseShimSignals(shimSignalMasks())): void {
  const unacted = [...new Set([...inherited.ignored, ...inherited.blocked])].filter((sig) => sig !== SIGCHLD && sig !== SIGTERM);
  if (!lib) {
    // without FFI a listener is the only way to outlive a signal (its programs get Node's defaults)
    for (const sig of unacted) {
      const name = SIGNAL_NAMES.get(sig);
      try {
        if (name) process.on(name, () => {});
      } catch {
        // a signal Node does not let us listen to
      }
    }
    return;
  }
  if (!unacted.includes(SIGXFSZ)) defaultSignal(lib, SIGXFSZ);
  for (const sig of unacted) ignoreSignal(lib, sig);
  setProgramSignals(serverProgramSignals(inherited));
}

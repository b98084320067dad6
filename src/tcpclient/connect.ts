// tcpclient's connect loop (0.88): every address in turn with the first-pass deadline; an address
// that timed out is kept for a second pass with the second deadline when there is one; every other
// failure is reported and passed over. Each attempt binds first (-i/-p), and a bind failure is fatal.
// Addresses are display text (dotted IPv4 or IPv6 text); src/tcpclient/address.ts picks the socket.
import { Socket } from 'node:net';
import { SystemError } from '../errstr';
import { LocalIp, socketPlan } from './address';

export interface ConnectPlan {
  readonly addresses: readonly string[];
  readonly port: number;
  /** -i; null: any (0.0.0.0 or ::, whichever the socket is). */
  readonly localIp: LocalIp;
  readonly localPort: number;
  /** -4: IPv4 sockets only. */
  readonly ipv4Only?: boolean;
  /** -I: interface (scope) for IPv6 addresses. */
  readonly scope?: string | null;
  /** Seconds, per pass; with a single address 0.88 folds the second pass into the first. */
  readonly timeouts: readonly [number, number];
}

export type AttemptResult =
  | { readonly kind: 'connected'; readonly socket: Socket }
  | { readonly kind: 'failed'; readonly error: NodeJS.ErrnoException }
  | { readonly kind: 'setup'; readonly stage: 'socket' | 'bind'; readonly error: NodeJS.ErrnoException };

const MAX_TIMER_MS = 2 ** 31 - 1;

function timedOut(): NodeJS.ErrnoException {
  return Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT', errno: -110 });
}

/**
 * One non-blocking connect with a deadline. The socket is paused before it connects so that Node
 * never reads from it: every byte the server sends is left for the program.
 */
export function connectOnce(
  ip: string,
  port: number,
  localIp: LocalIp,
  localPort: number,
  seconds: number,
  family: { readonly ipv4Only?: boolean; readonly scope?: string | null } = {},
): Promise<AttemptResult> {
  const plan = socketPlan(ip, localIp, family.ipv4Only ?? false, family.scope ?? null);
  if (plan.kind === 'refuse') {
    const error = new SystemError(plan.code);
    return Promise.resolve(plan.stage === 'bind' ? { kind: 'setup', stage: 'bind', error } : { kind: 'failed', error });
  }
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.pause();
    let settled = false;
    const settle = (r: AttemptResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      if (r.kind !== 'connected') socket.destroy();
      resolve(r);
    };
    // as 0.88's timeoutconn, readiness seen at the deadline still counts: let one more poll phase
    // deliver a completed connect before giving up (so -T 0 connects on loopback, as in C)
    const timer = setTimeout(
      () => setImmediate(() => settle({ kind: 'failed', error: timedOut() })),
      Math.min(seconds * 1000, MAX_TIMER_MS),
    );
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.syscall === 'bind') settle({ kind: 'setup', stage: 'bind', error });
      else if (error.syscall === 'socket') settle({ kind: 'setup', stage: 'socket', error });
      else settle({ kind: 'failed', error });
    });
    socket.on('connect', () => settle({ kind: 'connected', socket }));
    socket.connect({ host: plan.host, port, localAddress: plan.localAddress, localPort, family: plan.family });
  });
}

export type ConnectOutcome =
  | { readonly kind: 'connected'; readonly socket: Socket }
  | { readonly kind: 'setup'; readonly stage: 'socket' | 'bind'; readonly error: NodeJS.ErrnoException }
  | { readonly kind: 'exhausted' };

/** Try the plan; `report` gets each failure 0.88 prints (the ones not kept for the second pass). */
export async function connectFirst(
  plan: ConnectPlan,
  report: (ip: string, error: NodeJS.ErrnoException) => void,
  attempt: typeof connectOnce = connectOnce,
): Promise<ConnectOutcome> {
  let timeouts = plan.timeouts;
  if (plan.addresses.length === 1) timeouts = [timeouts[0] + timeouts[1], 0];
  let addresses = plan.addresses;
  for (let pass = 0; pass < 2; pass++) {
    const retry: string[] = [];
    for (const ip of addresses) {
      const r = await attempt(ip, plan.port, plan.localIp, plan.localPort, timeouts[pass], plan);
      if (r.kind !== 'failed') return r;
      if (pass === 0 && timeouts[1] !== 0 && r.error.code === 'ETIMEDOUT') retry.push(ip);
      else report(ip, r.error);
    }
    addresses = retry;
  }
  return { kind: 'exhausted' };
}

// Running a tcpserver (ours or the C one) for a test, and talking to it over loopback.
import { ChildProcess, spawn } from 'node:child_process';
import { connect, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after } from 'node:test';

export interface RunningServer {
  readonly proc: ChildProcess;
  readonly port: number;
  /** stderr so far, split into lines. */
  lines(): string[];
  /** Resolves when a stderr line matches (rejects after `ms`). */
  waitForLine(re: RegExp, ms?: number): Promise<string>;
  /** Resolves when `count` stderr lines match (rejects after `ms`). */
  waitForLines(re: RegExp, count: number, ms?: number): Promise<string[]>;
  /** Resolves with the exit code / signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Start `file args` (which must include -1) and wait for the port line. */
export function startServer(
  file: string,
  args: readonly string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** a descriptor for the server's fd 0 */
    stdin?: number;
    /** descriptors for the server's fds 3, 4, ... */
    extraFds?: number[];
    /** the caller stops it (outside node:test: benchmarks) */
    untracked?: boolean;
  } = {},
): Promise<RunningServer> {
  const stdio = [opts.stdin ?? 'ignore', 'pipe', 'pipe', ...(opts.extraFds ?? [])] as Array<'ignore' | 'pipe' | number>;
  const proc = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio });
  let stderr = '';
  const waiters: Array<() => void> = [];
  proc.stderr!.setEncoding('latin1');
  proc.stderr!.on('data', (d: string) => {
    stderr += d;
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      resolve({ code, signal });
      for (const w of waiters.splice(0)) w();
    }),
  );
  const lines = () => stderr.split('\n').filter((l, i, a) => i < a.length - 1 || l !== '');
  const waitForLine = (re: RegExp, ms = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stderr line matching ${re} in:\n${stderr}`)), ms);
      const check = () => {
        const hit = lines().find((l) => re.test(l));
        if (hit !== undefined) {
          clearTimeout(timer);
          resolve(hit);
        } else if (proc.exitCode !== null || proc.signalCode !== null) {
          clearTimeout(timer);
          reject(new Error(`server exited; stderr:\n${stderr}`));
        } else waiters.push(check);
      };
      check();
    });
  const waitForLines = (re: RegExp, count: number, ms = 10_000): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than ${count} stderr lines matching ${re} in:\n${stderr}`)), ms);
      const check = () => {
        const hits = lines().filter((l) => re.test(l));
        if (hits.length >= count) {
          clearTimeout(timer);
          resolve(hits);
        } else if (proc.exitCode !== null || proc.signalCode !== null) {
          clearTimeout(timer);
          reject(new Error(`server exited; stderr:\n${stderr}`));
        } else waiters.push(check);
      };
      check();
    });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  };
  if (!opts.untracked) after(stop);
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('latin1');
    proc.stdout!.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ proc, port: Number(out.slice(0, nl)), lines, waitForLine, waitForLines, exited, stop });
    });
    proc.on('exit', () => reject(new Error(`server exited before printing its port:\n${stderr}`)));
  });
}

export interface Exchange {
  /** Everything the server sent until it closed. */
  data: Buffer;
  /** How the connection ended. */
  ending: 'end' | 'reset' | 'error';
}

/** Connect, optionally send, half-close, and read until the server closes. */
export function exchange(
  port: number,
  opts: { host?: string; localAddress?: string; send?: string | Buffer; keepOpen?: boolean; timeoutMs?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock: Socket = connect({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close from server within ${opts.timeoutMs ?? 10_000} ms; got ${Buffer.concat(chunks)}`));
    }, opts.timeoutMs ?? 10_000);
    sock.on('connect', () => {
      if (opts.send !== undefined) sock.write(opts.send);
      if (!opts.keepOpen) sock.end();
    });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ending: err.code === 'ECONNRESET' ? 'reset' : 'error' });
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ending: 'end' });
    });
  });
}

/** KEY=value lines (as printed by `env`) into a map. */
export function parseEnvOutput(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

/** Everything a stream (a socket, a TLS socket) gives until it closes, as latin1; rejects on an error or after `ms`. */
export function readUntilClosed(s: Duplex, ms = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms; got ${JSON.stringify(out)}`)), ms);
    s.setEncoding('latin1');
    s.on('data', (d: string) => (out += d));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

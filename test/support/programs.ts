// Locating and running the programs under test: ours in bin/, the C originals from Debian.
import { spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const BIN = join(ROOT, 'bin');

export function ours(name: string): string {
  return join(BIN, name);
}

const C_DIRS = ['/usr/bin', '/usr/sbin'];

/** Path of Debian's C binary, or null when the package is not installed. */
export function cBinary(name: string): string | null {
  for (const d of C_DIRS) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Skip reason for a differential test needing these C binaries, or false when all exist. */
export function needC(...names: string[]): string | false {
  const missing = names.filter((n) => cBinary(n) === null);
  return missing.length ? `C binaries not installed (${missing.join(', ')}): apt-get install ucspi-tcp` : false;
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

export function runSync(
  file: string,
  args: readonly string[],
  opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): RunResult {
  const r: SpawnSyncReturns<Buffer> = spawnSync(file, args, {
    input: opts.input,
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    timeout: opts.timeout ?? 30_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export function run(
  file: string,
  args: readonly string[],
  opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 30_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolvePromise({ status, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

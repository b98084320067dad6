// Debian's HAProxy for tests: a config written to a temporary directory, run in the foreground
// (-db), stopped when the test file ends. Frontends listen on 127.0.0.1 and ::1 at one port each.
import { ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import { cBinary } from './programs';

export const HAPROXY = cBinary('haproxy');
export const NEED_HAPROXY: string | false = HAPROXY ? false : 'haproxy not installed: apt-get install haproxy';

export interface Frontend {
  readonly name: string;
  /** e.g. `send-proxy-v2` */
  readonly serverOptions: string;
  /** e.g. `accept-proxy` */
  readonly bindOptions?: string;
  /** where the backend server is */
  readonly to: string;
}

export interface RunningHaproxy {
  /** its process (-db: one, in the foreground) */
  readonly pid: number;
  /** the port of each frontend, by name */
  readonly ports: Record<string, number>;
  stop(): Promise<void>;
}

function config(frontends: readonly Frontend[], ports: Record<string, number>): string {
  let text = 'global\n  maxconn 4000\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n';
  for (const f of frontends) {
    const bind = f.bindOptions ? ` ${f.bindOptions}` : '';
    text += `\nfrontend ${f.name}\n  bind 127.0.0.1:${ports[f.name]}${bind}\n  bind [::1]:${ports[f.name]} v6only${bind}\n  default_backend ${f.name}\n`;
    text += `\nbackend ${f.name}\n  server s ${f.to} ${f.serverOptions}\n`;
  }
  return text;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * Start HAProxy with these frontends on free random ports (retried on a collision), stopped when
 * the current test ends unless `standalone` (for benchmarks, outside node:test).
 */
export async function startHaproxy(dir: string, frontends: readonly Frontend[], standalone = false): Promise<RunningHaproxy> {
  for (let attempt = 0; ; attempt++) {
    const ports: Record<string, number> = {};
    // below the kernel's ephemeral ports (32768 on), which port-0 listeners and clients take
    for (const f of frontends) ports[f.name] = randomInt(10000, 32000);
    const file = join(dir, `haproxy-${attempt}.cfg`);
    writeFileSync(file, config(frontends, ports));
    const proc: ChildProcess = spawn(HAPROXY as string, ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
    let up = false;
    for (let i = 0; i < 200 && proc.exitCode === null; i++) {
      if ((await Promise.all(Object.values(ports).map(listening))).every(Boolean)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const stop = async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    };
    if (up) {
      if (!standalone) after(stop);
      return { ports, stop, pid: proc.pid as number };
    }
    await stop();
    // a port taken meanwhile (its message may come after the exit): try other ports
    if (attempt >= 5) throw new Error(`haproxy did not start (exit ${proc.exitCode}, signal ${proc.signalCode}):\n${stderr}`);
  }
}

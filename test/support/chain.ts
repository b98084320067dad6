// Running tcpserver chains three ways for the chain tests and benchmark: in-process (ours), external
// (ours with UCSPI_TS_CHAIN=off: each helper a process) and C (the C tcpserver and helpers).
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BIN, cBinary, needC, ours } from './programs';

export type Mode = 'in-process' | 'external' | 'c';
export const MODES: readonly Mode[] = ['in-process', 'external', 'c'];

/** Why the C chain cannot run here, or false. */
export const skipCChain = needC('tcpserver', 'rblsmtpd', 'recordio', 'fixcrio', 'argv0', 'addcr', 'delcr');

// node for our shims, wherever it is installed, but never before the C helpers in /usr/bin
const NODE_DIR = dirname(process.execPath);

/** tcpserver's environment for a mode: a PATH finding that mode's helpers, and DNS on the test responder. */
export function chainEnv(mode: Mode, dnsAddress: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const path = mode === 'c' ? `/usr/bin:/bin:${NODE_DIR}` : `${BIN}:${NODE_DIR}:/usr/bin:/bin`;
  const env: NodeJS.ProcessEnv = { PATH: path, DNSCACHEIP: dnsAddress, DNSREWRITEFILE: '/nonexistent', ...extra };
  if (mode === 'external') env.UCSPI_TS_CHAIN = 'off';
  return env;
}

export function tcpserverFor(mode: Mode): string {
  return mode === 'c' ? cBinary('tcpserver')! : ours('tcpserver');
}

/** A tiny SMTP server (sh): 220, 250 to everything, 221 at QUIT. */
export function writeFakeSmtpd(path: string): void {
  writeFileSync(
    path,
    `#!/bin/sh
cr=$(printf '\\r')
printf '220 fake.smtpd ESMTP\\r\\n'
while IFS= read -r line; do
  case "\${line%"$cr"}" in
    [Qq][Uu][Ii][Tt]) printf '221 fake.smtpd\\r\\n'; exit 0 ;;
    *) printf '250 fake.smtpd\\r\\n' ;;
  esac
done
`,
  );
  chmodSync(path, 0o755);
}

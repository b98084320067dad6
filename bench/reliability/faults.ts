// Fault runs against a tcpserver (ours or C): clients that reset, clients that never read, programs
// killed, programs missing or not executable, descriptors short, and the rules file replaced,
// removed, unreadable or corrupted under load. Each gives its figures and its violations: what must
// never happen (a client a deny rule refuses let in, a crash, a child or zombie left, a log line
// without its pair). Loopback only, bounded in count and time.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { makeCdb } from '../../src/cdb/writer';
import { parseRules } from '../../src/rules/parse';
import { randomLoopbackIp } from '../../test/support/loopback';
import { childrenOf, openDescriptors } from '../../test/support/proc';
import { exchange, RunningServer, startServer } from '../../test/support/server';

export interface FaultResult {
  readonly figures: Record<string, number | string>;
  readonly violations: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `file -v -1 -RHl0 args 127.0.0.1 0 program`, under `wrap` (shell words run first) if given. */
export function start(file: string, args: string[], program: string[], wrap?: string, env?: NodeJS.ProcessEnv): Promise<RunningServer> {
  const words = [file, '-v', '-1', '-RHl0', ...args, '127.0.0.1', '0', ...program];
  if (!wrap) return startServer(file, words.slice(1), { untracked: true, env });
  return startServer('/bin/sh', ['-c', `${wrap} && exec "$@"`, 'sh', ...words], { untracked: true, env });
}

/** Children left, zombies, and unpaired log lines once the programs have had time to end. */
export async function leftovers(server: RunningServer, violations: string[]): Promise<Record<string, number>> {
  const pid = server.proc.pid!;
  for (let i = 0; i < 100 && childrenOf(pid).length > 0; i++) await sleep(100);
  const kids = childrenOf(pid);
  const count = (re: RegExp) => server.lines().filter((l) => re.test(l)).length;
  // the last lines may still be on their way through the pipe
  await server.waitForLines(/ end \d+ status /, count(/ pid \d+ from /), 5000).catch(() => {});
  const lines = server.lines();
  const from = count(/ pid \d+ from /);
  const end = count(/ end \d+ status /);
  if (server.proc.exitCode !== null || server.proc.signalCode !== null)
    violations.push(`server ended: ${server.proc.exitCode ?? server.proc.signalCode}`);
  if (kids.length) violations.push(`${kids.length} children left (${kids.filter((k) => k.state === 'Z').length} zombies)`);
  if (from !== end) violations.push(`${from} pid lines, ${end} end lines`);
  if (lines.some((l) => /^\s+at |Error|node:internal/.test(l))) violations.push('a stack trace in the log');
  return { children: kids.length, from, end, fds: openDescriptors(pid) };
}

/** After a fault the server still serves an ordinary client. */
export async function stillServes(server: RunningServer, expect: string, violations: string[]): Promise<void> {
  const r = await exchange(server.port, { send: 'hi\n', timeoutMs: 20_000 }).catch(() => null);
  if (r?.data.toString() !== expect) violations.push(`no service after the fault (${JSON.stringify(r?.data.toString())})`);
}

/** `n` clients that connect and reset at once, between ordinary ones. */
export async function resets(file: string, n: number): Promise<FaultResult> {
  const violations: string[] = [];
  // quiet: a program's complaint about a reset socket would cut tcpserver's log lines (shared stderr)
  const server = await start(file, ['-c', '20', '-b', '100'], ['sh', '-c', 'echo ok 2>/dev/null']);
  let served = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      if (i % 4 === 0) {
        if ((await exchange(server.port).catch(() => null))?.data.toString() === 'ok\n') served++;
        return;
      }
      await new Promise<void>((resolve) => {
        const s = connect(server.port, '127.0.0.1', () => {
          s.resetAndDestroy();
          resolve();
        });
        s.on('error', () => resolve());
      });
    }),
  );
  await stillServes(server, 'ok\n', violations);
  const figures = { clients: n, ordinary: Math.ceil(n / 4), served, ...(await leftovers(server, violations)) };
  if (served !== figures.ordinary) violations.push(`${figures.ordinary - served} ordinary clients not served`);
  await server.stop();
  return { figures, violations };
}

const BIG_OR_OK = ['sh', '-c', 'exec 2>/dev/null; read x; case "$x" in big) exec cat /dev/zero;; *) echo ok;; esac'];

/** `n` clients that ask for endless output and never read it, while ordinary clients are served. */
export async function nonReaders(file: string, n: number): Promise<FaultResult> {
  const violations: string[] = [];
  const server = await start(file, ['-c', String(n + 10), '-b', '100'], BIG_OR_OK);
  const stalled = Array.from({ length: n }, () => {
    const s = connect(server.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => {
      s.write('big\n');
      s.pause();
    });
    return s;
  });
  await sleep(500);
  let served = 0;
  for (let i = 0; i < n; i++)
    if ((await exchange(server.port, { send: 'hi\n', timeoutMs: 20_000 }).catch(() => null))?.data.toString() === 'ok\n') served++;
  const running = childrenOf(server.proc.pid!).length;
  for (const s of stalled) s.destroy();
  if (served !== n) violations.push(`${n - served} ordinary clients not served while others stalled`);
  const figures = { stalled: n, servedMeanwhile: served, runningMeanwhile: running, ...(await leftovers(server, violations)) };
  await server.stop();
  return { figures, violations };
}

/** `n` programs SIGKILLed while their clients wait. */
export async function killedChildren(file: string, n: number): Promise<FaultResult> {
  const violations: string[] = [];
  const server = await start(file, ['-c', String(n + 10), '-b', '100'], ['sh', '-c', 'read x; echo ok; exec sleep 60']);
  const clients = Array.from({ length: n }, () =>
    exchange(server.port, { send: 'hold\n', keepOpen: true, timeoutMs: 60_000 }).catch(() => null),
  );
  for (let i = 0; i < 100 && childrenOf(server.proc.pid!).length < n; i++) await sleep(50);
  const kids = childrenOf(server.proc.pid!);
  // the shell execs sleep: the child is the program
  for (const k of kids) process.kill(k.pid, 'SIGKILL');
  await Promise.all(clients);
  await server
    .waitForLines(/ end \d+ status 9$/, kids.length, 20_000)
    .catch(() => violations.push('killed programs not all logged with status 9'));
  const figures = { killed: kids.length, ...(await leftovers(server, violations)) };
  if (kids.length !== n) violations.push(`${kids.length} of ${n} programs ran`);
  await server.stop();
  return { figures, violations };
}

/** `n` connections to a program that does not exist, then `n` to one that is not executable. */
export async function badPrograms(file: string, n: number, dir: string): Promise<FaultResult> {
  const violations: string[] = [];
  const plain = join(dir, 'not-executable');
  writeFileSync(plain, '#!/bin/sh\necho ran\n');
  chmodSync(plain, 0o644);
  const figures: Record<string, number> = {};
  for (const [name, program] of [
    ['missing', join(dir, 'no-such-program')],
    ['notExecutable', plain],
  ] as const) {
    const server = await start(file, ['-c', '20', '-b', '100'], [program]);
    let answered = 0;
    await Promise.all(
      Array.from({ length: n }, async () => ((await exchange(server.port).catch(() => null))?.data.length ? answered++ : 0)),
    );
    await server
      .waitForLines(/dropping connection, unable to run /, n, 20_000)
      .catch(() => violations.push(`${name}: not every connection dropped with a warning`));
    if (answered) violations.push(`${name}: ${answered} clients got output`);
    const left = await leftovers(server, violations);
    figures[`${name}Dropped`] = server.lines().filter((l) => /dropping connection/.test(l)).length;
    figures[`${name}Children`] = left.children;
    await server.stop();
  }
  return { figures, violations };
}

/** Bursts of `n` clients at once under `ulimit -n` 24, 28 and 64 (with -c 200): how many served. */
export async function descriptorsShort(file: string, n: number, rules: string): Promise<FaultResult> {
  const violations: string[] = [];
  const figures: Record<string, number> = {};
  for (const [limit, extra] of [
    [24, []],
    [28, []],
    [64, ['-c', '200']],
  ] as const) {
    const server = await start(file, ['-b', '256', '-x', rules, ...extra], ['echo', 'ok'], `ulimit -n ${limit}`);
    const got = await Promise.all(
      Array.from({ length: n }, () =>
        exchange(server.port, { timeoutMs: 60_000 }).then(
          (r) => r.data.toString(),
          () => '',
        ),
      ),
    );
    const served = got.filter((g) => g === 'ok\n').length;
    figures[`served at ulimit ${limit}`] = served;
    if (served !== n) violations.push(`ulimit -n ${limit}: ${n - served} of ${n} clients dropped`);
    await leftovers(server, violations);
    await server.stop();
  }
  return { figures, violations };
}

export type RulesVersion = 'deny' | 'allow' | 'removed' | 'directory' | 'truncated' | 'flipped' | 'garbage';

/**
 * The rules file replaced (by rename, as tcprules does) `versions` times while clients connect:
 * good files that deny or allow 127.0.0.1, the file removed, a directory in its place, the deny
 * file truncated, with a byte changed, or random bytes. What C's tcprulescheck makes of each
 * version is the reference: when it does not say "allow" for 127.0.0.1, a client from there must
 * never reach the program. `random` picks bytes and versions (a seeded generator in tests).
 */
export async function rulesUnderLoad(file: string, versions: number, dir: string, random: () => number): Promise<FaultResult> {
  const violations: string[] = [];
  const rules = join(dir, 'rules.cdb');
  const cdb = (text: string) =>
    makeCdb(parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const));
  const deny = cdb('127.0.0.1:deny\n127.0.0.2:allow,X="two"\n:allow,X="other"\n');
  const allow = cdb('127.0.0.1:allow,X="one"\n:deny\n');
  rmSync(rules, { recursive: true, force: true });
  writeFileSync(rules, deny);
  const server = await start(file, ['-c', '40', '-b', '100', '-x', rules], ['sh', '-c', 'echo "ran $X"']);
  const other = randomLoopbackIp();
  const counts: Record<string, number> = { ran: 0, refused: 0, violations: 0 };
  const kinds: RulesVersion[] = ['deny', 'allow', 'removed', 'directory', 'truncated', 'flipped', 'garbage'];
  for (let v = 0; v < versions; v++) {
    const kind = kinds[Math.floor(random() * kinds.length)];
    const next = join(dir, 'next');
    rmSync(next, { recursive: true, force: true });
    let bytes: Buffer | null = null;
    if (kind === 'deny' || kind === 'allow') bytes = kind === 'deny' ? deny : allow;
    else if (kind === 'truncated') bytes = deny.subarray(0, Math.floor(random() * deny.length));
    else if (kind === 'flipped') {
      bytes = Buffer.from(deny);
      bytes[Math.floor(random() * bytes.length)] ^= 1 + Math.floor(random() * 255);
    } else if (kind === 'garbage')
      bytes = Buffer.from(Array.from({ length: Math.floor(random() * 4096) }, () => Math.floor(random() * 256)));
    if (kind === 'removed') rmSync(rules, { recursive: true, force: true });
    else {
      if (kind === 'directory') mkdirSync(next);
      else writeFileSync(next, bytes!);
      rmSync(rules, { recursive: true, force: true });
      renameSync(next, rules);
    }
    const verdict = reference(rules);
    const answers = await Promise.all([
      exchange(server.port, { timeoutMs: 20_000 }),
      exchange(server.port, { timeoutMs: 20_000 }),
      exchange(server.port, { localAddress: other, timeoutMs: 20_000 }),
    ]).catch(() => []);
    for (const [i, a] of answers.entries()) {
      const ran = a.data.toString().startsWith('ran');
      counts[ran ? 'ran' : 'refused']++;
      if (i < 2 && ran && verdict !== 'allow') {
        counts.violations++;
        violations.push(`version ${v} (${kind}): 127.0.0.1 let in where tcprulescheck says ${verdict}`);
      }
    }
  }
  rmSync(rules, { recursive: true, force: true });
  writeFileSync(rules, deny);
  await stillServes(server, 'ran other\n', []);
  const figures = { versions, ...counts, ...(await leftovers(server, violations)) };
  await server.stop();
  return { figures, violations };
}

/** C's tcprulescheck for 127.0.0.1: 'allow', 'deny', or its failure. */
function reference(rules: string): string {
  const r = spawnSync('/usr/bin/tcprulescheck', [rules], { env: { TCPREMOTEIP: '127.0.0.1' }, encoding: 'latin1' });
  const out = `${r.stdout}${r.stderr}`;
  if (/^allow connection$/m.test(out)) return 'allow';
  if (/^deny connection$/m.test(out)) return 'deny';
  return `error (${out.trim().split('\n').pop() || 'signal ' + r.signal})`;
}

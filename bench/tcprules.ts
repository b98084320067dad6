// Benchmark: tcprules and rules lookups, ours against Debian's C binaries in the same run.
//
//   npx tsc -p . && node dist/bench/tcprules.js [lines=1000000] [runs=5] [lookups=1000000] [spawns=500]
//   (lookups=0 spawns=0: part 1 only)
//
// 1. tcprules on a generated rules text of `lines` lines: wall time of the whole process (start-up
//    included), bin/tcprules vs /usr/bin/tcprules, median of `runs` runs each, alternating.
// 2. `lookups` random lookups with our in-process lookupRules on the produced cdb: µs per lookup.
// 3. Per-invocation wall time of tcprulescheck, C vs ours, over `spawns` invocations each: this is
//    process start-up plus one lookup, the cost a run script or a test harness pays.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CdbReader } from '../src/cdb/reader';
import { lookupRules, RuleQuery } from '../src/rules/lookup';
import { Rng } from '../test/support/rulesgen';

const ROOT = resolve(__dirname, '..', '..');
const OURS = (name: string) => join(ROOT, 'bin', name);
const C = (name: string) => (existsSync(`/usr/bin/${name}`) ? `/usr/bin/${name}` : null);

const [lines = 1_000_000, runs = 5, lookups = 1_000_000, spawns = 500] = process.argv.slice(2).map(Number);

/** A realistic large rules file: mostly exact IPs and prefixes, some hosts, ranges and variables. */
export function rulesText(rng: Rng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = rng.int(256);
    const b = rng.int(256);
    const c = rng.int(256);
    const r = rng.int(100);
    if (r < 60) out.push(`${a}.${b}.${c}.${rng.int(256)}:deny`);
    else if (r < 75) out.push(`${a}.${b}.${c}.:allow,RELAYCLIENT=""`);
    else if (r < 85) out.push(`=host${i}.example.com:allow,TCPREMOTEHOST="host${i}"`);
    else if (r < 90) out.push(`=.dom${i % 1000}.net:deny`);
    else if (r < 95) out.push(`user${i % 50}@${a}.${b}.${c}.${rng.int(256)}:allow,WHO=/user/,QMAILQUEUE="/bin/q"`);
    else if (r < 98) out.push(`# comment ${i}`);
    else {
      const bot = rng.int(250);
      out.push(`${a}.${b}.${c}.${bot}-${bot + rng.int(8)}:allow`); // a small range
    }
  }
  return out.join('\n') + '\n';
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function timeRun(file: string, args: string[], input: string, cwd: string): number {
  const fd = openSync(input, 'r');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(file, args, { stdio: [fd, 'ignore', 'inherit'], cwd });
  const t1 = process.hrtime.bigint();
  closeSync(fd);
  if (r.status !== 0) throw new Error(`${file} exit ${r.status}`);
  return Number(t1 - t0) / 1e6;
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'ucspi-bench-'));
  try {
    console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), ${new Date().toISOString()}`);
    const input = join(dir, 'rules.txt');
    writeFileSync(input, rulesText(new Rng(1), lines));
    console.log(`\n1. tcprules on ${lines} lines (${(readFileSync(input).length / 1e6).toFixed(1)} MB), median of ${runs} runs, wall ms`);
    const loadBefore = load(); // the machine may be shared: C and ours run alternately
    const cTcprules = C('tcprules');
    const mine: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < runs; i++) {
      mine.push(timeRun(OURS('tcprules'), ['ours.cdb', 'ours.tmp'], input, dir));
      if (cTcprules) theirs.push(timeRun(cTcprules, ['c.cdb', 'c.tmp'], input, dir));
    }
    const ourCdb = readFileSync(join(dir, 'ours.cdb'));
    console.log(
      `   ours ${median(mine).toFixed(0)} ms  (runs: ${mine.map((x) => x.toFixed(0)).join(' ')}), cdb ${(ourCdb.length / 1e6).toFixed(1)} MB`,
    );
    if (cTcprules) {
      const same = ourCdb.equals(readFileSync(join(dir, 'c.cdb')));
      console.log(`   C    ${median(theirs).toFixed(0)} ms  (runs: ${theirs.map((x) => x.toFixed(0)).join(' ')}), byte-identical: ${same}`);
      console.log(`   ratio ours/C ${(median(mine) / median(theirs)).toFixed(2)}`);
    } else console.log('   C tcprules not installed: no comparison');
    console.log(`   load average ${load()} (before: ${loadBefore})`);
    if (lookups === 0 && spawns === 0) return;

    console.log(`\n2. ${lookups} in-process lookupRules on that cdb (file descriptor reads, no mmap)`);
    const rng = new Rng(2);
    const queries: RuleQuery[] = [];
    for (let i = 0; i < 10_000; i++) {
      const host = rng.chance(0.5) ? `host${rng.int(lines)}.example.com` : null;
      const info = rng.chance(0.2) ? `user${rng.int(60)}` : null;
      queries.push({ ip: `${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}`, host, info });
    }
    const reader = CdbReader.open(join(dir, 'ours.cdb'));
    let found = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < lookups; i++) if (lookupRules(reader, queries[i % queries.length])) found++;
    const ns = Number(process.hrtime.bigint() - t0);
    reader.close();
    console.log(
      `   ${(ns / 1e3 / lookups).toFixed(2)} µs/lookup (${(ns / 1e9) | 0 || (ns / 1e9).toFixed(2)} s total, ${found} found a rule)`,
    );

    console.log(`\n3. tcprulescheck per invocation (process start-up + one lookup), ${spawns} each, wall ms`);
    for (const [name, file] of [
      ['ours', OURS('tcprulescheck')],
      ['C', C('tcprulescheck')],
    ] as const) {
      if (!file) {
        console.log(`   ${name}: not installed`);
        continue;
      }
      const times: number[] = [];
      for (let i = 0; i < spawns; i++) {
        const q = queries[i];
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TCPREMOTEIP: q.ip };
        if (q.host !== null) env.TCPREMOTEHOST = q.host;
        const t = process.hrtime.bigint();
        const r = spawnSync(file, ['ours.cdb'], { env, cwd: dir, stdio: 'ignore' });
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
        if (r.status !== 0) throw new Error(`${file} exit ${r.status}`);
      }
      console.log(
        `   ${name.padEnd(4)} median ${median(times).toFixed(2)} ms, mean ${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(2)} ms`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) main();

// Differential test against Debian's C tcprules and tcprulescheck on a generated corpus.
//
// 10,000 seeded random rules files go through C tcprules (one shell loop, so no Node start-up per
// file) and through our compileRules, the very function bin/tcprules calls, on the same input files.
// The cdb files must be byte-identical, and on failure the stderr line and exit code must be the
// same. A few hundred of them also go through our real bin/tcprules. Then C tcprulescheck reads our
// cdb files and ours reads C's, for random lookups. Replay a failure with UCSPI_SEED=<seed>.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CdbReader } from '../src/cdb/reader';
import { compileFailureMessage } from '../src/cmd/tcprules';
import { describeRule } from '../src/cmd/tcprulescheck';
import { CompileError, compileRules } from '../src/rules/compile';
import { lookupRules, RuleQuery } from '../src/rules/lookup';
import { parseRules } from '../src/rules/parse';
import { cBinary, needC, ours } from './support/programs';
import { randomBytes, randomHost, randomInfo, randomIp, Rng, rulesFile, seedFromEnv } from './support/rulesgen';
import { tempDir } from './support/tmp';

const SEED = seedFromEnv(20240601);
const FILES = 10_000;
const CLI_FILES = 300;
const LOOKUP_FILES = 600;
const LOOKUPS_PER_FILE = 5;
const CLI_LOOKUPS = 200;

const skip = needC('tcprules', 'tcprulescheck');
if (skip) console.log(`tcprules-corpus: skipped: ${skip}`);

/** Per-file seed, so that one file can be regenerated from (SEED, index). */
function fileRng(i: number): Rng {
  return new Rng((Math.imul(SEED, 1_000_003) + i) >>> 0);
}

function generate(i: number): string {
  const rng = fileRng(i);
  // every 50th file is large: thousands of records, many probes colliding in the hash tables
  return rulesFile(rng, i % 50 === 7 ? { lines: 300 + rng.int(1500), malformed: 0.02 } : {});
}

/** Quote a latin1 byte string for /bin/sh (single quotes pass every byte but NUL through). */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Run a shell script given as latin1 bytes; resolves with its stdout. */
function runScript(script: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'exec /bin/sh'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' },
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`script exit ${code}`))));
    child.stdin.end(Buffer.from(script, 'latin1'));
  });
}

/** Split `\0<rc>\0`-terminated outputs of a script loop into (stdout, rc) pairs. */
function splitRuns(buf: Buffer): Array<{ stdout: string; rc: number }> {
  const parts = buf.toString('latin1').split('\0');
  const runs: Array<{ stdout: string; rc: number }> = [];
  for (let k = 0; k + 1 < parts.length; k += 2) runs.push({ stdout: parts[k], rc: Number(parts[k + 1]) });
  return runs;
}

function show(text: string): string {
  return JSON.stringify(text.length > 400 ? text.slice(0, 400) + '...' : text);
}

interface Outcome {
  rc: number;
  stderr: string;
  cdb: Buffer | null;
}

function readOutcome(dir: string, i: number, rc: number): Outcome {
  const cdbPath = join(dir, `${i}.cdb`);
  return {
    rc,
    stderr: readFileSync(join(dir, `${i}.err`), 'latin1'),
    cdb: existsSync(cdbPath) ? readFileSync(cdbPath) : null,
  };
}

function assertSameOutcome(mine: Outcome, theirs: Outcome, i: number, input: string, what: string): void {
  const where = `${what}: file ${i} (UCSPI_SEED=${SEED}), input ${show(input)}`;
  assert.equal(mine.rc, theirs.rc, `exit code, ${where}`);
  assert.equal(mine.stderr, theirs.stderr, `stderr, ${where}`);
  assert.equal(mine.cdb === null, theirs.cdb === null, `cdb created, ${where}`);
  if (mine.cdb && theirs.cdb) assert.ok(mine.cdb.equals(theirs.cdb), `cdb bytes differ, ${where}`);
}

const corpus = { dir: skip ? '' : tempDir('ucspi-corpus-'), inputs: [] as string[], c: [] as Outcome[] };

test(`tcprules: ${FILES} generated rules files give byte-identical cdb files, messages and exit codes`, { skip }, async () => {
  const dir = corpus.dir;
  for (const sub of ['in', 'c', 'o']) mkdirSync(join(dir, sub));
  for (let i = 0; i < FILES; i++) {
    const text = generate(i);
    corpus.inputs.push(text);
    writeFileSync(join(dir, 'in', String(i)), text, 'latin1');
  }

  // C: one shell loop in the background while we compile the same files in-process
  const tcprules = cBinary('tcprules')!;
  const cDone = runScript(
    `cd ${shQuote(dir)} && i=0; while [ $i -lt ${FILES} ]; do ` +
      `${tcprules} c/$i.cdb c/$i.tmp < in/$i 2> c/$i.err; echo $? >> c/rcs; i=$((i+1)); done\n`,
  );

  const mine: Outcome[] = [];
  for (let i = 0; i < FILES; i++) {
    const cdb = join(dir, 'o', `${i}.cdb`);
    const tmp = join(dir, 'o', `${i}.tmp`);
    const fd = openSync(join(dir, 'in', String(i)), 'r');
    let rc = 0;
    let stderr = '';
    try {
      compileRules(fd, cdb, tmp);
    } catch (err) {
      if (!(err instanceof CompileError)) throw err;
      const m = compileFailureMessage(err.failure, cdb, tmp);
      rc = m.code;
      stderr = `tcprules: fatal: ${m.text}\n`;
    } finally {
      closeSync(fd);
    }
    mine.push({ rc, stderr, cdb: existsSync(cdb) ? readFileSync(cdb) : null });
  }

  await cDone;
  const rcs = readFileSync(join(dir, 'c', 'rcs'), 'latin1')
    .trim()
    .split('\n')
    .map(Number);
  assert.equal(rcs.length, FILES);
  let failures = 0;
  for (let i = 0; i < FILES; i++) {
    const theirs = readOutcome(join(dir, 'c'), i, rcs[i]);
    // the messages name the paths given on the command line: ours ran with o/ paths
    theirs.stderr = theirs.stderr.split(`c/${i}.`).join(join(dir, 'o', `${i}.`));
    corpus.c.push(theirs);
    assertSameOutcome(mine[i], theirs, i, corpus.inputs[i], 'compileRules vs C tcprules');
    if (theirs.rc !== 0) failures++;
  }
  // a corpus that never fails, or never succeeds, would not be testing what it claims
  assert.ok(failures > FILES * 0.05 && failures < FILES * 0.4, `${failures} of ${FILES} files failed to parse`);
  console.log(`corpus: seed ${SEED}, ${FILES} files, ${FILES - failures} compiled, ${failures} rejected`);
});

test(`tcprules CLI: ${CLI_FILES} corpus files through bin/tcprules match C`, { skip }, async () => {
  assert.ok(corpus.c.length === FILES, 'the corpus test ran first');
  const dir = corpus.dir;
  mkdirSync(join(dir, 'cli'));
  const step = Math.floor(FILES / CLI_FILES);
  const picked: number[] = [];
  for (let i = 3; i < FILES && picked.length < CLI_FILES; i += step) picked.push(i);
  // two shell loops, one per core; our paths are relative like C's were
  const halves = [picked.filter((_, k) => k % 2 === 0), picked.filter((_, k) => k % 2 === 1)];
  await Promise.all(
    halves.map((list) =>
      runScript(
        `cd ${shQuote(dir)} && for i in ${list.join(' ')}; do ${shQuote(process.execPath)} ${shQuote(ours('tcprules'))} ` +
          `cli/$i.cdb cli/$i.tmp < in/$i > cli/$i.out 2> cli/$i.err; echo $? > cli/$i.rc; done\n`,
      ),
    ),
  );
  for (const i of picked) {
    const rc = Number(readFileSync(join(dir, 'cli', `${i}.rc`), 'latin1'));
    const mine = readOutcome(join(dir, 'cli'), i, rc);
    const cStderr = readFileSync(join(dir, 'c', `${i}.err`), 'latin1');
    const theirs = { ...corpus.c[i], stderr: cStderr.split(`c/${i}.`).join(`cli/${i}.`) };
    assertSameOutcome(mine, theirs, i, corpus.inputs[i], 'bin/tcprules vs C tcprules');
    assert.equal(readFileSync(join(dir, 'cli', `${i}.out`)).length, 0, 'nothing on stdout');
  }
});

/** Queries aimed at a rules file: its own addresses, hosts and infos, and random ones. */
function queriesFor(rng: Rng, input: string): RuleQuery[] {
  const keys = parseRules(input).map((r) => r.key);
  const ips: string[] = [];
  const hosts: string[] = [];
  const infos: string[] = [];
  for (const k of keys) {
    const at = k.indexOf('@');
    if (at >= 0) infos.push(k.slice(0, at));
    const rest = at >= 0 ? k.slice(at + 1) : k;
    if (rest.startsWith('=')) {
      if (rest.length > 1) hosts.push(rest.startsWith('=.') ? randomHost(rng) + rest.slice(1) : rest.slice(1));
    } else if (/^[0-9.]*$/.test(rest)) {
      // a prefix `1.2.` becomes a full address under it
      const parts = rest.split('.').filter((p) => p !== '');
      while (parts.length < 4) parts.push(String(rng.int(10)));
      ips.push(rest.endsWith('.') || rng.chance(0.3) ? parts.join('.') : rest);
    }
  }
  const queries: RuleQuery[] = [];
  for (let n = 0; n < LOOKUPS_PER_FILE; n++) {
    const ip = ips.length && rng.chance(0.8) ? rng.pick(ips) : rng.chance(0.1) ? '' : randomIp(rng);
    const host = rng.chance(0.4)
      ? null
      : hosts.length && rng.chance(0.7)
        ? rng.pick(hosts)
        : rng.chance(0.2)
          ? randomBytes(rng, rng.int(8), '')
          : randomHost(rng);
    const info = rng.chance(0.5) ? null : infos.length && rng.chance(0.7) ? rng.pick(infos) : randomInfo(rng);
    // C strings: environment values cannot hold NUL
    const clean = (s: string | null) => (s === null ? null : s.replace(/\0/g, ''));
    queries.push({ ip: clean(ip)!, host: clean(host), info: clean(info) });
  }
  return queries;
}

function envWords(q: RuleQuery): string {
  let words = `TCPREMOTEIP=${shQuote(q.ip)}`;
  if (q.host !== null) words += ` TCPREMOTEHOST=${shQuote(q.host)}`;
  if (q.info !== null) words += ` TCPREMOTEINFO=${shQuote(q.info)}`;
  return words;
}

test("tcprulescheck: C reads our cdb files and we read C's, with identical answers", { skip }, async () => {
  assert.ok(corpus.c.length === FILES, 'the corpus test ran first');
  const dir = corpus.dir;
  const rng = new Rng(SEED ^ 0x5eed);
  const jobs: Array<{ i: number; q: RuleQuery }> = [];
  for (let i = 0; i < FILES && jobs.length < LOOKUP_FILES * LOOKUPS_PER_FILE; i++) {
    if (corpus.c[i].rc !== 0) continue;
    for (const q of queriesFor(rng, corpus.inputs[i])) jobs.push({ i, q });
  }
  const check = cBinary('tcprulescheck')!;
  const cScript = jobs.map(({ i, q }) => `env -i ${envWords(q)} ${check} o/${i}.cdb; printf '\\0%d\\0' $?\n`).join('');
  const cRuns = splitRuns(await runScript(`cd ${shQuote(dir)}\n` + cScript));
  assert.equal(cRuns.length, jobs.length);

  let matched = 0;
  for (let k = 0; k < jobs.length; k++) {
    const { i, q } = jobs[k];
    const reader = CdbReader.open(join(dir, 'c', `${i}.cdb`));
    let report: string;
    try {
      const m = lookupRules(reader, q);
      if (m) matched++;
      report = describeRule(m?.key ?? null, m?.data ?? null);
    } finally {
      reader.close();
    }
    assert.deepEqual({ stdout: report, rc: 0 }, cRuns[k], `lookup ${JSON.stringify(q)} in file ${i} (UCSPI_SEED=${SEED})`);
  }
  assert.ok(matched > jobs.length / 2, `${matched} of ${jobs.length} lookups found a rule`);

  // our real CLI on a part of them, environment bytes passed through by the shell
  const step = Math.floor(jobs.length / CLI_LOOKUPS);
  const picked = jobs.map((j, k) => ({ ...j, k })).filter((_, k) => k % step === 0);
  const ourScript = picked
    .map(
      ({ i, q }) =>
        `env -i ${envWords(q)} ${shQuote(process.execPath)} ${shQuote(ours('tcprulescheck'))} c/${i}.cdb; printf '\\0%d\\0' $?\n`,
    )
    .join('');
  const ourRuns = splitRuns(await runScript(`cd ${shQuote(dir)}\n` + ourScript));
  assert.equal(ourRuns.length, picked.length);
  picked.forEach(({ i, q, k }, n) => {
    assert.deepEqual(ourRuns[n], cRuns[k], `bin/tcprulescheck ${JSON.stringify(q)} in file ${i} (UCSPI_SEED=${SEED})`);
  });
});

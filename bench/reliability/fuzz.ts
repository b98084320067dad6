// Fuzzers, seeded and bounded: tcprules input next to the C tcprules, cdb files as tcpserver reads
// them, DNS answers as rblsmtpd and tcpclient read them (in process, and through the real programs
// over the test DNS server), and every program's arguments. Each returns its counts and its
// violations (a crash, a stack trace, a cdb that differs from C's, an exit code no original has).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdbFormatError, CdbReader } from '../../src/cdb/reader';
import { makeCdb } from '../../src/cdb/writer';
import { DnsError } from '../../src/dns/error';
import { nameFromDot } from '../../src/dns/name';
import {
  answerFirstPtr,
  answerIp4s,
  answerTxt,
  buildMessage,
  FLAG_AA,
  FLAG_QR,
  parseMessage,
  TYPE_A,
  TYPE_PTR,
  TYPE_TXT,
  txtData,
} from '../../src/dns/packet';
import { lookupRules } from '../../src/rules/lookup';
import { parseRules } from '../../src/rules/parse';
import type { DnsTestServer } from '../../test/support/dns-server';
import { MALFORMED } from '../../test/support/dns-malformed';
import { BIN, cBinary, run } from '../../test/support/programs';
import { startServer } from '../../test/support/server';

export interface FuzzResult {
  readonly figures: Record<string, number>;
  readonly violations: string[];
}

/** mulberry32: a small seeded generator, so that a failing run can be repeated. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: () => number, n: number) => Math.floor(r() * n);

/** A stack trace or an internal error where a program should have said one classic line. */
export const STACK_TRACE = /^\s+at |node:internal|(Type|Range|Syntax|Reference)Error|Uncaught|ERR_[A-Z_]+/m;

// ---- tcprules input, next to C ----

const ADDRESS_PIECES = [
  '1',
  '2',
  '127',
  '255',
  '256',
  '0',
  '007',
  '1.2.3.',
  '.',
  '-',
  '9-',
  '-3',
  '=',
  '@',
  'x',
  'host.example',
  ' ',
  '\t',
  '\r',
  '\0',
  '\xff',
  '99999999999999999999',
];
const INSTRUCTIONS = ['deny', 'allow', 'den', 'allo', 'DENY', ''];
const VARIABLES = [
  ',A="b"',
  ',X=/y/',
  ',=v=',
  ',A=',
  ',A',
  ',A="unclosed',
  ',A=,x,',
  ',B=""',
  ',\0=\0a\0',
  ',V="' + 'w'.repeat(300) + '"',
  ',A=:a:',
];

/** A line from the pieces 0.88 and the IPv6 variants share (no ':' or '/' inside addresses). */
function rulesLine(r: () => number): string {
  if (r() < 0.05) return pick(r, ['#comment', '', '   ', 'no colon here', ':allow', ':deny']);
  let address = '';
  for (let i = int(r, 5); i >= 0; i--) address += pick(r, ADDRESS_PIECES);
  // mostly lines that parse, so that the cdbs compared hold something
  let line = `${address}:${r() < 0.9 ? pick(r, ['deny', 'allow']) : pick(r, INSTRUCTIONS)}`;
  for (let i = int(r, 3); i > 0; i--) line += r() < 0.8 ? pick(r, VARIABLES.slice(0, 2)) : pick(r, VARIABLES);
  if (r() < 0.1) line += pick(r, [' ', '\t', '  \t', 'junk']);
  return line;
}

/** `iterations` rules texts through ours and C's tcprules: the same exit code, message and cdb bytes. */
export function fuzzTcprules(iterations: number, dir: string, r: () => number): FuzzResult {
  const violations: string[] = [];
  const c = cBinary('tcprules');
  const figures = { texts: iterations, same: 0, parseErrors: 0 };
  if (!c) return { figures, violations: ['C tcprules not installed'] };
  for (let i = 0; i < iterations; i++) {
    const text = Array.from({ length: 1 + int(r, 4) }, () => rulesLine(r)).join('\n') + (r() < 0.8 ? '\n' : '');
    const input = Buffer.from(text, 'latin1');
    const results = [c, join(BIN, 'tcprules')].map((prog, k) => {
      const cdb = join(dir, `f${k}.cdb`);
      writeFileSync(cdb, '');
      const p = spawnSync(prog, [cdb, join(dir, `f${k}.tmp`)], { input });
      return { status: p.status, stderr: p.stderr.toString('latin1'), cdb: readFileSync(cdb) };
    });
    const [fromC, fromOurs] = results;
    if (fromOurs.status !== fromC.status || fromOurs.stderr !== fromC.stderr || !fromOurs.cdb.equals(fromC.cdb)) {
      violations.push(
        `differs from C for ${JSON.stringify(text)}: C ${fromC.status} ${JSON.stringify(fromC.stderr)}, ours ${fromOurs.status} ${JSON.stringify(fromOurs.stderr)}`,
      );
    } else figures.same++;
    if (fromC.status === 100) figures.parseErrors++;
  }
  return { figures, violations };
}

// ---- cdb files as tcpserver reads them ----

const QUERIES = ['127.0.0.1', '10.1.2.3', '::1', '2001:db8::1', ''];

/** A rules cdb mangled: bytes changed, cut short, grown, pointers aimed anywhere. */
function mangle(good: Buffer, r: () => number): Buffer {
  let b = Buffer.from(good);
  for (let k = 1 + int(r, 4); k > 0; k--) {
    const what = int(r, 5);
    if (what === 0 && b.length) b[int(r, b.length)] ^= 1 + int(r, 255);
    else if (what === 1) b = b.subarray(0, int(r, b.length + 1));
    else if (what === 2) b = Buffer.concat([b, Buffer.from(Array.from({ length: int(r, 64) }, () => int(r, 256)))]);
    else if (what === 3 && b.length >= 4) b.writeUInt32LE(int(r, 0x100000000), 4 * int(r, Math.floor(b.length / 4)));
    else if (b.length >= 2048) b.writeUInt32LE(int(r, b.length + 100), 8 * int(r, 256)); // a table pointer
  }
  return b;
}

/** `iterations` mangled rules cdbs, each asked for several clients: an answer, or CdbFormatError. */
export function fuzzCdb(iterations: number, r: () => number): FuzzResult {
  const violations: string[] = [];
  const rules = parseRules('127.0.0.1:deny\n127.:allow,A="b"\n=host.example:deny\n10.1.:allow,X="y",Z="w"\n::1:deny\n:allow\n');
  const good = makeCdb(rules.map((x) => [Buffer.from(x.key, 'latin1'), Buffer.from(x.data, 'latin1')] as const));
  const figures = { files: iterations, answered: 0, refusedAsCorrupt: 0 };
  for (let i = 0; i < iterations; i++) {
    const bytes = mangle(good, r);
    for (const ip of QUERIES) {
      try {
        lookupRules(CdbReader.fromBuffer(bytes), { ip, host: r() < 0.5 ? 'host.example' : null, info: null });
        figures.answered++;
      } catch (err) {
        if (err instanceof CdbFormatError) figures.refusedAsCorrupt++;
        else violations.push(`${(err as Error).stack} for ${bytes.toString('hex').slice(0, 200)}`);
      }
    }
  }
  return { figures, violations };
}

// ---- DNS answers ----

/** A well-formed answer to `query` (its id and question) with one record of the type asked. */
function goodAnswer(query: Buffer): Buffer {
  const q = parseMessage(query).questions[0];
  const data =
    q.type === TYPE_A ? Buffer.from([127, 0, 0, 2]) : q.type === TYPE_PTR ? nameFromDot('fuzz.example') : txtData(['listed by fuzz']);
  return buildMessage({
    id: query.readUInt16BE(0),
    flags: FLAG_QR | FLAG_AA,
    questions: [q],
    answers: [{ name: q.name, type: q.type, ttl: 60, data }],
  });
}

/**
 * An answer to `query` broken at random after its question (a reply whose id or question is
 * wrong is no reply, and only costs the resolver its timeout): bytes changed, cut, grown, pointers
 * aimed anywhere, counts raised; or one of the hand-made malformed replies.
 */
export function mangledAnswer(query: Buffer, r: () => number): Buffer {
  if (r() < 0.15) {
    const names = Object.keys(MALFORMED).filter((n) => n !== 'truncatedHeader') as Array<keyof typeof MALFORMED>;
    return MALFORMED[pick(r, names)](query);
  }
  let b = goodAnswer(query);
  const fixed = query.length; // header and question
  for (let k = 1 + int(r, 4); k > 0; k--) {
    const what = int(r, 5);
    const at = fixed + int(r, Math.max(1, b.length - fixed));
    if (what === 0 && at < b.length) b[at] ^= 1 + int(r, 255);
    else if (what === 1) b = b.subarray(0, Math.max(fixed, at));
    else if (what === 2) b = Buffer.concat([b, Buffer.from(Array.from({ length: int(r, 600) }, () => int(r, 256)))]);
    else if (what === 3 && at + 1 < b.length) b.writeUInt16BE(0xc000 | int(r, 0x4000), at);
    else b.writeUInt16BE(int(r, 0x10000), pick(r, [6, 8, 10])); // answer, authority, additional counts
  }
  return b;
}

/** `iterations` mangled answers parsed as the programs parse them: a result, or a DnsError. */
export function fuzzDnsParse(iterations: number, r: () => number): FuzzResult {
  const violations: string[] = [];
  const figures = { answers: iterations, read: 0, refusedAsMalformed: 0 };
  for (let i = 0; i < iterations; i++) {
    const type = pick(r, [TYPE_A, TYPE_PTR, TYPE_TXT]);
    const query = buildMessage({
      id: int(r, 0x10000),
      flags: 0x100,
      questions: [{ name: nameFromDot('9.0.0.127.fuzz.test'), type, class: 1 }],
      answers: [],
    });
    const reply = mangledAnswer(query, r);
    try {
      parseMessage(reply, r() < 0.5);
      if (type === TYPE_A) answerIp4s(reply);
      else if (type === TYPE_PTR) answerFirstPtr(reply);
      else answerTxt(reply);
      figures.read++;
    } catch (err) {
      if (err instanceof DnsError) figures.refusedAsMalformed++;
      else violations.push(`${(err as Error).stack} for ${reply.toString('hex')}`);
    }
  }
  return { figures, violations };
}

/**
 * rblsmtpd (TXT and A lists) and tcpclient (its PTR lookups of both ends) run `iterations` times
 * each against mangled answers from the test DNS server: each ends as it should (rblsmtpd passes
 * the client or refuses it with one line, tcpclient runs its program), never with a stack trace.
 */
export async function fuzzDnsPrograms(iterations: number, dns: DnsTestServer, r: () => number): Promise<FuzzResult> {
  const violations: string[] = [];
  const figures = { runs: 0, passed: 0, refused: 0, tcpclientRan: 0 };
  const behaviour = { raw: (q: Buffer) => mangledAnswer(q, r) };
  dns.set('9.0.0.127.fuzz.test', behaviour);
  dns.set('1.0.0.127.in-addr.arpa', behaviour);
  const env = { PATH: process.env.PATH, DNSCACHEIP: dns.address, DNSREWRITEFILE: '/nonexistent', TCPREMOTEIP: '127.0.0.9' };
  const target = await startServer(join(BIN, 'tcpserver'), ['-1', '-RHl0', '127.0.0.1', '0', 'echo', 'hello'], { untracked: true });
  // asynchronously: the test DNS server answers from this process
  const runProgram = async (prog: string, args: string[]) => {
    const p = await run(join(BIN, prog), args, { env, timeout: 60_000 });
    return { status: p.status, stdout: p.stdout.toString('latin1'), stderr: p.stderr.toString('latin1') };
  };
  for (let i = 0; i < iterations; i++) {
    const list = pick(r, [
      ['-r', 'fuzz.test'],
      ['-r', 'fuzz.test:listed %IP%'],
      ['-c', '-r', 'fuzz.test'],
    ]);
    const rbl = await runProgram('rblsmtpd', ['-t', '0', ...list, 'echo', 'passed']);
    figures.runs++;
    const out = rbl.stdout.trim();
    if (STACK_TRACE.test(rbl.stderr) || rbl.status !== 0 || !(out === 'passed' || /^(451|553) /.test(out))) {
      violations.push(`rblsmtpd ${list.join(' ')}: status ${rbl.status}, out ${JSON.stringify(out)}, err ${JSON.stringify(rbl.stderr)}`);
    } else figures[out === 'passed' ? 'passed' : 'refused']++;
    const tc = await runProgram('tcpclient', ['-R', '127.0.0.1', String(target.port), 'sh', '-c', 'echo "ran $TCPREMOTEHOST"']);
    figures.runs++;
    if (STACK_TRACE.test(tc.stderr) || tc.status !== 0 || !tc.stdout.startsWith('ran')) {
      violations.push(`tcpclient: status ${tc.status}, out ${JSON.stringify(tc.stdout)}, err ${JSON.stringify(tc.stderr)}`);
    } else figures.tcpclientRan++;
  }
  await target.stop();
  return { figures, violations };
}

// ---- every program's arguments ----

const PROGRAMS = [
  'tcpserver',
  'tcpclient',
  'tcprules',
  'tcprulescheck',
  'rblsmtpd',
  'recordio',
  'fixcrio',
  'addcr',
  'delcr',
  'argv0',
  'mconnect-io',
];
/** These become (or wait for) the program they are given, and end with its status. */
const RUNNING_PROGRAMS = new Set(['tcpclient', 'rblsmtpd', 'recordio', 'fixcrio', 'argv0']);
const WORDS = [
  '-',
  '--',
  '-v',
  '-q',
  '-Q',
  '-x',
  '-c',
  '-c0',
  '-c 5x',
  '-b',
  '-t',
  '-T',
  '-u',
  '-g',
  '-4294967296',
  '-l',
  '-B',
  '-r',
  '-a',
  '-i',
  '-C',
  '-Z',
  '-1',
  '-46',
  '-hHrR',
  '-p',
  '-X',
  '-x/nonexistent',
  '-uabc',
  '-t999999999999999999999',
  '',
  ' ',
  '\xff',
  'x'.repeat(300),
  '0',
  '127.0.0.1',
  '::1',
  '[::1]',
  'no.such.host.test',
  '65536',
  '99999',
  'smtp',
  // a path that is not there and cannot be made: a bare /nonexistent given to tcprules as its cdb
  // made the file /nonexistent (run as root), and then every test that names /nonexistent/... failed
  '/nonexistent-ucspi-ts-fuzz/file',
  'true',
  'false',
  'sh',
];

/**
 * `iterations` random command lines for every program, standard input empty, run as far as they
 * go within a few seconds (a server that starts is stopped). Never a stack trace; exit codes only
 * 0, 100 (then the last line is a usage line or a fatal message), 111, or the program's own.
 */
export function fuzzArguments(iterations: number, r: () => number): FuzzResult {
  const violations: string[] = [];
  const figures: Record<string, number> = { runs: 0, usage: 0, temporary: 0, ran: 0 };
  // names resolve nowhere: DNSCACHEIP is a loopback address where nothing listens
  const env = { PATH: process.env.PATH, DNSCACHEIP: `127.${1 + int(r, 250)}.${int(r, 250)}.${1 + int(r, 250)}`, TCPREMOTEIP: '127.0.0.9' };
  // in a directory of its own: tcprules makes its cdb from whatever words it is given (it left
  // files named `-c 5x`, `[::1]` ... in the checkout)
  const cwd = mkdtempSync(join(tmpdir(), 'ucspi-ts-fuzz-'));
  for (let i = 0; i < iterations; i++) {
    const prog = PROGRAMS[i % PROGRAMS.length];
    const args = Array.from({ length: int(r, 7) }, () => pick(r, WORDS));
    const p = spawnSync(join(BIN, prog), args, { env, cwd, encoding: 'latin1', timeout: 3000, killSignal: 'SIGKILL', input: '' });
    figures.runs++;
    const err = p.stderr ?? '';
    const lastLine = err.trimEnd().split('\n').pop() ?? '';
    const show = `${prog} ${JSON.stringify(args)}: status ${p.status ?? p.signal}, stderr ${JSON.stringify(err.slice(0, 300))}`;
    if (STACK_TRACE.test(err)) violations.push(`stack trace: ${show}`);
    else if (p.status === 100) {
      figures.usage++;
      if (!/^[\w@-]+: (usage: |fatal: |illegal option|option requires)/.test(lastLine) && lastLine !== '')
        violations.push(`exit 100 without a usage or fatal line: ${show}`);
    } else if (p.status === 111) figures.temporary++;
    else if (p.signal === 'SIGKILL')
      figures.ran++; // still running (a server, a client waiting): fine
    else if (p.status !== null && (p.status <= 2 || RUNNING_PROGRAMS.has(prog))) figures.ran++;
    else violations.push(`unexpected end: ${show}`);
  }
  rmSync(cwd, { recursive: true, force: true });
  return { figures, violations };
}

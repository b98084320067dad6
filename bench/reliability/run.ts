// The reliability suite, long version: soak, fault runs, signals and fuzzers, ours side by side
// with the C programs where both can run, every figure printed as a markdown table for
// bench/RESULTS.md. Loopback only; every part bounded in count and time. Needs root (the test DNS
// server takes port 53 on a 127.x address) and Debian's ucspi-tcp.
//
//   npm run reliability                 the long run (about 15 minutes on an idle 2-core machine)
//   npm run reliability -- --quick      the same parts at CI sizes (about a minute)
//   npm run reliability -- --seed 7     fuzzers from another seed (the seed is printed)
//   npm run reliability -- --only tls,proxy   some parts only (soak faults tls proxy signals fuzzers huge)
//
// The short version that CI runs is test/reliability.test.ts, on the same functions.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsTestServer } from '../../test/support/dns-server';
import { BIN, cBinary } from '../../test/support/programs';
import { badPrograms, descriptorsShort, FaultResult, killedChildren, nonReaders, resets, rulesUnderLoad } from './faults';
import { fuzzArguments, fuzzCdb, fuzzDnsParse, fuzzDnsPrograms, fuzzTcprules, seeded } from './fuzz';
import { fuzzProxy, proxyFaults } from './proxy';
import { deliberate, fates, STARTS } from './signals';
import { sslImpls, tlsEarlyCloseNotify, tlsGarbage, tlsHalfOpen, tlsLimitsAfterFaults, tlsResets, tlsSlowReaders, tlsSoak } from './tls';
import { soak, SoakResult } from './soak';

const quick = process.argv.includes('--quick');
const seedAt = process.argv.indexOf('--seed');
const seed = seedAt > 0 ? Number(process.argv[seedAt + 1]) : Date.now() % 100000;
const size = (long: number, short: number) => (quick ? short : long);
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? new Set(process.argv[onlyAt + 1].split(',')) : null;
const part = (name: string) => only === null || only.has(name);

const C = cBinary('tcpserver');
const OURS = join(BIN, 'tcpserver');
let violations = 0;

function table(head: string[], rows: Array<Array<string | number>>): void {
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log('');
}

function report(name: string, r: FaultResult | { figures: Record<string, number>; violations: string[] }): string {
  violations += r.violations.length;
  for (const v of r.violations.slice(0, 10)) console.log(`VIOLATION ${name}: ${v}`);
  return Object.entries(r.figures)
    .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : v}`)
    .join(', ');
}

const SOAK_HEAD = [
  'connections at clients',
  'impl',
  'served',
  'conn/s',
  'RSS MB idle / max / after',
  'fds idle / max / after',
  'threads idle / max',
  'children max / after',
  'zombies max / after',
  'log pid / end / unpaired',
];

/** A soak's row of figures; a client not served, a line unpaired, a child or zombie left counts as a violation. */
function soakRow(label: string, impl: string, r: SoakResult): Array<string | number> {
  const bad = r.failed + r.log.unpaired + r.children.after + r.zombies.after;
  if (bad) violations++;
  return [
    label,
    impl,
    `${r.served}/${r.served + r.failed}`,
    r.rate.toFixed(0),
    `${(r.rssKb.idle / 1024).toFixed(1)} / ${(r.rssKb.max / 1024).toFixed(1)} / ${(r.rssKb.after / 1024).toFixed(1)}`,
    `${r.fds.idle} / ${r.fds.max} / ${r.fds.after}`,
    `${r.threads.idle} / ${r.threads.max}`,
    `${r.children.max} / ${r.children.after}`,
    `${r.zombies.max} / ${r.zombies.after}`,
    `${r.log.from} / ${r.log.end} / ${r.log.unpaired}`,
  ];
}

async function soaks(): Promise<void> {
  const runs: Array<[number, number]> = quick
    ? [[2000, 10]]
    : [
        [100_000, 10],
        [100_000, 35],
        [20_000, 200],
      ];
  console.log('## Soak\n');
  const rows: Array<Array<string | number>> = [];
  for (const [n, k] of runs) {
    const results: Array<[string, SoakResult]> = [];
    for (const [impl, file] of [
      ['C', C],
      ['ours', OURS],
    ] as const)
      if (file) results.push([impl, await soak(file, { connections: n, clients: k })]);
    for (const [impl, r] of results) rows.push(soakRow(`${n} at ${k}`, impl, r));
  }
  table(SOAK_HEAD, rows);
}

async function faults(dir: string): Promise<void> {
  console.log('## Faults\n');
  const rows: string[][] = [];
  const impls = [
    ['C', C],
    ['ours', OURS],
  ].filter((x): x is [string, string] => x[1] !== null);
  const rules = join(dir, 'plain.cdb');
  spawnSync(join(BIN, 'tcprules'), [rules, `${rules}.tmp`], { input: '127.0.0.1:allow\n' });
  for (const [impl, file] of impls) {
    rows.push(['client resets', impl, report(`resets ${impl}`, await resets(file, size(2000, 200)))]);
    rows.push(['clients that never read', impl, report(`nonReaders ${impl}`, await nonReaders(file, size(100, 10)))]);
    rows.push(['programs SIGKILLed', impl, report(`killed ${impl}`, await killedChildren(file, size(300, 20)))]);
    rows.push(['missing and non-executable programs', impl, report(`badPrograms ${impl}`, await badPrograms(file, size(500, 20), dir))]);
    rows.push([
      `descriptors short, bursts of ${size(300, 100)}`,
      impl,
      report(`descriptors ${impl}`, await descriptorsShort(file, size(300, 100), rules)),
    ]);
    const versions = size(3000, 60);
    rows.push([
      `rules file replaced ${versions} times`,
      impl,
      report(`rules ${impl}`, await rulesUnderLoad(file, versions, dir, seeded(seed))),
    ]);
  }
  table(['fault', 'impl', 'figures'], rows);
}

async function tls(dir: string): Promise<void> {
  console.log('## TLS: sslserver, ours and ucspi-ssl 0.95b\n');
  const { ours, c } = await sslImpls(dir);
  if (!c) console.log('(the C sslserver is not in ../shared/peers/ucspi-ssl: its half is skipped)\n');
  const impls = c ? [c, ours] : [ours];
  const rows: string[][] = [];
  for (const impl of impls) {
    const n = size(200, 20);
    rows.push([
      `${n} clients send garbage instead of a ClientHello`,
      impl.name,
      report(`tls garbage ${impl.name}`, await tlsGarbage(impl, n, seeded(seed))),
    ]);
    rows.push([
      `${n} silent after connecting, ${n} after a ClientHello (-T 1)`,
      impl.name,
      report(`tls half-open ${impl.name}`, await tlsHalfOpen(impl, n)),
    ]);
    rows.push([`${n} reset mid-handshake, ${n} mid-session`, impl.name, report(`tls resets ${impl.name}`, await tlsResets(impl, n))]);
    const stalled = size(40, 10);
    const seconds = size(60, 4);
    rows.push([
      `${stalled} never read endless output (${seconds} s), ${stalled} served meanwhile`,
      impl.name,
      report(`tls slow readers ${impl.name}`, await tlsSlowReaders(impl, stalled, seconds)),
    ]);
    rows.push([
      `${n} send close_notify at once, the program writes 200 kB after it`,
      impl.name,
      report(`tls close_notify ${impl.name}`, await tlsEarlyCloseNotify(impl, n)),
    ]);
  }
  const rounds = size(10, 1);
  rows.push([
    `-C 1: each fault ${rounds} times from one address, then an ordinary client from it`,
    'ours',
    report('tls limits', await tlsLimitsAfterFaults(ours, rounds)),
  ]);
  table(['fault', 'impl', 'figures'], rows);
  const soakRows: Array<Array<string | number>> = [];
  for (const [n, k] of quick
    ? [[300, 10]]
    : [
        [5000, 10],
        [5000, 35],
      ]) {
    for (const impl of impls) soakRows.push(soakRow(`${n} at ${k}`, impl.name, await tlsSoak(impl, n, k)));
  }
  console.log('Soak over TLS (RSS: the server process; C forks a TLS process per connection, counted among its children)\n');
  table(SOAK_HEAD, soakRows);
}

async function proxy(dir: string): Promise<void> {
  console.log(`## PROXY protocol (tcpserver with PROXYFROM, ours only; fuzzer seed ${seed})\n`);
  const rows: string[][] = [];
  for (const [mode, noFfi] of [
    ['FFI', false],
    ['no FFI', true],
  ] as const) {
    const rounds = size(20, 3);
    rows.push([
      `${rounds} of each of the fault cases at once`,
      mode,
      report(`proxy faults ${mode}`, await proxyFaults(dir, rounds, noFfi)),
    ]);
    const headers = size(20_000, 400);
    rows.push([
      `${headers} mangled headers, judged by the parser`,
      mode,
      report(`proxy fuzz ${mode}`, await fuzzProxy(dir, headers, seeded(seed), noFfi)),
    ]);
  }
  table(['run', 'reading', 'figures'], rows);
}

async function signals(): Promise<void> {
  console.log('## Signals: what ends tcpserver\n');
  if (!C) return void console.log('(C tcpserver not installed)\n');
  const rows: string[][] = [];
  for (const [name, how] of Object.entries(STARTS)) {
    const fatesNow = await fates(how);
    const differ = fatesNow.filter((r) => r.c !== r.mine && !deliberate(name, r.n));
    violations += differ.length;
    const ending = (pick: 'c' | 'mine') =>
      fatesNow
        .filter((r) => r[pick] !== 'lives')
        .map((r) => `${r.sig.slice(3)}: ${r[pick]}`)
        .join(', ');
    rows.push([name, ending('c'), ending('mine'), differ.map((r) => r.sig).join(' ') || 'none']);
  }
  table(['started', 'C: signals that end or stop it', 'ours', 'differences (not deliberate)'], rows);
}

async function fuzzers(dir: string): Promise<void> {
  console.log(`## Fuzzers (seed ${seed})\n`);
  const r = seeded(seed);
  const rows: string[][] = [];
  rows.push(['tcprules input, next to C tcprules', report('tcprules', fuzzTcprules(size(2000, 50), dir, r))]);
  rows.push(['rules cdb files as tcpserver reads them', report('cdb', fuzzCdb(size(200_000, 5000), r))]);
  rows.push(['DNS answers, parsed', report('dns', fuzzDnsParse(size(500_000, 10_000), r))]);
  const dns = await DnsTestServer.start({});
  try {
    rows.push(['DNS answers to rblsmtpd and tcpclient', report('dns programs', await fuzzDnsPrograms(size(500, 30), dns, r))]);
  } finally {
    await dns.close();
  }
  rows.push(["every program's arguments", report('arguments', fuzzArguments(size(3000, 120), r))]);
  table(['fuzzer', 'figures'], rows);
}

/** tcprules on a line longer than V8's longest string, next to C. */
function hugeLine(dir: string): void {
  if (quick) return;
  console.log('## tcprules, a 600 MB line\n');
  const input = Buffer.concat([Buffer.from('1.2.3.4-5:allow,X="'), Buffer.alloc(600 << 20, 'a'), Buffer.from('"\n')]);
  const rows: Array<Array<string | number>> = [];
  for (const [impl, prog] of [
    ['C', cBinary('tcprules')],
    ['ours', join(BIN, 'tcprules')],
  ] as const) {
    if (!prog) continue;
    const t = performance.now();
    const p = spawnSync('/usr/bin/time', ['-f', '%M', prog, join(dir, `${impl}.cdb`), join(dir, `${impl}.tmp`)], {
      input,
      maxBuffer: 1 << 30,
    });
    const peak = Number(p.stderr.toString().trim().split('\n').pop());
    if (p.status !== 0) violations++;
    rows.push([impl, p.status ?? 'signal', ((performance.now() - t) / 1000).toFixed(1), (peak / 1024).toFixed(0)]);
  }
  const same = spawnSync('cmp', [join(dir, 'C.cdb'), join(dir, 'ours.cdb')]).status === 0;
  if (!same) violations++;
  table(['impl', 'exit', 'seconds', 'peak RSS MB'], rows);
  console.log(`cdb files ${same ? 'identical' : 'DIFFER'}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ucspi-reliability-'));
  const t0 = performance.now();
  console.log(
    `# Reliability ${quick ? '(quick)' : ''}: ${new Date().toISOString()}, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}, seed ${seed}\n`,
  );
  try {
    if (part('soak')) await soaks();
    if (part('faults')) await faults(dir);
    if (part('tls')) await tls(dir);
    if (part('proxy')) await proxy(dir);
    if (part('signals')) await signals();
    if (part('fuzzers')) await fuzzers(dir);
    if (part('huge')) hugeLine(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${violations} violations, ${((performance.now() - t0) / 1000).toFixed(0)} s, load average now ${loadavg()[0].toFixed(2)}`);
  process.exit(violations ? 1 : 0);
}

void main();

// The reliability suite's short version (the long one: npm run reliability, bench/reliability/):
// a soak, the fault runs and the fuzzers at sizes that take seconds, each next to the C programs
// where both run. Each part fails on any violation: a client a deny rule refuses let in, a client
// dropped, a crash or stack trace, a child or zombie left, a log line without its pair, a cdb that
// differs from C's. Fuzzers run from a fixed seed (the long run takes a new one each time).
// TLS and the PROXY protocol: reliability-tls.test.ts, reliability-proxy.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  badPrograms,
  descriptorsShort,
  FaultResult,
  killedChildren,
  nonReaders,
  resets,
  rulesUnderLoad,
} from '../bench/reliability/faults';
import { fuzzArguments, fuzzCdb, fuzzDnsParse, fuzzDnsPrograms, fuzzTcprules, seeded } from '../bench/reliability/fuzz';
import { soak } from '../bench/reliability/soak';
import { DnsTestServer } from './support/dns-server';
import { cBinary, needC, ours, runSync } from './support/programs';
import { tempDir } from './support/tmp';

const DIR = tempDir();
const OURS = ours('tcpserver');
const SEED = 20261201;

function clean(r: { violations: string[]; figures: object }): void {
  assert.deepEqual(r.violations, [], JSON.stringify(r.figures));
}

describe('soak', () => {
  it('2,000 connections at 10 clients: all served, log paired, no child or zombie left, descriptors back', async () => {
    const r = await soak(OURS, { connections: 2000, clients: 10 });
    assert.equal(r.served, 2000);
    assert.equal(r.log.unpaired, 0);
    assert.deepEqual([r.log.from, r.log.end], [2000, 2000]);
    assert.deepEqual([r.children.after, r.zombies.after], [0, 0]);
    assert.equal(r.fds.after, r.fds.idle);
  });
});

describe('faults, ours and C', { skip: needC('tcpserver', 'tcprulescheck') }, () => {
  const rules = `${DIR}/plain.cdb`;
  before(() => void runSync(ours('tcprules'), [rules, `${rules}.tmp`], { input: '127.0.0.1:allow\n' }));
  for (const [impl, file] of [
    ['C', cBinary('tcpserver')!],
    ['ours', OURS],
  ] as const) {
    const runs: Array<[string, () => Promise<FaultResult>]> = [
      ['200 clients, three in four reset at once', () => resets(file, 200)],
      ['10 clients never read endless output while 10 others are served', () => nonReaders(file, 10)],
      ['20 programs SIGKILLed', () => killedChildren(file, 20)],
      ['20 connections each to a missing and a non-executable program', () => badPrograms(file, 20, DIR)],
      ['bursts of 100 clients at ulimit -n 24, 28 and 64', () => descriptorsShort(file, 100, rules)],
      [
        'the rules file replaced 60 times, removed, a directory, truncated, changed, garbage',
        () => rulesUnderLoad(file, 60, DIR, seeded(SEED)),
      ],
    ];
    for (const [name, go] of runs) it(`${impl}: ${name}`, async () => clean(await go()));
  }
});

describe('fuzzers', () => {
  it('tcprules input: the C tcprules exit code, message and cdb bytes', { skip: needC('tcprules') }, () =>
    clean(fuzzTcprules(40, DIR, seeded(SEED))),
  );
  it('rules cdb files as tcpserver reads them: an answer or "corrupt", nothing else', () => clean(fuzzCdb(5000, seeded(SEED))));
  it('DNS answers as the programs parse them: a result or a DNS error, nothing else', () => clean(fuzzDnsParse(10_000, seeded(SEED))));
  it("every program's arguments: a usage line and 100, never a stack trace", () => clean(fuzzArguments(110, seeded(SEED))));
  describe('DNS answers to the programs', () => {
    let dns: DnsTestServer;
    before(async () => {
      dns = await DnsTestServer.start({});
    });
    after(() => dns.close());
    it('rblsmtpd and tcpclient end as they should, 30 mangled answers each', async () =>
      clean(await fuzzDnsPrograms(30, dns, seeded(SEED))));
  });
});

// tcpserver against the C tcpserver: the same scenario run by both, the client's bytes and the
// stderr lines compared after pids and ports are normalised.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCdb } from '../src/cdb/writer';
import { parseRules } from '../src/rules/parse';
import { DnsTestServer } from './support/dns-server';
import { randomLoopbackIp } from './support/loopback';
import { cBinary, needC, ours, run } from './support/programs';
import { exchange, startServer } from './support/server';
import { tempDir } from './support/tmp';

const C = cBinary('tcpserver') ?? '/usr/bin/tcpserver';
const dir = tempDir();
const SERVER_IP = randomLoopbackIp();
let dns: DnsTestServer;

before(async () => {
  dns = await DnsTestServer.start({ 'server.example': { A: [SERVER_IP] }, 'nowhere.example': 'nxdomain' });
});
after(() => dns?.close());

function rulesFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, makeCdb(parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const)));
  return path;
}

interface Seen {
  data: string;
  log: string[];
}

async function scenario(bin: string, flags: string[], host: string, program: string[]): Promise<Seen> {
  // PATH: a directory with a program that is not executable, before the system's
  const env = dns.env({ PATH: `${join(dir, 'path')}:${process.env.PATH}` });
  const s = await startServer(bin, ['-v', '-1', '-R', '-H', '-l', 'L', ...flags, host, '0', ...program], { env });
  await s.waitForLine(/^tcpserver: status: 0\//);
  const r = await exchange(s.port, { host: SERVER_IP === host || host === 'server.example' ? SERVER_IP : '127.0.0.1' });
  await s.waitForLines(/^tcpserver: end /, 1);
  while (!s.lines().at(-1)?.startsWith('tcpserver: status: ')) await new Promise((res) => setTimeout(res, 10));
  await s.stop();
  const port = String(s.port);
  const log = s.lines().map((l) =>
    l
      .split(port)
      .join('PORT')
      .replace(/(pid|ok|deny|end) \d+/, '$1 PID')
      .replace(/:\d+$/, ':RPORT'),
  );
  return { data: r.data.toString('latin1').replace(/TCPREMOTEPORT=\d+/, 'TCPREMOTEPORT=N'), log };
}

const ALLOW = 'rules-allow.cdb';
const cases: Array<[string, string[], string, string[]]> = [
  ['plain', [], '127.0.0.1', ['sh', '-c', 'echo $PROTO $TCPLOCALIP $TCPLOCALHOST $TCPREMOTEIP']],
  ['banner and rule variables', ['-Bwelcome ', '-x', ALLOW], '127.0.0.1', ['sh', '-c', 'echo "$A|$B|$TCPREMOTEIP"']],
  ['denied by a rule', ['-Bbye ', '-x', 'rules-deny.cdb'], '127.0.0.1', ['echo', 'never']],
  ['a program that does not exist', [], '127.0.0.1', ['./nonexistent-program']],
  ['a program name found nowhere in PATH', [], '127.0.0.1', ['nonexistent-program']],
  ['a program name found in PATH but not executable', [], '127.0.0.1', ['not-executable']],
  ['a program name found in PATH', [], '127.0.0.1', ['env-printer']],
  ['exit status 3', [], '127.0.0.1', ['sh', '-c', 'exit 3']],
  ['killed by a signal', [], '127.0.0.1', ['sh', '-c', 'kill -9 $$']],
  ['missing rules file with -X', ['-X', '-x', 'missing.cdb'], '127.0.0.1', ['echo', 'ran']],
  ['missing rules file without -X', ['-x', 'missing.cdb'], '127.0.0.1', ['echo', 'ran']],
  ['a host name looked up in DNS', [], 'server.example', ['sh', '-c', 'echo $TCPLOCALIP']],
];

describe('tcpserver next to the C tcpserver', { skip: needC('tcpserver') }, () => {
  before(() => {
    rulesFile(ALLOW, '127.0.0.1:allow,A="one two",B=/x=y/,TCPREMOTEIP="overridden"\n');
    rulesFile('rules-deny.cdb', '127.:deny\n');
    mkdirSync(join(dir, 'path'));
    writeFileSync(join(dir, 'path', 'not-executable'), '#!/bin/sh\necho should not run\n', { mode: 0o644 });
    writeFileSync(join(dir, 'path', 'env-printer'), '#!/bin/sh\necho "$PROTO $TCPREMOTEIP"\n', { mode: 0o755 });
  });
  for (const [name, flags, host, program] of cases) {
    it(name, async () => {
      const resolved = flags.map((f) => (f.endsWith('.cdb') ? join(dir, f) : f));
      const mine = await scenario(ours('tcpserver'), resolved, host, program);
      const theirs = await scenario(C, resolved, host, program);
      assert.equal(mine.data, theirs.data);
      assert.deepEqual(mine.log, theirs.log);
    });
  }

  for (const [name, args] of [
    ['usage', ['0', '0']],
    ['illegal option', ['-Z', '0', '0', 'true']],
    ['missing option argument', ['-c']],
    ['-q then usage', ['-q', '0']],
    ['unknown port name', ['0', 'nonexistentport', 'true']],
    ['unknown port name without a program', ['0', 'nonexistentport']],
    ['no address for a name', ['nowhere.example', '0', 'true']],
    ['a label longer than 63 bytes', [`${'x'.repeat(64)}.example`, '0', 'true']],
    ['an address that is not local', ['1.2.3.4', '0', 'true']],
  ] as const) {
    it(`fails like C: ${name}`, async () => {
      // asynchronously: the test DNS server answers from this process's event loop
      const mine = await run(ours('tcpserver'), args, { env: dns.env() });
      const theirs = await run(C, args, { env: dns.env() });
      assert.equal(mine.stderr.toString(), theirs.stderr.toString());
      assert.equal(mine.status, theirs.status);
    });
  }
});

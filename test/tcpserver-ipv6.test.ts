// tcpserver with IPv6: one dual-stack process for both families, the IPv6 variant's environment
// and log lines (compared with Debian's ucspi-tcp-ipv6), IPv6 literals, rules and names.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCdb } from '../src/cdb/writer';
import { parseRules } from '../src/rules/parse';
import { debianIpv6Bin, needDebianIpv6 } from './support/debian-ipv6';
import { DnsTestServer } from './support/dns-server';
import { ours, runSync } from './support/programs';
import { exchange, parseEnvOutput, RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';

const TCPSERVER = ours('tcpserver');
const ENV = ['sh', '-c', 'env | grep -E "^(PROTO|TCP)" | sort'];
const QUIET = ['-v', '-1', '-R', '-H', '-l', 'L'];

/** One connection's environment (ports removed) and the log lines it caused (pids and ports as N). */
async function connectOnce(s: RunningServer, host: string): Promise<{ env: Map<string, string>; log: string[] }> {
  await s.waitForLine(/^tcpserver: status: 0\//); // the start-up line can trail the port line
  const before = s.lines().length;
  const ends = s.lines().filter((l) => l.startsWith('tcpserver: end ')).length;
  const r = await exchange(s.port, { host });
  await s.waitForLines(/^tcpserver: end /, ends + 1);
  // the status line printed right after that end
  await s.waitForLines(/^tcpserver: status: /, s.lines().filter((l) => l.startsWith('tcpserver: status: ')).length, 10_000);
  while (!s.lines().at(-1)?.startsWith('tcpserver: status: ')) await new Promise((res) => setTimeout(res, 10));
  const env = parseEnvOutput(r.data.toString('latin1'));
  for (const k of [...env.keys()]) if (k.endsWith('PORT')) env.set(k, 'N');
  // a pid may have any number of digits (pid numbers wrap), ports have four or five
  const log = s
    .lines()
    .slice(before)
    .map((l) => l.replace(/^(tcpserver: (?:pid|ok|deny|end)) \d+/, '$1 N').replace(/\d{4,}/g, 'N'));
  return { env, log };
}

describe('tcpserver dual stack', () => {
  it('serves IPv4 and IPv6 clients from one process on host 0', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '0', '0', ...ENV]);
    const v4 = await connectOnce(s, '127.0.0.1');
    assert.equal(v4.env.get('PROTO'), 'TCP');
    assert.equal(v4.env.get('TCPREMOTEIP'), '127.0.0.1');
    assert.equal(v4.env.get('TCP6REMOTEIP'), '::ffff:127.0.0.1');
    // 0.88's log line for an IPv4 client, so 0.88 log parsers keep working
    assert.ok(v4.log.includes('tcpserver: ok N L:127.0.0.1:N :127.0.0.1::N'), v4.log.join('\n'));
    const v6 = await connectOnce(s, '::1');
    assert.equal(v6.env.get('PROTO'), 'TCP6');
    assert.equal(v6.env.get('TCPREMOTEIP'), '::1');
    assert.equal(v6.env.get('TCP6LOCALIP'), '::1');
    assert.ok(v6.log.includes('tcpserver: ok N L:::1:N :::1::N'), v6.log.join('\n'));
    assert.ok(v6.log.includes('tcpserver: pid N from ::1'));
  });

  it('-6 reports IPv4 clients in IPv6 form', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-6', '0', '0', ...ENV]);
    const v4 = await connectOnce(s, '127.0.0.1');
    assert.equal(v4.env.get('PROTO'), 'TCP6');
    assert.equal(v4.env.get('TCPREMOTEIP'), '::ffff:127.0.0.1');
    assert.ok(v4.log.includes('tcpserver: ok N L:::ffff:127.0.0.1:N :::ffff:127.0.0.1::N'), v4.log.join('\n'));
  });

  it('-4 with host 0 listens on IPv4 only, exactly as 0.88', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-4', '0', '0', ...ENV]);
    const v4 = await connectOnce(s, '127.0.0.1');
    assert.deepEqual(
      [...v4.env.keys()].filter((k) => k.startsWith('TCP6')),
      [],
    );
    assert.equal((await exchange(s.port, { host: '::1' })).ending, 'error');
  });

  for (const [variant, flags] of [
    ['default', []],
    ['-6', ['-6']],
  ] as const) {
    it(`matches Debian's ucspi-tcp-ipv6 environment (${variant})`, { skip: needDebianIpv6() }, async () => {
      const theirs = await startServer(join(debianIpv6Bin() as string, 'tcpserver'), [...QUIET, ...flags, '0', '0', ...ENV]);
      const mine = await startServer(TCPSERVER, [...QUIET, ...flags, '0', '0', ...ENV]);
      for (const host of ['127.0.0.1', '::1']) {
        const a = await connectOnce(mine, host);
        const b = await connectOnce(theirs, host);
        assert.deepEqual([...a.env].sort(), [...b.env].sort(), `environment for ${host}`);
        // log lines agree except 0.88's form for IPv4 clients without -6 (documented)
        if (host === '::1' || variant === '-6') assert.deepEqual(a.log, b.log, `log for ${host}`);
      }
    });
  }
});

describe('tcpserver IPv6 host operands', () => {
  for (const host of ['::1', '[::1]', '::']) {
    it(`listens on ${host}`, async () => {
      const s = await startServer(TCPSERVER, [...QUIET, host, '0', ...ENV]);
      const r = await connectOnce(s, '::1');
      assert.equal(r.env.get('TCPLOCALIP'), '::1');
    });
  }
  it('reports a non-local IPv6 literal as a bind error, not a lookup failure', () => {
    const r = runSync(TCPSERVER, ['2001:db8::', '0', 'true'], { env: { ...process.env, DNSCACHEIP: '127.0.0.1' } });
    assert.equal(r.stderr.toString(), 'tcpserver: fatal: unable to bind: address not available\n');
    assert.equal(r.status, 111);
  });
});

describe('tcpserver IPv6 rules and names', () => {
  let dns: DnsTestServer;
  before(async () => {
    dns = await DnsTestServer.start({
      ['1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa']: { PTR: ['Six.Example'] },
      'six.example': { AAAA: ['::1'] },
    });
  });
  after(() => dns?.close());

  it('looks IPv6 clients up by their IPv6 text and its prefixes', async () => {
    const dir = tempDir();
    const cdb = join(dir, 'rules.cdb');
    const rule = (key: string, data: string) => [Buffer.from(key), Buffer.from(data)] as const;
    writeFileSync(cdb, makeCdb([rule('::1', '+WHO=exact\0'), rule('127.0.0.1', 'D\0')]));
    const s = await startServer(TCPSERVER, [...QUIET, '-x', cdb, '0', '0', 'sh', '-c', 'echo $WHO']);
    assert.equal((await exchange(s.port, { host: '::1' })).data.toString(), 'exact\n');
    assert.equal((await exchange(s.port, { host: '127.0.0.1' })).data.toString(), '');
    await s.waitForLine(/^tcpserver: deny \d+ L:127\.0\.0\.1:/);
  });

  it('applies CIDR rules for IPv4 and IPv6 clients, the longest prefix first', async () => {
    const dir = tempDir();
    const cdb = join(dir, 'cidr.cdb');
    const text = '127.0.0.0/8:allow,NET="v4/8"\n127.0.0.0/24:allow,NET="v4/24"\n::/1:deny\n::/16:allow,NET="v6/16"\n:deny\n';
    const records = parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const);
    writeFileSync(cdb, makeCdb(records));
    const s = await startServer(TCPSERVER, [...QUIET, '-x', cdb, '0', '0', 'sh', '-c', 'echo $NET']);
    assert.equal((await exchange(s.port, { host: '127.0.0.1' })).data.toString(), 'v4/24\n');
    assert.equal((await exchange(s.port, { host: '::1' })).data.toString(), 'v6/16\n');
  });

  it('finds TCPREMOTEHOST under ip6.arpa and checks it against AAAA records with -p', async () => {
    const s = await startServer(TCPSERVER, ['-v', '-1', '-R', '-p', '-l', 'L', '::1', '0', ...ENV], { env: dns.env() });
    const r = await connectOnce(s, '::1');
    assert.equal(r.env.get('TCPREMOTEHOST'), 'six.example');
    assert.equal(r.env.get('TCP6REMOTEHOST'), 'six.example');
    dns.set('six.example', { AAAA: ['2001:db8::1'] });
    const liar = await connectOnce(s, '::1');
    assert.equal(liar.env.has('TCPREMOTEHOST'), false);
  });
});

const canNetns = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;

describe('tcpserver link-local', { skip: !canNetns && 'needs root and ip netns' }, () => {
  const ns = `ucspits${process.pid}`;
  before(() => {
    runSync('ip', ['netns', 'add', ns]);
    runSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    runSync('ip', ['netns', 'exec', ns, 'ip', '-6', 'addr', 'add', 'fe80::1/64', 'dev', 'lo']);
  });
  after(() => void runSync('ip', ['netns', 'del', ns]));

  /** Serve one link-local connection inside the namespace; the environment the program saw. */
  function linkLocal(bin: string): Map<string, string> {
    const script = `
      "$0" -1 -R -H -l L -I lo fe80::1 0 sh -c 'env | grep -E "^(PROTO|TCP)"' > port 2>/dev/null &
      while [ ! -s port ]; do sleep 0.05; done
      node -e 'const c=require("net").connect({host:"fe80::1%lo",port:+process.argv[1]});c.pipe(process.stdout);c.end()' "$(cat port)"
      kill $!`;
    const dir = tempDir();
    const r = runSync('ip', ['netns', 'exec', ns, 'sh', '-c', script, bin], { cwd: dir, timeout: 20_000 });
    return parseEnvOutput(r.stdout.toString());
  }

  it('sets TCP6INTERFACE for a link-local connection (-I lo)', () => {
    const env = linkLocal(TCPSERVER);
    assert.equal(env.get('PROTO'), 'TCP6');
    assert.equal(env.get('TCP6INTERFACE'), 'lo');
    assert.equal(env.get('TCPLOCALIP'), 'fe80::1');
  });

  it("matches Debian's ucspi-tcp-ipv6 there", { skip: needDebianIpv6() }, () => {
    const strip = (m: Map<string, string>) => [...m].filter(([k]) => !k.endsWith('PORT')).sort();
    assert.deepEqual(strip(linkLocal(TCPSERVER)), strip(linkLocal(join(debianIpv6Bin() as string, 'tcpserver'))));
  });
});

// The stub resolver: wire format, names, configuration parsing, numeric host quirks (no DNS), and
// real lookups against a test DNS server on this file's own 127.x address.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { formatIp6, parseIp6, reverseName6, scanIp6 } from '../src/dns/address';
import { parseDnsCacheIp, parseResolvConfServers, qualifyCandidates } from '../src/dns/config';
import {
  DnsError,
  ip4ForHostOperand,
  ip4ForName,
  ip6ForHostOperand,
  ip6ForName,
  nameForIp,
  numericIp4s,
  txtForName,
} from '../src/dns/index';
import { nameFromDot, nameToDot } from '../src/dns/name';
import { buildMessage, parseMessage, TYPE_A, TYPE_TXT } from '../src/dns/packet';
import { timings } from '../src/dns/query';
import { errorText } from '../src/errstr';
import { DnsTestServer } from './support/dns-server';
import { randomLoopbackIp } from './support/loopback';
import { cBinary, needC, run } from './support/programs';
import { tempDir } from './support/tmp';

describe('wire format', () => {
  const label = fc.uint8Array({ minLength: 1, maxLength: 63 });
  const wireName = fc
    .array(label, { maxLength: 3 })
    .map((labels) => Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), l])), Buffer.from([0])]));
  const record = fc.record({
    name: wireName,
    type: fc.integer({ min: 0, max: 65535 }),
    class: fc.integer({ min: 0, max: 65535 }),
    ttl: fc.integer({ min: 0, max: 0xffffffff }),
    data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  });
  const message = fc.record({
    id: fc.integer({ min: 0, max: 65535 }),
    flags: fc.integer({ min: 0, max: 65535 }),
    questions: fc.array(
      fc.record({ name: wireName, type: fc.integer({ min: 0, max: 65535 }), class: fc.integer({ min: 0, max: 65535 }) }),
      { maxLength: 2 },
    ),
    answers: fc.array(record, { maxLength: 4 }),
    authority: fc.array(record, { maxLength: 2 }),
    additional: fc.array(record, { maxLength: 2 }),
  });

  test('a built message parses back to the same content', () => {
    fc.assert(
      fc.property(message, (m) => {
        const back = parseMessage(buildMessage(m), true);
        assert.equal(back.id, m.id);
        assert.equal(back.flags, m.flags);
        assert.deepEqual(
          back.questions.map((q) => [q.name, q.type, q.class]),
          m.questions.map((q) => [q.name, q.type, q.class]),
        );
        for (const section of ['answers', 'authority', 'additional'] as const) {
          assert.deepEqual(
            back[section].map((r) => [r.name, r.type, r.class, r.ttl, Buffer.from(r.data)]),
            m[section].map((r) => [r.name, r.type, r.class, r.ttl, r.data]),
          );
        }
      }),
    );
  });

  test('truncated or looping messages are a protocol error, never a crash', () => {
    const good = buildMessage({
      id: 1,
      flags: 0,
      questions: [{ name: nameFromDot('a.b'), type: 1, class: 1 }],
      answers: [{ name: nameFromDot('a.b'), type: 1, data: Buffer.from([1, 2, 3, 4]) }],
    });
    for (let cut = 0; cut < good.length; cut++) {
      assert.throws(
        () => parseMessage(good.subarray(0, cut)),
        (e: unknown) => e instanceof DnsError && e.code === 'EPROTO',
      );
    }
    const loop = Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    assert.throws(
      () => parseMessage(loop),
      (e: unknown) => e instanceof DnsError && e.code === 'EPROTO',
    );
  });
});

describe('names', () => {
  test('dotted text to wire form: empty labels skipped, escapes understood', () => {
    assert.deepEqual(nameFromDot('a.bc'), Buffer.from([1, 97, 2, 98, 99, 0]));
    assert.deepEqual(nameFromDot('a..bc.'), Buffer.from([1, 97, 2, 98, 99, 0]));
    assert.deepEqual(nameFromDot(''), Buffer.from([0]));
    assert.deepEqual(nameFromDot('.'), Buffer.from([0]));
    assert.deepEqual(nameFromDot('a\\.b'), Buffer.from([3, 97, 46, 98, 0]));
    assert.deepEqual(nameFromDot('\\101\\0619'), Buffer.from([3, 65, 49, 57, 0]));
  });

  test('a 63-byte label is fine, 64 bytes is a protocol error (as 0.88: "protocol error")', () => {
    assert.equal(nameFromDot('x'.repeat(63)).length, 65);
    assert.throws(
      () => nameFromDot('thislabelistoolongbecausednshasalimitof63charactersinasinglelabel.'),
      (e: unknown) => e instanceof DnsError && errorText(e) === 'protocol error',
    );
    assert.throws(
      () => nameFromDot(Array(130).fill('ab').join('.')),
      (e: unknown) => (e as DnsError).code === 'EPROTO',
    );
  });

  test('wire form to text as djb prints it: lowercase, \\ooo escapes, no trailing dot, root "."', () => {
    assert.equal(nameToDot(nameFromDot('WWW.Example.COM.')), 'www.example.com');
    assert.equal(nameToDot(Buffer.from([3, 0x20, 0x41, 0xff, 2, 0x5f, 0x2d, 0])), '\\040a\\377._-');
    assert.equal(nameToDot(nameFromDot('a\\.b')), 'a\\056b');
    assert.equal(nameToDot(Buffer.from([0])), '.');
  });

  test('text → wire → text is stable for any bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 63 }), { maxLength: 3 }), (labels) => {
        const wire = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), l])), Buffer.from([0])]);
        const text = nameToDot(wire);
        assert.equal(nameToDot(nameFromDot(text === '.' ? '' : text)), text);
      }),
    );
  });
});

describe('configuration', () => {
  test('DNSCACHEIP: addresses one after another joined by dots, up to 16; IPv6 too', () => {
    assert.deepEqual(parseDnsCacheIp('127.0.0.1').servers, [{ address: '127.0.0.1', family: 4 }]);
    assert.deepEqual(
      parseDnsCacheIp('10.0.0.1.10.0.0.2').servers.map((s) => s.address),
      ['10.0.0.1', '10.0.0.2'],
    );
    assert.deepEqual(
      parseDnsCacheIp('10.0.0.1 10.0.0.2').servers.map((s) => s.address),
      ['10.0.0.1'],
    );
    assert.deepEqual(parseDnsCacheIp('::1').servers, [{ address: '::1', family: 6 }]);
    assert.equal(parseDnsCacheIp(Array(20).fill('1.2.3.4').join('.')).servers.length, 16);
    assert.deepEqual(parseDnsCacheIp('0.0.0.0'), { servers: [], count: 1 });
    assert.deepEqual(parseDnsCacheIp('bogus'), { servers: [], count: 0 });
    assert.deepEqual(
      parseDnsCacheIp('300.1.1.1').servers.map((s) => s.address),
      ['44.1.1.1'],
    );
  });

  test('resolv.conf nameserver lines (0.0.0.0 means 127.0.0.1)', () => {
    const text = 'search x.test\nnameserver 10.1.1.1\nnameserver\t 0.0.0.0\n nameserver 9.9.9.9\nnameserver ::1\nnameservers 8.8.8.8\n';
    assert.deepEqual(
      parseResolvConfServers(text).map((s) => s.address),
      ['10.1.1.1', '127.0.0.1', '::1'],
    );
  });

  test('qualification: short names get each search domain in turn, one trailing dot goes', () => {
    const rules = ['?:+.a.test+.b.test', '*.:'];
    assert.deepEqual(qualifyCandidates('www', rules), ['www.a.test', 'www.b.test']);
    assert.deepEqual(qualifyCandidates('www.c.test', rules), ['www.c.test']);
    assert.deepEqual(qualifyCandidates('nonexistent.local.', rules), ['nonexistent.local']);
    assert.deepEqual(qualifyCandidates('[127]', rules), ['[127]']);
    assert.deepEqual(qualifyCandidates('fe80::1', ['?:+.a.test', '*.:'], ':'), ['fe80::1']);
    assert.deepEqual(qualifyCandidates('WWW', ['=www:www.example.', '*.:']), ['www.example']);
    assert.deepEqual(qualifyCandidates('x', ['*.:']), ['x']);
  });
});

describe('numeric host operands never reach DNS (§1.5 quirks)', () => {
  const cases: Array<[string, string[]]> = [
    ['127.000.000.001', ['127.0.0.1']],
    ['[127.0.0.1]', ['127.0.0.1']],
    ['[127.000.000.001]', ['127.0.0.1']],
    ['127.1', []],
    ['1.2.3.4.5', ['1.2.3.4']],
    ['1.2.3.4.5.6.7.8', ['1.2.3.4', '5.6.7.8']],
    ['300.1.1.1', ['44.1.1.1']],
    ['1..2.3', ['1.0.2.3']],
    ['', []],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => {
      assert.deepEqual(
        numericIp4s(input)!.map((b) => [...b].join('.')),
        want,
      );
    });
  }
  test('anything else is a name', () => {
    assert.equal(numericIp4s('1.2.3.x'), null);
    assert.equal(numericIp4s('localhost'), null);
  });
});

describe('IPv6 text', () => {
  test('ip6_fmt (§11.4)', () => {
    const f = (s: string): string => formatIp6(parseIp6(s)!);
    assert.equal(f('1:0:2:3:4:5:6:7'), '1::2:3:4:5:6:7');
    assert.equal(f('1:0:0:1:0:0:0:1'), '1:0:0:1::1');
    assert.equal(f('1:0:0:1:0:0:1:1'), '1::1:0:0:1:1');
    assert.equal(f('::ffff:127.0.0.1'), '::ffff:127.0.0.1');
    assert.equal(f('::ffff:0:0'), '::ffff:0.0.0.0');
    assert.equal(f('::1.2.3.4'), '::102:304');
    assert.equal(f('::'), '::');
    assert.equal(f('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(f('2001:DB8::A'), '2001:db8::a');
    assert.equal(f('1.2.3.4'), '::ffff:1.2.3.4');
  });
  test('the scanner stops at the first byte it cannot use', () => {
    assert.equal(scanIp6('fe80::1%eth0')!.length, 7);
    assert.equal(scanIp6('::1.::2')!.length, 3);
    assert.equal(scanIp6('1:2'), null);
  });
  test('ip6.arpa names are nibbles, least significant first', () => {
    assert.equal(reverseName6(parseIp6('2001:db8::1')!), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  });
});

describe('lookups against a test server', () => {
  let dns: DnsTestServer;
  const saved = { ...process.env };
  const savedTimings = { ...timings };
  before(async () => {
    dns = await DnsTestServer.start({
      'multi.test': { A: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], AAAA: ['2001:db8::1'] },
      'www.b.test': { A: ['10.9.9.9'] },
      'txt.test': { TXT: [['one ', 'two'], 'three\x00\xff'] },
      'cname.test': { CNAME: 'multi.test', A: ['10.1.1.1'] },
      'nodata.test': { TXT: ['only text'] },
      '4.3.2.1.in-addr.arpa': { PTR: ['Mixed.Case.Example.', 'second.example'] },
      '5.3.2.1.in-addr.arpa': { PTR: ['has space.example'] },
      '6.3.2.1.in-addr.arpa': { TXT: ['no ptr here'] },
      [reverseName6(parseIp6('2001:db8::1')!)]: { PTR: ['six.example'] },
      'servfail.test': 'servfail',
      'refused.test': { rcode: 5 },
      'silent.test': 'timeout',
      'big.test': { truncated: { A: ['10.7.7.7'], TXT: ['over tcp'] } },
      'spoofed.test': { spoofFirst: { A: ['10.8.8.8'] } },
    });
    process.env.DNSCACHEIP = dns.address;
    delete process.env.LOCALDOMAIN;
    process.env.DNSREWRITEFILE = '/nonexistent/dnsrewrite';
    timings.udpTimeoutsMs = [200, 300];
    timings.tcpTimeoutMs = 500;
  });
  after(async () => {
    process.env = saved;
    Object.assign(timings, savedTimings);
    await dns.close();
  });

  const rejectsWith = async (p: Promise<unknown>, code: string, text: string): Promise<void> => {
    await assert.rejects(p, (e: unknown) => e instanceof DnsError && e.code === code && errorText(e) === text);
  };

  test('all A records of the answer, in some order', async () => {
    const got = await ip4ForName('multi.test');
    assert.deepEqual([...got].sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  });

  test('answers are shuffled', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 30 && orders.size < 2; i++) orders.add((await ip4ForName('multi.test')).join(','));
    assert.ok(orders.size >= 2, 'thirty lookups all gave the same order');
  });

  test('a CNAME in the answer is passed over, A records kept', async () => {
    assert.deepEqual(await ip4ForName('cname.test'), ['10.1.1.1']);
  });

  test('NXDOMAIN and no-data are an empty answer, not an error', async () => {
    assert.deepEqual(await ip4ForName('nonexistent.test'), []);
    assert.deepEqual(await ip4ForName('nodata.test'), []);
    assert.deepEqual(await ip4ForHostOperand('nonexistent.local.'), []);
    assert.deepEqual(
      dns.queriesFor('nonexistent.local').map((q) => q.name),
      ['nonexistent.local'],
    );
  });

  test('numeric host operands are not sent to the server', async () => {
    const before = dns.queries.length;
    assert.deepEqual(await ip4ForHostOperand('127.000.000.001'), ['127.0.0.1']);
    assert.deepEqual(await ip4ForHostOperand('[127.0.0.1]'), ['127.0.0.1']);
    assert.deepEqual(await ip4ForHostOperand('127.1'), []);
    assert.deepEqual(await ip4ForHostOperand('1.2.3.4.5'), ['1.2.3.4']);
    assert.deepEqual(await ip4ForName('10.1.2.3'), ['10.1.2.3']);
    assert.equal(dns.queries.length, before);
  });

  test('a label over 63 bytes: protocol error, nothing sent', async () => {
    const before = dns.queries.length;
    await rejectsWith(ip4ForHostOperand('thislabelistoolongbecausednshasalimitof63charactersinasinglelabel.'), 'EPROTO', 'protocol error');
    assert.equal(dns.queries.length, before);
  });

  test('SERVFAIL and REFUSED: temporary failure', async () => {
    await rejectsWith(ip4ForName('servfail.test'), 'EAGAIN', 'temporary failure');
    await rejectsWith(txtForName('refused.test'), 'EAGAIN', 'temporary failure');
    await rejectsWith(
      nameForIp('1.2.3.4').then(() => ip4ForHostOperand('servfail.test')),
      'EAGAIN',
      'temporary failure',
    );
  });

  test('a server that never answers: timed out, after one try per round', async () => {
    const before = dns.queriesFor('silent.test').length;
    await rejectsWith(ip4ForName('silent.test'), 'ETIMEDOUT', 'timed out');
    assert.equal(dns.queriesFor('silent.test').length - before, timings.udpTimeoutsMs.length);
  });

  test('nobody listening: connection refused', async () => {
    process.env.DNSCACHEIP = randomLoopbackIp();
    try {
      await rejectsWith(ip4ForName('multi.test'), 'ECONNREFUSED', 'connection refused');
    } finally {
      process.env.DNSCACHEIP = dns.address;
    }
  });

  test('several servers: a dead one is passed over', async () => {
    process.env.DNSCACHEIP = `${randomLoopbackIp()}.${dns.address}`;
    try {
      assert.deepEqual(await ip4ForName('www.b.test'), ['10.9.9.9']);
    } finally {
      process.env.DNSCACHEIP = dns.address;
    }
  });

  test('a truncated UDP answer is asked again over TCP', async () => {
    assert.deepEqual(await ip4ForName('big.test'), ['10.7.7.7']);
    assert.equal(await txtForName('big.test'), 'over tcp');
    assert.deepEqual(
      dns.queriesFor('big.test').map((q) => `${q.type}/${q.transport}`),
      [`${TYPE_A}/udp`, `${TYPE_A}/tcp`, `${TYPE_TXT}/udp`, `${TYPE_TXT}/tcp`],
    );
  });

  test('a reply with the wrong id is ignored', async () => {
    assert.deepEqual(await ip4ForName('spoofed.test'), ['10.8.8.8']);
  });

  test('TXT: every string of every record concatenated, raw bytes', async () => {
    assert.equal(await txtForName('txt.test'), 'one twothree\x00\xff');
    assert.equal(await txtForName('nonexistent.test'), '');
    assert.equal(await txtForName('multi.test'), '');
  });

  test('PTR: first name, djb formatting; no name is null', async () => {
    assert.equal(await nameForIp('1.2.3.4'), 'mixed.case.example');
    assert.equal(await nameForIp('1.2.3.5'), 'has\\040space.example');
    assert.equal(await nameForIp('1.2.3.6'), null);
    assert.equal(await nameForIp('1.2.3.7'), null);
    assert.equal(await nameForIp('2001:db8::1'), 'six.example');
    assert.equal(await nameForIp('::ffff:1.2.3.4'), 'mixed.case.example');
  });

  test('host operand qualification with LOCALDOMAIN: first domain with an address wins', async () => {
    process.env.LOCALDOMAIN = 'a.test b.test';
    try {
      assert.deepEqual(await ip4ForHostOperand('www'), ['10.9.9.9']);
      assert.deepEqual(
        dns.queries.slice(-2).map((q) => q.name),
        ['www.a.test', 'www.b.test'],
      );
      assert.deepEqual(await ip4ForName('www'), []);
      assert.equal(dns.queries[dns.queries.length - 1].name, 'www');
      process.env.LOCALDOMAIN = 'servfail.test b.test';
      dns.set('www.servfail.test', 'servfail');
      await rejectsWith(ip4ForHostOperand('www'), 'EAGAIN', 'temporary failure');
    } finally {
      delete process.env.LOCALDOMAIN;
    }
  });

  test('DNSREWRITEFILE rules take precedence over LOCALDOMAIN', async () => {
    const file = join(tempDir('dns-'), 'dnsrewrite');
    writeFileSync(file, '?:+.nowhere.test+.b.test  \n*.:\n');
    process.env.DNSREWRITEFILE = file;
    process.env.LOCALDOMAIN = 'a.test';
    try {
      assert.deepEqual(await ip4ForHostOperand('www'), ['10.9.9.9']);
      assert.deepEqual(
        dns.queries.slice(-2).map((q) => q.name),
        ['www.nowhere.test', 'www.b.test'],
      );
    } finally {
      process.env.DNSREWRITEFILE = '/nonexistent/dnsrewrite';
      delete process.env.LOCALDOMAIN;
    }
  });

  test('IPv6: AAAA then A as v4-mapped; literals need no DNS', async () => {
    const got = await ip6ForName('multi.test');
    assert.equal(got[0], '2001:db8::1');
    assert.deepEqual(got.slice(1).sort(), ['::ffff:10.0.0.1', '::ffff:10.0.0.2', '::ffff:10.0.0.3']);
    const before = dns.queries.length;
    assert.deepEqual(await ip6ForHostOperand('2001:DB8::5'), ['2001:db8::5']);
    assert.deepEqual(await ip6ForHostOperand('127.000.000.001'), ['::ffff:127.0.0.1']);
    assert.equal(dns.queries.length, before);
    assert.deepEqual(await ip6ForName('www.b.test'), ['::ffff:10.9.9.9']);
  });

  test('many lookups at once all get their own answers', async () => {
    const names = Array.from({ length: 60 }, (_, i) => i);
    for (const i of names) dns.set(`n${i}.many.test`, { A: [`10.3.0.${i}`] });
    const got = await Promise.all(names.map((i) => ip4ForName(`n${i}.many.test`)));
    assert.deepEqual(
      got,
      names.map((i) => [`10.3.0.${i}`]),
    );
  });

  test('differential: C tcpclient sees the same PTR name (TCPREMOTEHOST) as nameForIp', { skip: needC('tcpclient') }, async () => {
    const listenIp = randomLoopbackIp();
    const octets = listenIp.split('.').reverse().join('.');
    dns.set(`${octets}.in-addr.arpa`, { PTR: ['Odd Name\\255.Example.'] });
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, listenIp, () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const c = await run(cBinary('tcpclient')!, ['-RT2', listenIp, String(port), 'sh', '-c', 'printf %s "$TCPREMOTEHOST"'], {
        env: dns.env(),
      });
      assert.equal(c.stdout.toString('latin1'), await nameForIp(listenIp));
      assert.equal(c.stdout.toString('latin1'), 'odd\\040name\\255.example');
    } finally {
      server.close();
    }
  });
});

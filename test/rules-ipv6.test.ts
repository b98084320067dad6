// IPv6 and CIDR rules: Debian's ucspi-tcp-ipv6 address split, fehcom's ucspi-tcp6 CIDR and exact
// IPv6 keys, the lookup order over all of them, and CIDR matching against Node's net.BlockList.
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { BlockList, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { CdbReader } from '../src/cdb/reader';
import { makeCdb } from '../src/cdb/writer';
import { describeRule } from '../src/cmd/tcprulescheck';
import { formatIp4, formatIp6, parseIp6 } from '../src/dns/address';
import { cidrKey, cidrNetwork, expandedIp6 } from '../src/rules/cidr';
import { candidateKeys, lookupKeys, lookupRules, RuleQuery } from '../src/rules/lookup';
import { parseRules, parseRulesLine, RuleSyntaxError } from '../src/rules/parse';
import { ours, runSync } from './support/programs';
import { tempDir } from './support/tmp';

const SEED = process.env.UCSPI_SEED ? Number(process.env.UCSPI_SEED) : 606060;
const params = (numRuns: number) => ({ seed: SEED, numRuns });

function records(line: string): Array<[string, string]> {
  return parseRulesLine(line).map((r) => [r.key, r.data]);
}

function rejects(line: string): void {
  assert.throws(() => parseRulesLine(line), RuleSyntaxError, JSON.stringify(line));
}

function cdbOf(text: string): Buffer {
  return makeCdb(parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const));
}

function cdbOfKeys(pairs: Array<[string, string]>): Buffer {
  return makeCdb(pairs.map(([k, d]) => [Buffer.from(k, 'latin1'), Buffer.from(d, 'latin1')] as const));
}

test('tcprules v6: the address ends at the first ":" followed by deny or allow (Debian, spec §11.3)', () => {
  assert.deepEqual(records('::1:allow'), [['::1', '']]);
  assert.deepEqual(records('2001:db8::allow'), [['2001:db8:', '']]); // a prefix, as in Debian
  assert.deepEqual(records('2001:db8:::allow'), [['2001:db8::', '']]);
  assert.deepEqual(records('::ffff:127.0.0.2:deny'), [['::ffff:127.0.0.2', 'D\0']]);
  assert.deepEqual(records('::allow'), [[':', '']]);
  assert.deepEqual(records('a:b:allow'), [['a:b', '']]);
  assert.deepEqual(records('a:Deny:allow'), [['a:Deny', '']]);
  assert.deepEqual(records('x:allo:allow'), [['x:allo', '']]);
  assert.deepEqual(records('a:b:c:deny,X=/:allow/'), [['a:b:c', 'D\0+X=:allow\0']]);
  assert.deepEqual(records('x:allow,A=":deny"'), [['x', '+A=:deny\0']]);
  assert.deepEqual(records('joe@2001:db8::1:allow'), [['joe@2001:db8::1', '']]); // as written, as Debian
  // ranges still work on dots only
  assert.deepEqual(records('::ffff:1.2.3.1-2:allow'), [
    ['::ffff:1.2.3.1', ''],
    ['::ffff:1.2.3.2', ''],
  ]);
  rejects('fe80::1-3:allow');
  // the first ':' followed by a keyword decides, even when what follows is junk (as Debian)
  rejects('x:denyy:allow');
  rejects('x:foo,A=":deny"');
});

test('tcprules v6: lines Debian loops forever on are skipped or rejected as in 0.88', () => {
  for (const line of ['foo', '   ', '\r', '2001', 'deny']) assert.deepEqual(records(line), [], JSON.stringify(line));
  for (const line of ['1.2.3.4:foo', '::1', '2001:db8::1', 'x:', ':::']) rejects(line);
});

test('CIDR keys are fehcom ucspi-tcp6 1.11 bytes (ip4_bit.c, ip6_bit.c)', () => {
  // 10 = 00001010: bit k set -> "abcdefghijklmnopqrstuvwxyz123456"[k]
  assert.equal(cidrKey('10.0.0.0/8'), '_0000e0g0');
  assert.equal(cidrKey('127./8'), '_0bcdefgh');
  assert.equal(cidrKey('127.0.0.1/32'), '_0bcdefgh00000000000000000000000' + '6');
  assert.equal(cidrKey('255.255.255.255/32'), '_abcdefghijklmnopqrstuvwxyz123456');
  assert.equal(cidrKey('192.168./16'), cidrKey('192.168.0.0/16'));
  assert.equal(cidrKey('10.1.2.3/8'), cidrKey('10.0.0.0/8')); // host bits are dropped
  assert.equal(cidrKey('0.0.0.0/1'), '_0');
  // IPv6: the n-th 1 bit is the byte 0x60 + n
  // 2001 = 0010 0000 0000 0001, 0db8 = 0000 1101 1011 1000
  assert.equal(cidrKey('2001:db8::/32'), '^00`000000000000a' + '0000bc0de0fgh000');
  assert.equal(cidrKey('2001:DB8:0:0:0:0:0:0/32'), cidrKey('2001:db8::/32'));
  assert.equal(cidrKey('::1/128'), '^' + '0'.repeat(127) + '`');
  const all = cidrKey('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128')!;
  assert.equal(all.length, 129);
  assert.equal(all.charCodeAt(128), 0x60 + 127);
  assert.equal(cidrKey('::ffff:10.0.0.0/104'), '^' + '0'.repeat(80) + '`abcdefghijklmno' + '0000p0q0');
});

test('not CIDR: keys stay as 0.88 and Debian write them', () => {
  for (const a of [
    '10.0.0.0/0',
    '10.0.0.0/33',
    '10.0.0.0/8x',
    '10.0.0/8',
    '10/8',
    '6/3',
    '1.2.3.4./8',
    '256.0.0.0/8',
    '10.0.0.0/',
    '/8',
    '10.0.0.0/8/8',
    '2001:db8::/129',
    '2001:db8::/0',
    'fe80::1%eth0/64',
    '2001:db8::x/32',
    'x/8',
    '1.2.3.4 /8',
  ]) {
    assert.equal(cidrKey(a), null, a);
  }
  assert.deepEqual(records('10.0.0.0/33:allow'), [['10.0.0.0/33', '']]);
  assert.deepEqual(records('2001:db8::/129:allow'), [['2001:db8::/129', '']]);
  assert.deepEqual(records('joe@10.0.0.0/8:allow'), [['joe@10.0.0.0/8', '']]); // '@': never CIDR (fehcom too)
  assert.deepEqual(records('=a/8:allow'), [['=a/8', '']]);
  // a range with a slash is still a range (here one whose top is not a number: a parse error in 0.88)
  assert.deepEqual(records('10.0.1-2./8:allow'), [
    ['10.0.1./8', ''],
    ['10.0.2./8', ''],
  ]);
  rejects('10.0.0.1-2/8:allow');
  assert.deepEqual(records('10.0.0.0/8:deny,A=/1/'), [['_0000e0g0', 'D\0+A=1\0']]);
});

test('CIDR keys read back as the network tcprulescheck shows', () => {
  assert.equal(cidrNetwork(cidrKey('10.1.2.3/8')!), '10.0.0.0/8');
  assert.equal(cidrNetwork(cidrKey('127./8')!), '127.0.0.0/8');
  assert.equal(cidrNetwork(cidrKey('2001:db8:ffff::/32')!), '2001:db8::/32');
  assert.equal(cidrNetwork(cidrKey('::ffff:10.0.0.0/104')!), '::ffff:10.0.0.0/104');
});

test('lookup order: 0.88, then Debian prefixes, fehcom expanded keys and CIDR longest first', () => {
  const q: RuleQuery = { ip: '2001:db8::5', host: 'a.b', info: 'joe' };
  const exp = '2001:0DB8:0000:0000:0000:0000:0000:0005';
  const keys = [...lookupKeys(q)];
  assert.deepEqual(keys.slice(0, 10), [
    'joe@2001:db8::5',
    `joe@${exp}`,
    'joe@=a.b',
    '2001:db8::5',
    exp,
    '=a.b',
    '2001:db8::',
    '2001:db8:',
    '2001:',
    cidrKey('2001:db8::5/128'),
  ]);
  assert.equal(keys.length, 10 + 126 + 3);
  assert.equal(keys[10 + 125], cidrKey('2001:db8::5/2'));
  assert.deepEqual(keys.slice(-3), ['=.b', '=', '']);
  // IPv4: the 0.88 order with /32 .. /2 between the prefixes and the host suffixes
  const v4 = [...lookupKeys({ ip: '1.2.3.4', host: null, info: null })];
  assert.deepEqual(v4.slice(0, 4), ['1.2.3.4', '1.2.3.', '1.2.', '1.']);
  assert.equal(v4.length, 4 + 31 + 1);
  assert.deepEqual(
    v4.slice(4, 35),
    Array.from({ length: 31 }, (_, i) => cidrKey(`1.2.3.4/${32 - i}`)),
  );
  // no CIDR probe for an ip that does not parse; candidateKeys is the 0.88/Debian part only
  assert.deepEqual([...lookupKeys({ ip: '1:2', host: null, info: null })], ['1:2', '1:', '']);
  assert.deepEqual([...lookupKeys({ ip: '1.2.3', host: null, info: null })], ['1.2.3', '1.2.', '1.', '']);
  assert.deepEqual(
    [...candidateKeys(q)],
    ['joe@2001:db8::5', 'joe@=a.b', '2001:db8::5', '=a.b', '2001:db8::', '2001:db8:', '2001:', '=.b', '=', ''],
  );
  assert.equal(expandedIp6(parseIp6('::ffff:1.2.3.4')!), '0000:0000:0000:0000:0000:FFFF:0102:0304');
});

test('lookup: each level beats the next one, over the whole order', () => {
  // one rule per step, removed one by one from the top: the next step must then win
  const exp = expandedIp6(parseIp6('2001:db8::5')!);
  const steps: Array<[string, string]> = [
    ['joe@2001:db8::5', 'info@ip'],
    [`joe@${exp}`, 'info@expanded'],
    ['joe@=a.b', 'info@=host'],
    ['2001:db8::5', 'ip'],
    [exp, 'expanded'],
    ['=a.b', '=host'],
    ['2001:db8::', 'prefix ::'],
    ['2001:db8:', 'prefix :'],
    [cidrKey('2001:db8::/64')!, '/64'],
    [cidrKey('2001:db8::/32')!, '/32'],
    [cidrKey('2001:db8::/2')!, '/2'],
    ['=.b', '=.suffix'],
    ['=', '='],
    ['', 'empty'],
  ];
  const q: RuleQuery = { ip: '2001:db8::5', host: 'a.b', info: 'joe' };
  for (let i = 0; i < steps.length; i++) {
    const reader = CdbReader.fromBuffer(
      cdbOfKeys(
        steps
          .slice(i)
          .reverse()
          .map(([k, name]) => [k, `+S=${name}\0`]),
      ),
    );
    const m = lookupRules(reader, q);
    assert.equal(m?.data.toString('latin1'), `+S=${steps[i][1]}\0`);
  }
  // /1 compiles but is never tried (fehcom's loop ends at /2)
  const reader = CdbReader.fromBuffer(cdbOf('::/1:deny\n0.0.0.0/1:deny\n'));
  assert.equal(lookupRules(reader, { ip: '::1', host: null, info: null }), null);
  assert.equal(lookupRules(reader, { ip: '1.2.3.4', host: null, info: null }), null);
});

test('lookup: a cdb in fehcom ucspi-tcp6 form (expanded exact IPv6, info@expanded, CIDR) works', () => {
  // keys as fehcom's tcprules writes them for: 2001:db8::1:deny, joe@2001:db8::2:allow,
  // 10.0.0.0/8:allow, 2001:db8::/48:allow
  const reader = CdbReader.fromBuffer(
    cdbOfKeys([
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', 'D\0'],
      ['joe@2001:0DB8:0000:0000:0000:0000:0000:0002', '+WHO=joe\0'],
      ['_0000e0g0', '+NET=10\0'],
      [cidrKey('2001:db8::/48')!, '+NET=db8\0'],
    ]),
  );
  const find = (ip: string, info: string | null = null) => {
    const m = lookupRules(reader, { ip, host: null, info });
    return m && describeRule(m.network ?? m.key, m.data);
  };
  assert.equal(find('2001:db8::1'), 'rule 2001:0DB8:0000:0000:0000:0000:0000:0001:\ndeny connection\n');
  assert.equal(
    find('2001:db8::2', 'joe'),
    'rule joe@2001:0DB8:0000:0000:0000:0000:0000:0002:\nset environment variable WHO=joe\nallow connection\n',
  );
  assert.equal(find('2001:db8::2'), 'rule 2001:db8::/48:\nset environment variable NET=db8\nallow connection\n');
  assert.equal(find('10.200.1.1'), 'rule 10.0.0.0/8:\nset environment variable NET=10\nallow connection\n');
  assert.equal(find('11.0.0.1'), null);
  assert.equal(find('2001:db8:1::1'), null);
  // IPv4 and v4-mapped rules never match each other (fehcom)
  assert.equal(find('::ffff:10.0.0.1'), null);
});

/** Random address bytes near a few bases, so that networks and addresses meet. */
function addressArb(family: 4 | 6): fc.Arbitrary<Uint8Array> {
  const n = family === 4 ? 4 : 16;
  const bases =
    family === 4
      ? [
          [10, 0, 0, 0],
          [192, 168, 1, 0],
          [127, 0, 0, 1],
        ]
      : [parseIp6('2001:db8::')!, parseIp6('fe80::')!, parseIp6('::ffff:10.0.0.0')!];
  return fc
    .tuple(fc.constantFrom(...bases), fc.uint8Array({ minLength: n, maxLength: n }), fc.integer({ min: 0, max: n * 8 }))
    .map(([base, noise, keep]) => {
      const b = Uint8Array.from(base);
      // keep the base's first `keep` bits, random after them
      for (let k = keep; k < n * 8; k++) {
        const bit = (noise[k >> 3] >> (7 - (k & 7))) & 1;
        b[k >> 3] = (b[k >> 3] & ~(0x80 >> (k & 7))) | (bit << (7 - (k & 7)));
      }
      return b;
    });
}

function zeroHostBits(b: Uint8Array, bits: number): Buffer {
  const out = Buffer.from(b);
  for (let k = bits; k < out.length * 8; k++) out[k >> 3] &= ~(0x80 >> (k & 7));
  return out;
}

/** Written forms of a network: dotted (or short with a trailing dot) IPv4; compact, uppercase or full IPv6. */
function writeNetwork(b: Buffer, form: number): string {
  if (b.length === 4) {
    let used = 4;
    while (used > 1 && b[used - 1] === 0) used--;
    return form % 2 === 0 || used === 4 ? formatIp4(b) : `${[...b.subarray(0, used)].join('.')}.`;
  }
  if (form % 3 === 1) return formatIp6(b).toUpperCase();
  if (form % 3 === 2) return expandedIp6(b).toLowerCase();
  return formatIp6(b);
}

for (const family of [4, 6] as const) {
  test(`CIDR property (IPv${family}): the longest matching prefix wins, as net.BlockList decides membership`, () => {
    const bits = family === 4 ? 32 : 128;
    const rule = fc.tuple(addressArb(family), fc.integer({ min: 1, max: bits }), fc.nat(5));
    fc.assert(
      fc.property(
        fc.array(rule, { minLength: 1, maxLength: 12 }),
        fc.array(addressArb(family), { minLength: 1, maxLength: 20 }),
        (rules, clients) => {
          const lines: string[] = [];
          const nets: Array<{ list: BlockList; prefix: number; index: number }> = [];
          const any = new BlockList();
          rules.forEach(([addr, prefix, form], index) => {
            const net = zeroHostBits(addr, prefix);
            lines.push(`${writeNetwork(net, form)}/${prefix}:allow,N=/${index}/`);
            const list = new BlockList();
            const text = family === 4 ? formatIp4(net) : formatIp6(net);
            list.addSubnet(text, prefix, family === 4 ? 'ipv4' : 'ipv6');
            if (prefix >= 2) any.addSubnet(text, prefix, family === 4 ? 'ipv4' : 'ipv6');
            nets.push({ list, prefix, index });
          });
          lines.push(':allow,N=/default/');
          const reader = CdbReader.fromBuffer(cdbOf(lines.join('\n') + '\n'));
          for (const c of clients) {
            const ip = family === 4 ? formatIp4(Buffer.from(c)) : formatIp6(Buffer.from(c));
            const type = family === 4 ? 'ipv4' : 'ipv6';
            let best: { prefix: number; index: number } | null = null;
            for (const n of nets) if (n.prefix >= 2 && n.list.check(ip, type) && (best === null || n.prefix > best.prefix)) best = n;
            const m = lookupRules(reader, { ip, host: null, info: null });
            assert.ok(m, ip);
            assert.equal(m.data.toString('latin1'), `+N=${best ? best.index : 'default'}\0`, `${ip} in ${lines.join(' ')}`);
            assert.equal(m.network !== null, any.check(ip, type), ip);
            if (best)
              assert.equal(
                m.network,
                `${family === 4 ? formatIp4(zeroHostBits(c, best.prefix)) : formatIp6(zeroHostBits(c, best.prefix))}/${best.prefix}`,
              );
          }
        },
      ),
      params(family === 4 ? 300 : 200),
    );
  });
}

test('IPv6 text: formatIp6 round-trips through Node, and Node agrees on what it means', () => {
  fc.assert(
    fc.property(addressArb(6), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (near, rand, pick) => {
      const b = Buffer.from(pick ? near : rand);
      const text = formatIp6(b);
      assert.ok(isIPv6(text), text);
      assert.deepEqual(parseIp6(text), b);
      // Node's URL parser normalises IPv6 (RFC 5952); ours is ip6_fmt: same bytes, same text except
      // that ip6_fmt writes v4-mapped tails dotted and also shortens a single zero group
      const node = new URL(`http://[${text}]/`).hostname.slice(1, -1);
      assert.deepEqual(parseIp6(node), b);
      if (!text.includes('.') && !/(^|:)0:/.test(node)) assert.equal(text, node);
    }),
    params(500),
  );
});

test('bin/tcprules and bin/tcprulescheck: IPv6 and CIDR rules end to end', () => {
  const dir = tempDir();
  const cdb = join(dir, 'rules.cdb');
  const text =
    '::1:allow,A="lo"\n2001:db8::allow,A="doc"\n10.0.0.0/8:deny\n127./8:allow,A="v4lo"\n2001:db8::/16:deny\n:allow,A="other"\nfoo\n';
  let r = runSync(ours('tcprules'), [cdb, join(dir, 'rules.tmp')], { input: text });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(
    runSync(ours('tcprules'), [join(dir, 'x.cdb'), join(dir, 'x.tmp')], { input: 'x:\n' }).stderr.toString(),
    'tcprules: fatal: unable to parse this line: x:\n',
  );
  const check = (ip: string) => runSync(ours('tcprulescheck'), [cdb], { env: { TCPREMOTEIP: ip } }).stdout.toString();
  assert.equal(check('::1'), 'rule ::1:\nset environment variable A=lo\nallow connection\n');
  assert.equal(check('2001:db8::7'), 'rule 2001:db8::\nset environment variable A=doc\nallow connection\n');
  assert.equal(check('2001:db9::7'), 'rule 2001::/16:\ndeny connection\n');
  assert.equal(check('10.9.8.7'), 'rule 10.0.0.0/8:\ndeny connection\n');
  assert.equal(check('127.0.0.2'), 'rule 127.0.0.0/8:\nset environment variable A=v4lo\nallow connection\n');
  assert.equal(check('11.0.0.1'), 'rule :\nset environment variable A=other\nallow connection\n');
  writeFileSync(cdb, cdbOf('2001:db8::5:deny\n'));
  r = runSync(ours('tcprulescheck'), [cdb], { env: { TCPREMOTEIP: '2001:db8::5' } });
  assert.equal(r.stdout.toString(), 'rule 2001:db8::5:\ndeny connection\n');
});

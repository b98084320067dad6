// Lookup order (spec §4.4, rts test 40) and tcprulescheck's report format (§4.5).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeCdb } from '../src/cdb/writer';
import { CdbReader } from '../src/cdb/reader';
import { describeRule } from '../src/cmd/tcprulescheck';
import { candidateKeys, interpretRuleData, lookupRules, ruleEntries } from '../src/rules/lookup';
import { parseRules } from '../src/rules/parse';
import { cBinary, needC, ours, runSync } from './support/programs';
import { tempDir } from './support/tmp';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function cdbOf(text: string): Buffer {
  return makeCdb(parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const));
}

// rts test 40: eleven rules, one per level of the lookup order
const PRECEDENCE_RULES = `xyz@86.75.30.9:allow,which=/first/
xyz@=one.two.three:allow,which=/second/
86.75.30.9:allow,which=/third/
=one.two.three:allow,which=/fourth/
86.75.30.:allow,which=/fifth/
86.75.:allow,which=/sixth/
86.:allow,which=/seventh/
=.two.three:allow,which=/eighth/
=.three:allow,which=/ninth/
=:allow,which=/tenth/
:allow,which=/eleventh/
`;

type Case = [info: string | null, ip: string, host: string | null, rule: string, which: string];

// 27 combinations, each one showing that a level beats every level below it
const PRECEDENCE_CASES: Case[] = [
  ['xyz', '86.75.30.9', 'one.two.three', 'xyz@86.75.30.9', 'first'],
  ['xyz', '86.75.30.9', null, 'xyz@86.75.30.9', 'first'],
  ['xyz', '86.75.30.9', 'x.y.three', 'xyz@86.75.30.9', 'first'],
  ['xyz', '86.75.30.21', 'one.two.three', 'xyz@=one.two.three', 'second'],
  ['xyz', '1.2.3.4', 'one.two.three', 'xyz@=one.two.three', 'second'],
  ['abc', '86.75.30.9', 'one.two.three', '86.75.30.9', 'third'],
  [null, '86.75.30.9', 'one.two.three', '86.75.30.9', 'third'],
  [null, '86.75.30.9', null, '86.75.30.9', 'third'],
  ['', '86.75.30.9', 'x.two.three', '86.75.30.9', 'third'],
  [null, '86.75.30.21', 'one.two.three', '=one.two.three', 'fourth'],
  ['abc', '1.2.3.4', 'one.two.three', '=one.two.three', 'fourth'],
  ['xyz', '86.75.30.21', 'x.two.three', '86.75.30.', 'fifth'],
  [null, '86.75.30.21', 'x.two.three', '86.75.30.', 'fifth'],
  [null, '86.75.30.21', null, '86.75.30.', 'fifth'],
  [null, '86.75.31.1', 'x.two.three', '86.75.', 'sixth'],
  [null, '86.75.31.1', null, '86.75.', 'sixth'],
  [null, '86.76.1.1', 'x.two.three', '86.', 'seventh'],
  ['xyz', '86.76.1.1', 'x.y.three', '86.', 'seventh'],
  [null, '87.1.1.1', 'x.two.three', '=.two.three', 'eighth'],
  [null, '87.1.1.1', 'w.x.two.three', '=.two.three', 'eighth'],
  [null, '87.1.1.1', 'x.y.three', '=.three', 'ninth'],
  [null, '87.1.1.1', 'three', '=', 'tenth'], // no dot: only "=three" and "="
  [null, '87.1.1.1', 'other.example', '=', 'tenth'],
  [null, '87.1.1.1', '', '=', 'tenth'], // an empty host is still a host
  [null, '87.1.1.1', null, '', 'eleventh'],
  ['xyz', '87.1.1.1', null, '', 'eleventh'],
  [null, '', null, '', 'eleventh'], // empty ip: the empty key itself
];

function expectedReport(rule: string, which: string): string {
  return `rule ${rule}:\nset environment variable which=${which}\nallow connection\n`;
}

test('lookup: the keys tried, in order (§4.4)', () => {
  assert.deepEqual(
    [...candidateKeys({ ip: '86.75.30.9', host: 'one.two.three', info: 'xyz' })],
    [
      'xyz@86.75.30.9',
      'xyz@=one.two.three',
      '86.75.30.9',
      '=one.two.three',
      '86.75.30.',
      '86.75.',
      '86.',
      '=.two.three',
      '=.three',
      '=',
      '',
    ],
  );
  assert.deepEqual([...candidateKeys({ ip: '1.2.3.4', host: null, info: null })], ['1.2.3.4', '1.2.3.', '1.2.', '1.', '']);
  assert.deepEqual([...candidateKeys({ ip: '1.2.3.4', host: null, info: '' })], ['@1.2.3.4', '1.2.3.4', '1.2.3.', '1.2.', '1.', '']);
  // an ip ending in a dot is tried once more as its own longest prefix, as rules.c does
  assert.deepEqual([...candidateKeys({ ip: '1.2.', host: '', info: null })], ['1.2.', '=', '1.2.', '1.', '=', '']);
  // the IPv6 variant also stops at ':' (a documented extension; the v4 C tool never sees ':')
  assert.deepEqual(
    [...candidateKeys({ ip: '2001:db8::5', host: null, info: null })],
    ['2001:db8::5', '2001:db8::', '2001:db8:', '2001:', ''],
  );
});

test(`lookup: rts test 40, ${PRECEDENCE_CASES.length} precedence cases in-process`, () => {
  const reader = CdbReader.fromBuffer(cdbOf(PRECEDENCE_RULES));
  for (const [info, ip, host, rule, which] of PRECEDENCE_CASES) {
    const m = lookupRules(reader, { ip, host, info });
    assert.ok(m, `${info}@${ip} ${host}`);
    assert.equal(m.key, rule, `${info}@${ip} ${host}`);
    assert.equal(describeRule(m.key, m.data), expectedReport(rule, which));
  }
});

test('lookup: no rule at all is the default, allow', () => {
  const reader = CdbReader.fromBuffer(cdbOf('1.2.3.4:deny\n=a.b:deny\n'));
  assert.equal(lookupRules(reader, { ip: '1.2.3.5', host: 'b', info: 'a' }), null);
  assert.equal(describeRule(null, null), 'default:\nallow connection\n');
});

test('lookup: the first of duplicate keys wins', () => {
  const reader = CdbReader.fromBuffer(cdbOf('1.2.3.4:allow,A=/1/\n1.2.3.4:deny\n1.2.3.4:allow,A=/3/\n'));
  const m = lookupRules(reader, { ip: '1.2.3.4', host: null, info: null });
  assert.equal(m?.data.toString('latin1'), '+A=1\0');
  assert.deepEqual(
    [...reader.findAll(Buffer.from('1.2.3.4'))].map((d) => d.toString('latin1')),
    ['+A=1\0', 'D\0', '+A=3\0'],
  );
});

test('lookup: keys are case-sensitive bytes; suffix rules need the leading dot (rts 39)', () => {
  const reader = CdbReader.fromBuffer(cdbOf('=known.edu:allow,which=/known/\n=.abuser.edu:deny\n:allow,which=/anybody/\n'));
  const key = (host: string) => lookupRules(reader, { ip: '1.2.3.4', host, info: null })?.key;
  assert.equal(key('known.edu'), '=known.edu');
  assert.equal(key('KNOWN.edu'), '');
  assert.equal(key('random.edu'), '');
  assert.equal(key('abuser.edu'), '');
  assert.equal(key('x.abuser.edu'), '=.abuser.edu');
  assert.equal(key('x.y.abuser.edu'), '=.abuser.edu');
});

test('tcprulescheck report: deny stops the listing, variables in order, odd entries skipped', () => {
  assert.equal(describeRule('1.2.3.4', Buffer.from('D\0')), 'rule 1.2.3.4:\ndeny connection\n');
  assert.equal(
    describeRule('', Buffer.from('+A=1\0+B=2\0')),
    'rule :\nset environment variable A=1\nset environment variable B=2\nallow connection\n',
  );
  assert.equal(describeRule('x', Buffer.from('+A=1\0D\0+B=2\0')), 'rule x:\nset environment variable A=1\ndeny connection\n');
  assert.equal(describeRule('x', Buffer.alloc(0)), 'rule x:\nallow connection\n');
  // entries that are neither D nor +, and an unterminated tail, print nothing (tcprulescheck.c)
  assert.equal(
    describeRule('x', Buffer.from('?junk\0\0+A=\xff\0+B=2', 'latin1')),
    'rule x:\nset environment variable A=\xff\nallow connection\n',
  );
  assert.equal(describeRule('x', Buffer.from('+B=2D\0')), 'rule x:\nset environment variable B=2D\nallow connection\n');
});

test('rule data as tcpserver reads it: any D denies, +name=value sets', () => {
  assert.deepEqual([...ruleEntries(Buffer.from('D\0+A=1\0tail'))], ['D', '+A=1']);
  assert.deepEqual(interpretRuleData(Buffer.from('+A=1\0D\0+B=x=y\0+C\0')), {
    deny: true,
    env: [
      ['A', '1'],
      ['B', 'x=y'],
    ],
  });
  assert.deepEqual(interpretRuleData(Buffer.alloc(0)), { deny: false, env: [] });
});

function checkEnv(info: string | null, ip: string | null, host: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (ip !== null) env.TCPREMOTEIP = ip;
  if (host !== null) env.TCPREMOTEHOST = host;
  if (info !== null) env.TCPREMOTEINFO = info;
  return env;
}

for (const [name, file, skip] of [
  ['bin/tcprulescheck', ours('tcprulescheck'), false],
  ['C tcprulescheck', cBinary('tcprulescheck') ?? '', needC('tcprulescheck')],
] as const) {
  test(`lookup: rts test 40 through ${name}`, { skip }, () => {
    const dir = tempDir();
    const cdb = join(dir, 'test.cdb');
    writeFileSync(cdb, cdbOf(PRECEDENCE_RULES));
    for (const [info, ip, host, rule, which] of PRECEDENCE_CASES) {
      const r = runSync(file, [cdb], { env: checkEnv(info, ip, host) });
      assert.equal(r.stdout.toString('latin1'), expectedReport(rule, which), `${info}@${ip} ${host}`);
      assert.equal(r.status, 0);
      assert.equal(r.stderr.length, 0);
    }
    // TCPREMOTEIP unset is 0.0.0.0
    const r = runSync(file, [cdb], { env: checkEnv(null, null, null) });
    assert.equal(r.stdout.toString(), expectedReport('', 'eleventh'));
    writeFileSync(cdb, cdbOf('0.0.0.0:deny\n'));
    assert.equal(runSync(file, [cdb], { env: checkEnv(null, null, null) }).stdout.toString(), 'rule 0.0.0.0:\ndeny connection\n');
  });
}

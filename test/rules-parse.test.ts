// The tcprules text format (spec §4.2) and the cdb record each line becomes (§4.3).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRules, parseRulesLine, RuleSyntaxError } from '../src/rules/parse';

/** [key, data] pairs of a line, data with its NULs written as \0. */
function records(line: string): Array<[string, string]> {
  return parseRulesLine(line).map((r) => [r.key, r.data]);
}

function rejects(line: string, printed = line): void {
  assert.throws(
    () => parseRulesLine(line),
    (err: unknown) => err instanceof RuleSyntaxError && err.line === printed,
    `expected a parse error for ${JSON.stringify(line)}`,
  );
}

test('rules: deny and allow records (§4.3 examples)', () => {
  assert.deepEqual(records('1.2.3.4:deny'), [['1.2.3.4', 'D\0']]);
  assert.deepEqual(records(':allow'), [['', '']]);
  assert.deepEqual(records('127.:allow,which=+third+'), [['127.', '+which=third\0']]);
  assert.deepEqual(records('1.2.3.4:deny,A=/1/'), [['1.2.3.4', 'D\0+A=1\0']]);
});

test('rules: every address form is stored as written', () => {
  for (const address of [
    '1.2.3.4',
    '1.2.3.',
    '1.2.',
    '1.',
    '',
    '=host.name',
    '=.domain',
    '=',
    'info@1.2.3.4',
    'info@=host.name',
    '@1.2.3.4',
    'KNOWN.Edu',
    ' 1.2.3.4',
    '1.2.3.4.5.6',
    'x\xff\x01y',
  ]) {
    assert.deepEqual(records(`${address}:allow`), [[address, '']], address);
  }
});

test('rules: variables with any delimiter, empty names and values', () => {
  assert.deepEqual(records(':allow,which=/first/'), [['', '+which=first\0']]);
  assert.deepEqual(records(':allow,which="second"'), [['', '+which=second\0']]);
  assert.deepEqual(records(':allow,which==fourth='), [['', '+which=fourth\0']]);
  assert.deepEqual(records(':allow,RELAYCLIENT=""'), [['', '+RELAYCLIENT=\0']]);
  assert.deepEqual(records(':allow,=/v/'), [['', '+=v\0']]);
  assert.deepEqual(records(':allow,A=,x,'), [['', '+A=x\0']]); // delimiter ','
  rejects(':allow,A=:a:b:'); // delimiter ':', value 'a', then junk
});

test('rules: odd bytes in names and values pass through', () => {
  assert.deepEqual(records(':deny,N\xe9=\x01\xff\x7f,\x01'), [['', 'D\0+N\xe9=\xff\x7f,\0']]);
  assert.deepEqual(records(':allow,A=/a\0b/'), [['', '+A=a\0b\0']]);
  assert.deepEqual(records(':allow,A=\0x\0'), [['', '+A=x\0']]);
  assert.deepEqual(records(':allow,X=a b a'), [['', '+X= b \0']]);
});

test('rules: the address ends at the first colon; later colons belong to values', () => {
  assert.deepEqual(records('1.2.3.4:allow,A=:x:'), [['1.2.3.4', '+A=x\0']]);
  assert.deepEqual(records('a:allow,T=/1:2/'), [['a', '+T=1:2\0']]);
  // 0.88 rejects this (address '', then ":1:allow"); as Debian's IPv6 tcprules, the address ends at
  // the first ':' followed by deny/allow (more in rules-ipv6.test.ts)
  assert.deepEqual(records('::1:allow'), [['::1', '']]);
});

test('rules: several variables, in order, after deny', () => {
  assert.deepEqual(records('127.0-1.:deny,which=/first/,where=/whatever/'), [
    ['127.0.', 'D\0+which=first\0+where=whatever\0'],
    ['127.1.', 'D\0+which=first\0+where=whatever\0'],
  ]);
});

test('rules: comments, empty lines and lines without a colon give nothing', () => {
  for (const line of ['#', '# 1.2.3.4:deny', '#x:allow', '', ' ', '\t \t', 'foo', '1.2.3.4', '\r', 'deny', '=host allow']) {
    assert.deepEqual(records(line), [], JSON.stringify(line));
  }
  // only a '#' in the first byte starts a comment
  rejects(' #x:deny,', ' #x:deny,');
});

test('rules: trailing spaces and tabs are trimmed, CR and leading blanks are not', () => {
  assert.deepEqual(records('1.2.3.4:deny \t  '), [['1.2.3.4', 'D\0']]);
  assert.deepEqual(records(':allow,A="x y "  '), [['', '+A=x y \0']]);
  assert.deepEqual(records(' 1.2.3.4:allow'), [[' 1.2.3.4', '']]);
  rejects('1.2.3.4:deny\r');
  rejects('1.2.3.4:deny\r \t', '1.2.3.4:deny\r');
  // a value closed by a blank that trimming removed is unterminated
  rejects(':allow,X= a ', ':allow,X= a');
});

test('rules: malformed instructions are rejected with the trimmed line', () => {
  for (const line of [
    ':',
    ':Deny',
    ':ALLOW',
    ':permit',
    ': allow',
    ':allo',
    ':denyx',
    ':allow,',
    ':allow,X',
    ':allow,X=',
    ':allow,X="v',
    ':allow,X="v"x',
    ':allow;X="v"',
    ':deny,X="v",',
    ':allow,X= a b',
  ]) {
    rejects(line);
  }
  rejects('1.2.3.4:foo  ', '1.2.3.4:foo');
});

test('rules: ranges expand to one record per number (§4.2 step 6)', () => {
  const keys = (line: string) => parseRulesLine(line).map((r) => r.key);
  assert.deepEqual(
    keys('1.2.3.37-53:allow'),
    Array.from({ length: 17 }, (_, n) => `1.2.3.${37 + n}`),
  );
  assert.deepEqual(keys('10.2-3.:allow'), ['10.2.', '10.3.']);
  assert.deepEqual(keys('127.0-5.:allow'), ['127.0.', '127.1.', '127.2.', '127.3.', '127.4.', '127.5.']);
  assert.deepEqual(keys('1-3.2.3.4:allow'), ['1.2.3.4', '2.2.3.4', '3.2.3.4']);
  assert.deepEqual(keys('1.2.3.250-300:allow'), ['1.2.3.250', '1.2.3.251', '1.2.3.252', '1.2.3.253', '1.2.3.254', '1.2.3.255']);
  assert.deepEqual(keys('1.2.3.4-:allow'), []); // top 0 < bot: no record
  assert.deepEqual(keys('1.2.3.9-2:allow'), []);
  assert.deepEqual(keys('1.2.3.-2:allow'), ['1.2.3.0', '1.2.3.1', '1.2.3.2']); // empty bottom is 0
  assert.deepEqual(keys('-:allow'), ['0']);
  assert.deepEqual(keys('1.2.3.007-9:allow'), ['1.2.3.7', '1.2.3.8', '1.2.3.9']); // leading zeros dropped
  rejects('1.2.3.4-5-6:allow'); // the top runs to the next dot: "5-6" is not a number
});

test('rules: range bounds must be digits; a NUL ends a bound as in C', () => {
  rejects('1.2.3.x-5:allow');
  rejects('1.2.3.4-5x:allow');
  rejects('1.2.3. 4-5:allow');
  const keys = (line: string) => parseRulesLine(line).map((r) => r.key);
  assert.deepEqual(keys('1.2\x003-4:allow'), ['1.2', '1.3', '1.4']);
  assert.deepEqual(keys('1.2.3.4-5\x00junk:allow'), ['1.2.3.4', '1.2.3.5']);
  assert.deepEqual(keys('1.2.3.2\x00junk-3:allow'), ['1.2.3.2', '1.2.3.3']);
});

test('rules: huge bounds wrap like unsigned long, top is clamped to 255', () => {
  const keys = (line: string) => parseRulesLine(line).map((r) => r.key);
  // 2^64 + 1 wraps to 1
  assert.deepEqual(keys('1.18446744073709551617-2:allow'), ['1.1', '1.2']);
  assert.equal(keys('1.254-18446744073709551617:allow').length, 0); // top wraps to 1 < 254
  // 99999999999999999999999 mod 2^64 = 200376420520689663, clamped to 255
  assert.deepEqual(keys('1.254-99999999999999999999999:allow'), ['1.254', '1.255']);
});

test('rules: "=" or "@" in the address turns range expansion off', () => {
  assert.deepEqual(
    parseRulesLine('x@1.2.3.4-5:allow').map((r) => r.key),
    ['x@1.2.3.4-5'],
  );
  assert.deepEqual(
    parseRulesLine('=a-b.c:allow').map((r) => r.key),
    ['=a-b.c'],
  );
  assert.deepEqual(
    parseRulesLine('=1-2:deny').map((r) => r.key),
    ['=1-2'],
  );
});

test('rules: whole texts keep input order and duplicates', () => {
  const text = '# rules\n1.2.3.4:allow\n1.2.3.4:deny\n\nfoo\n=x:allow,A=/1/\n:deny';
  assert.deepEqual(
    parseRules(text).map((r) => [r.key, r.data]),
    [
      ['1.2.3.4', ''],
      ['1.2.3.4', 'D\0'],
      ['=x', '+A=1\0'],
      ['', 'D\0'],
    ],
  );
});

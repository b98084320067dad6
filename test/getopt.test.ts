// djb's sgetopt as tcpserver, tcpclient and rblsmtpd use it (spec §1.1).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { getopt, getoptProblemMessage } from '../src/getopt';

// tcpserver's option string, the largest user
const TCPSERVER = 'dDvqQhHrR1UXx:t:u:g:l:b:B:c:pPoO';

function letters(r: ReturnType<typeof getopt>): string[] {
  return r.options.map((o) => (o.arg === undefined ? o.letter : `${o.letter}=${o.arg}`));
}

test('getopt: bundled flags, in order', () => {
  const r = getopt(['-vo', '-1', '-hp', 'host', 'port'], TCPSERVER);
  assert.deepEqual(letters(r), ['v', 'o', '1', 'h', 'p']);
  assert.deepEqual(r.operands, ['host', 'port']);
  assert.equal(r.problem, undefined);
});

test('getopt: an argument is the rest of the word, else the next word', () => {
  assert.deepEqual(letters(getopt(['-Bbanner', 'x'], TCPSERVER)), ['B=banner']);
  assert.deepEqual(letters(getopt(['-B', 'banner', 'x'], TCPSERVER)), ['B=banner']);
  assert.deepEqual(getopt(['-B', 'banner', 'x'], TCPSERVER).operands, ['x']);
  // after flags in the same word: -Rt5, -Xx rules.cdb
  assert.deepEqual(letters(getopt(['-Rt5', '-Xx', 'rules.cdb', 'h'], TCPSERVER)), ['R', 't=5', 'X', 'x=rules.cdb']);
  assert.deepEqual(getopt(['-Rt5', '-Xx', 'rules.cdb', 'h'], TCPSERVER).operands, ['h']);
});

test('getopt: the next word is taken even when it looks like an option or is empty', () => {
  const r = getopt(['-B', '-v', 'host'], TCPSERVER);
  assert.deepEqual(letters(r), ['B=-v']);
  assert.deepEqual(r.operands, ['host']);
  assert.deepEqual(letters(getopt(['-l', '', 'host'], TCPSERVER)), ['l=']);
  assert.deepEqual(getopt(['-l', '', 'host'], TCPSERVER).operands, ['host']);
  assert.deepEqual(letters(getopt(['-B', '--', 'host'], TCPSERVER)), ['B=--']);
});

test('getopt: "--" ends the options and is consumed', () => {
  const r = getopt(['-v', '--', '-q', 'x'], TCPSERVER);
  assert.deepEqual(letters(r), ['v']);
  assert.deepEqual(r.operands, ['-q', 'x']);
});

test('getopt: any word starting with "--" ends the options and is consumed', () => {
  const r = getopt(['-v', '--verbose', '-q'], TCPSERVER);
  assert.deepEqual(letters(r), ['v']);
  assert.deepEqual(r.operands, ['-q']);
});

test('getopt: a lone "-" ends the options and stays as the first operand', () => {
  const r = getopt(['-v', '-', '-q'], TCPSERVER);
  assert.deepEqual(letters(r), ['v']);
  assert.deepEqual(r.operands, ['-', '-q']);
});

test('getopt: no permutation: parsing stops at the first operand', () => {
  const r = getopt(['-v', '0', '25', 'prog', '-v'], TCPSERVER);
  assert.deepEqual(letters(r), ['v']);
  assert.deepEqual(r.operands, ['0', '25', 'prog', '-v']);
  assert.deepEqual(getopt([], TCPSERVER), { options: [], operands: [] });
  assert.deepEqual(getopt(['host'], TCPSERVER).operands, ['host']);
});

test('getopt: later options are all reported, in order, so the last one wins', () => {
  assert.deepEqual(letters(getopt(['-h', '-H', '-q', '-v', '-t1', '-t', '2', 'x'], TCPSERVER)), ['h', 'H', 'q', 'v', 't=1', 't=2']);
});

test('getopt: illegal option', () => {
  const r = getopt(['-v', '-vZq', 'host'], TCPSERVER);
  assert.deepEqual(r.problem, { kind: 'illegal', letter: 'Z' });
  assert.deepEqual(letters(r), ['v', 'v']);
  assert.equal(getoptProblemMessage('tcpserver', r.problem!), 'tcpserver: illegal option -- Z');
  // ':' is not an option letter even though it is in the option string
  assert.deepEqual(getopt(['-:'], TCPSERVER).problem, { kind: 'illegal', letter: ':' });
});

test('getopt: missing argument at the end of argv', () => {
  const r = getopt(['-v', '-c'], TCPSERVER);
  assert.deepEqual(r.problem, { kind: 'missing', letter: 'c' });
  assert.equal(getoptProblemMessage('tcpclient', r.problem!), 'tcpclient: option requires an argument -- c');
  assert.deepEqual(getopt(['-vt'], TCPSERVER).problem, { kind: 'missing', letter: 't' });
});

test('getopt: bytes beyond ASCII pass through as latin1', () => {
  const r = getopt(['-B\xff\x01', 'h'], TCPSERVER);
  assert.deepEqual(letters(r), ['B=\xff\x01']);
  assert.deepEqual(getopt(['-\xe9'], TCPSERVER).problem, { kind: 'illegal', letter: '\xe9' });
});

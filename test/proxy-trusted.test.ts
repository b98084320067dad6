// PROXYFROM: which peers may send a PROXY header.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { parseTrustedPeers, TrustedPeers } from '../src/proxy/trusted';
import { proxySettings } from '../src/server/proxy';

function peers(text: string): TrustedPeers {
  const p = parseTrustedPeers(text);
  assert.ok(p instanceof TrustedPeers, JSON.stringify(p));
  return p;
}

test('PROXYFROM: addresses and prefixes, IPv4 also in its v4-mapped form', () => {
  const p = peers(' 10.0.0.0/8, 192.168.1.5 ,2001:db8::/32,::1,172.16.0.0/12,');
  for (const ip of ['10.1.2.3', '::ffff:10.255.0.1', '192.168.1.5', '2001:db8:1::7', '::1', '172.31.255.255', '::1%lo']) {
    assert.ok(p.trusts(ip), ip);
  }
  for (const ip of ['11.0.0.1', '192.168.1.6', '2001:db9::1', '::2', '172.32.0.0', '::ffff:192.168.1.4', 'not an address', '']) {
    assert.ok(!p.trusts(ip), ip);
  }
  assert.ok(peers('0.0.0.0/0').trusts('203.0.113.1'));
  assert.ok(!peers('0.0.0.0/0').trusts('2001:db8::1'), 'an IPv4 prefix never covers real IPv6');
  assert.ok(peers('::/0').trusts('203.0.113.1'));
  assert.ok(peers('::ffff:127.0.0.0/104').trusts('127.9.9.9'));
  assert.ok(peers('127.0.0.1/31').trusts('127.0.0.0'));
  assert.ok(!peers('127.0.0.1/31').trusts('127.0.0.2'));
  assert.ok(peers('').empty);
});

test('PROXYFROM: anything else is refused, naming the entry', () => {
  for (const bad of [
    '10.0.0.0/33',
    '10.0.0/8',
    '::1/129',
    'example.org',
    '10.0.0.0/08',
    '10.0.0.0/',
    '/8',
    'fe80::1%eth0',
    '010.0.0.1',
    '[::1]',
  ]) {
    assert.deepEqual(parseTrustedPeers(`127.0.0.1,${bad}`), { bad });
  }
});

test('PROXYFROM and PROXYTIMEOUT as tcpserver reads them', () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(proxySettings(env({})), null);
  assert.equal(proxySettings(env({ PROXYFROM: ' , ' })), null);
  assert.deepEqual(proxySettings(env({ PROXYFROM: '127.0.0.1,x' })), { bad: 'x' });
  const s = proxySettings(env({ PROXYFROM: '127.0.0.1' }));
  assert.ok(s && !('bad' in s));
  assert.equal(s.timeoutMs, 5000);
  assert.equal((proxySettings(env({ PROXYFROM: '::1', PROXYTIMEOUT: '2' })) as { timeoutMs: number }).timeoutMs, 2000);
  assert.equal((proxySettings(env({ PROXYFROM: '::1', PROXYTIMEOUT: '0' })) as { timeoutMs: number }).timeoutMs, 5000);
});

test('property: an IPv4 prefix trusts exactly the addresses sharing its first bits', () => {
  const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  fc.assert(
    fc.property(ip, fc.integer({ min: 0, max: 32 }), ip, (net, bits, addr) => {
      const num = (a: number[]) => ((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0;
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      const expected = (num(net) & mask) >>> 0 === (num(addr) & mask) >>> 0;
      assert.equal(peers(`${net.join('.')}/${bits}`).trusts(addr.join('.')), expected);
    }),
    { seed: 424242, numRuns: 500 },
  );
});

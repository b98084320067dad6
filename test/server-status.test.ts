// The status report behind TCPSERVERSTATUS, from the limits' own tables: its lines, its order, its
// bounds, the addresses as an operator writes them, and the selection that keeps it one pass.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIp6, parseIp6 } from '../src/dns/address';
import { ConnectionLimits, limitKeys, limitKeyText, NO_LIMITS, RateTable } from '../src/limits';
import { firstEntries } from '../src/limits/top';
import { statusReport } from '../src/server/status';

const limitsOf = (engine: ConnectionLimits, defaults = NO_LIMITS) => ({ engine, defaults });

describe('status report', () => {
  it('says what runs against -c, the counts per address and network, the defaults and the refusals', () => {
    let t = 0;
    const engine = new ConnectionLimits({ now: () => t, load: () => 0 });
    const s = { ...NO_LIMITS, maxConnIp: 3, maxRate: { count: 10, seconds: 10 } };
    for (const ip of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.1.9', '2001:db8::1', '2001:db8::2']) assert.ok(engine.decide(ip, s).admit);
    assert.ok(engine.decide('10.0.0.1', s).admit);
    assert.equal(engine.decide('10.0.0.1', s).admit, false, 'the fourth from 10.0.0.1 is refused');
    t = 500; // half a second later: 10.0.0.1 has earned back half a connection
    const report = statusReport({ running: () => 7, limit: 40, limits: limitsOf(engine, s) });
    assert.equal(
      report,
      [
        'tcpserver: status: 7/40',
        'tcpserver: limits: 7 running from 5 addresses in 3 networks, 5 addresses in the rate table, 0 refused clients held',
        'tcpserver: defaults: MAXCONNIP:3 MAXRATEIP:10/10',
        'tcpserver: refused: MAXCONNIP:1 MAXCONNC:0 LOAD:0 MAXRATEIP:0',
        'tcpserver: ip 10.0.0.1 3',
        'tcpserver: ip 10.0.0.2 1',
        'tcpserver: ip 10.0.1.9 1',
        'tcpserver: ip 2001:db8::1 1',
        'tcpserver: ip 2001:db8::2 1',
        'tcpserver: net 10.0.0.0/24 4',
        'tcpserver: net 2001:db8::/64 2',
        'tcpserver: net 10.0.1.0/24 1',
        'tcpserver: rate 10.0.0.1 7.5 left of 10/10',
        'tcpserver: rate 10.0.0.2 9.5 left of 10/10',
        'tcpserver: rate 10.0.1.9 9.5 left of 10/10',
        'tcpserver: rate 2001:db8::1 9.5 left of 10/10',
        'tcpserver: rate 2001:db8::2 9.5 left of 10/10',
        '',
      ].join('\n'),
    );
  });

  it('is bounded: at most N lines per table, and how many more there are', () => {
    const engine = new ConnectionLimits();
    const s = { ...NO_LIMITS, maxRate: { count: 5, seconds: 60 } };
    for (let i = 1; i <= 40; i++) for (let k = 0; k < (i % 4) + 1; k++) engine.decide(`10.${i}.0.${i}`, s);
    const lines = statusReport({ running: () => 100, limit: 100, limits: limitsOf(engine, s) }, 8).split('\n');
    const ips = lines.filter((l) => l.startsWith('tcpserver: ip '));
    assert.equal(ips.length, 8);
    assert.ok(
      ips.every((l) => l.endsWith(' 4')),
      'the busiest first',
    );
    assert.deepEqual(
      ips.map((l) => l.split(' ')[2]),
      ['10.11.0.11', '10.15.0.15', '10.19.0.19', '10.23.0.23', '10.27.0.27', '10.3.0.3', '10.31.0.31', '10.35.0.35'],
      'ties in key order',
    );
    assert.ok(lines.includes('tcpserver: ip: 32 more'));
    assert.ok(lines.includes('tcpserver: net: 32 more'));
    assert.ok(lines.includes('tcpserver: rate: 32 more'));
    assert.equal(lines.filter((l) => l.startsWith('tcpserver: rate ')).length, 8);
    assert.ok(lines.find((l) => l.startsWith('tcpserver: rate '))!.includes(' 1 left of 5/60'), 'the nearest to its rate first');
    const full = statusReport({ running: () => 100, limit: 100, limits: limitsOf(engine, s) });
    assert.ok(Buffer.byteLength(full) < 8192, 'the default bound keeps a report within a few kB');
  });

  it('without limits, says only what 0.88 says', () => {
    assert.equal(statusReport({ running: () => 0, limit: 40 }), 'tcpserver: status: 0/40\n');
  });

  it('forgets a released connection and a full bucket', () => {
    let t = 0;
    const engine = new ConnectionLimits({ now: () => t });
    const d = engine.decide('10.0.0.1', { ...NO_LIMITS, maxRate: { count: 1, seconds: 1 } });
    assert.ok(d.admit);
    d.admission.release();
    t = 1000;
    const lines = statusReport({ running: () => 0, limit: 40, limits: limitsOf(engine) }).split('\n');
    assert.ok(!lines.some((l) => /^tcpserver: (ip|net|rate) /.test(l)), lines.join('\n'));
  });
});

describe('rate table, hottest', () => {
  it('reads without changing: no refill, no expiry, no reordering', () => {
    let t = 0;
    const r = new RateTable(10, () => t);
    r.take('a', { count: 2, seconds: 1 });
    r.take('b', { count: 2, seconds: 1 });
    r.take('b', { count: 2, seconds: 1 });
    t = 250;
    assert.deepEqual(r.hottest(5), [
      { key: 'b', left: 0.5, rate: { count: 2, seconds: 1 } },
      { key: 'a', left: 1.5, rate: { count: 2, seconds: 1 } },
    ]);
    assert.equal(r.size, 2);
    t = 2000;
    assert.deepEqual(r.hottest(5), [], 'full buckets are not shown');
    assert.equal(r.size, 2, 'and not dropped by a read either');
  });
});

describe('limitKeyText', () => {
  it('shows addresses and networks as operators write them', () => {
    assert.equal(limitKeyText(limitKeys('10.1.2.3').ip), '10.1.2.3');
    assert.equal(limitKeyText(limitKeys('10.1.2.3').net), '10.1.2.0/24');
    assert.equal(limitKeyText(limitKeys('::ffff:10.1.2.3').net), '10.1.2.0/24');
    assert.equal(limitKeyText(limitKeys('2001:DB8:0:0:1::1').ip), '2001:db8::1:0:0:1');
    assert.equal(limitKeyText(limitKeys('2001:db8:1:2:3::1').net), '2001:db8:1:2::/64');
    assert.equal(limitKeyText(limitKeys('fe80::1%eth0').ip), 'fe80::1%eth0');
    assert.equal(limitKeyText(limitKeys('not an address').ip), 'not an address');
  });
  it('is the inverse of limitKeys for any IPv6 address', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const text = formatIp6(Buffer.from(bytes));
        const key = limitKeys(text);
        const shown = limitKeyText(key.ip);
        // mapped addresses count (and show) as the IPv4 address they carry
        assert.equal(shown.includes(':') ? parseIp6(shown)?.equals(Buffer.from(bytes)) : text.endsWith(shown), true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('firstEntries', () => {
  it('is the head of the sorted list, for any input and bound', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), fc.nat(30), (xs, n) => {
        const order = (a: number, b: number) => b - a;
        assert.deepEqual(firstEntries(xs, n, order), [...xs].sort(order).slice(0, n));
      }),
      { numRuns: 300 },
    );
  });
});

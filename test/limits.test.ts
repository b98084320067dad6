// src/limits alone: address keys, counts, the rate table's bound, the load parse, settings from the
// environment and rules, the decision, and closing refused clients over real loopback sockets.
import assert from 'node:assert/strict';
import { connect, createServer, Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import {
  Admission,
  ConnectionLimits,
  DelayedCloser,
  LimitSettings,
  limitKeys,
  NO_LIMITS,
  parseLoadavg,
  parseRate,
  RateTable,
  settingsFromEnvironment,
  withRuleVariables,
  currentLoad,
} from '../src/limits';

function settings(over: Partial<LimitSettings>): LimitSettings {
  return { ...NO_LIMITS, ...over };
}

describe('limit keys', () => {
  it('an IPv4 address and its /24', () => {
    assert.deepEqual(limitKeys('192.168.7.9'), { ip: '192.168.7.9', net: '192.168.7' });
  });
  it('an IPv4-mapped IPv6 address counts as IPv4, in any spelling', () => {
    const k = limitKeys('192.168.7.9');
    assert.deepEqual(limitKeys('::ffff:192.168.7.9'), k);
    assert.deepEqual(limitKeys('::FFFF:c0a8:709'), k);
    assert.deepEqual(limitKeys('0:0:0:0:0:ffff:192.168.7.9'), k);
  });
  it('an IPv6 address and its /64, the same for every spelling', () => {
    const a = limitKeys('2001:db8:1:2:3:4:5:6');
    assert.deepEqual(a, { ip: '20010db8000100020003000400050006', net: '20010db800010002/64' });
    assert.deepEqual(limitKeys('2001:0DB8:0001:0002:0003:0004:0005:0006'), a);
    const b = limitKeys('2001:db8::1');
    assert.equal(b.net, '20010db800000000/64');
    assert.deepEqual(limitKeys('2001:db8:0:0:0:0:0:1'), b);
    assert.equal(limitKeys('2001:db8::2').net, b.net);
    assert.notEqual(limitKeys('2001:db8:0:1::1').net, b.net);
    assert.equal(limitKeys('::1').net, '0000000000000000/64');
  });
  it('keeps a zone apart, and text that is no address is its own key', () => {
    assert.equal(limitKeys('fe80::1%eth0').ip, 'fe800000000000000000000000000001%eth0');
    assert.notEqual(limitKeys('fe80::1%eth0').ip, limitKeys('fe80::1%eth1').ip);
    assert.deepEqual(limitKeys('x:y'), { ip: 'x:y', net: 'x:y' });
  });
});

describe('settings', () => {
  it('come from the environment, read as the patch reads numbers', () => {
    const env: Record<string, string> = { MAXLOAD: '350', MAXCONNIP: '5x', MAXCONNC: '', DIEMSG: '421 busy', MAXRATEIP: '10/60' };
    assert.deepEqual(
      settingsFromEnvironment((n) => env[n]),
      {
        maxLoad: 350,
        maxConnIp: 5,
        maxConnNet: 0,
        maxRate: { count: 10, seconds: 60 },
        dieMsg: '421 busy',
      },
    );
    assert.deepEqual(
      settingsFromEnvironment(() => undefined),
      NO_LIMITS,
    );
  });
  it('rule variables override, the last of a name winning, others left alone', () => {
    const base = settings({ maxConnIp: 2, dieMsg: 'no' });
    const s = withRuleVariables(base, [
      ['RELAYCLIENT', ''],
      ['MAXCONNIP', '20'],
      ['MAXCONNIP', '30'],
      ['MAXLOAD', '0'],
      ['MAXRATEIP', ''],
    ]);
    assert.deepEqual(s, settings({ maxConnIp: 30, dieMsg: 'no' }));
    assert.equal(withRuleVariables(base, [['X', '1']]), base, 'no copy when nothing applies');
  });
  it('MAXRATEIP: n/seconds, n alone per second, no digits no limit', () => {
    assert.deepEqual(parseRate('10/60'), { count: 10, seconds: 60 });
    assert.deepEqual(parseRate('3'), { count: 3, seconds: 1 });
    assert.deepEqual(parseRate('3/0'), { count: 3, seconds: 1 });
    assert.deepEqual(parseRate('0/5'), { count: 0, seconds: 5 });
    assert.equal(parseRate(''), null);
    assert.equal(parseRate('/5'), null);
    assert.equal(parseRate('ten'), null);
  });
});

describe('load', () => {
  it('parses /proc/loadavg as the patch does', () => {
    assert.equal(parseLoadavg('13.08 3.04 1.00 34/170 14190\n'), 1308);
    assert.equal(parseLoadavg('0.00 0.01 0.05 1/1 1'), 0);
    assert.equal(parseLoadavg('2.5 1 1'), 200);
    assert.equal(parseLoadavg('12345.00'), null);
    assert.equal(parseLoadavg('x'), null);
  });
  it('reads the real one, and falls back to getloadavg', () => {
    assert.ok(currentLoad() >= 0);
    assert.ok(Number.isInteger(currentLoad(() => 'garbage')));
    assert.equal(
      currentLoad(() => '7.25 1 1'),
      725,
    );
  });
});

describe('decision', () => {
  it('MAXCONNIP=N admits N at once from one address, others unaffected', () => {
    const l = new ConnectionLimits();
    const s = settings({ maxConnIp: 3 });
    const held = [1, 2, 3].map(() => l.decide('10.0.0.1', s));
    assert.ok(held.every((d) => d.admit));
    const d = l.decide('10.0.0.1', s);
    assert.deepEqual(d, { admit: false, reason: 'ip', suffix: ' MAXCONNIP:3', dieMsg: '' });
    assert.ok(l.decide('10.0.0.2', s).admit);
    if (held[0].admit) held[0].admission.release();
    assert.ok(l.decide('10.0.0.1', s).admit, 'a released place is free again');
    assert.equal(l.decide('10.0.0.1', s).admit, false);
  });
  it('0 always refuses', () => {
    const l = new ConnectionLimits();
    assert.equal(l.decide('10.0.0.1', settings({ maxConnIp: 0 })).admit, false);
    assert.equal(l.decide('10.0.0.1', settings({ maxConnNet: 0 })).admit, false);
    assert.equal(l.decide('10.0.0.1', settings({ maxRate: { count: 0, seconds: 1 } })).admit, false);
    assert.deepEqual(l.status().running, 0);
    assert.equal(l.status().rateEntries, 0, 'a zero rate remembers nothing');
  });
  it('MAXCONNC counts the /24 (and an IPv6 /64); the address reason wins when both are full', () => {
    const l = new ConnectionLimits();
    const s = settings({ maxConnNet: 2, maxConnIp: 1 });
    assert.ok(l.decide('10.0.0.1', s).admit);
    assert.ok(l.decide('10.0.0.2', s).admit);
    assert.deepEqual(l.decide('10.0.0.3', s), { admit: false, reason: 'net', suffix: ' MAXCONNC:2', dieMsg: '' });
    assert.equal((l.decide('10.0.0.1', s) as { reason: string }).reason, 'ip');
    assert.ok(l.decide('10.0.1.1', s).admit);
    assert.ok(l.decide('2001:db8::1', s).admit);
    assert.ok(l.decide('2001:db8::2', s).admit);
    assert.equal((l.decide('2001:db8::3', s) as { reason: string }).reason, 'net');
    assert.ok(l.decide('2001:db8:0:1::3', s).admit);
    assert.equal((l.decide('::ffff:10.0.0.9', s) as { reason: string }).reason, 'net', 'mapped counts as IPv4');
  });
  it('load is checked first, refusing only above MAXLOAD, and 0 means no check', () => {
    let load = 500;
    let reads = 0;
    const l = new ConnectionLimits({ load: () => (reads++, load) });
    const s = settings({ maxLoad: 499, maxConnIp: 0, dieMsg: 'busy' });
    assert.deepEqual(l.decide('10.0.0.1', s), { admit: false, reason: 'load', suffix: ' LOAD:500', dieMsg: 'busy' });
    load = 499;
    assert.equal((l.decide('10.0.0.1', s) as { reason: string }).reason, 'ip');
    reads = 0;
    assert.ok(l.decide('10.0.0.1', settings({ maxLoad: 0 })).admit);
    assert.equal(reads, 0, 'no read without MAXLOAD');
  });
  it('MAXRATEIP refuses the excess of that address only, and earns places back', () => {
    let now = 0;
    const l = new ConnectionLimits({ now: () => now });
    const s = settings({ maxRate: { count: 3, seconds: 60 } });
    for (let i = 0; i < 3; i++) l.decide('10.0.0.1', s);
    assert.deepEqual(l.decide('10.0.0.1', s), { admit: false, reason: 'rate', suffix: ' MAXRATEIP:3/60', dieMsg: '' });
    assert.ok(l.decide('10.0.0.2', s).admit, 'another address');
    assert.ok(l.decide('10.0.0.1', settings({})).admit, 'a rule without the rate');
    now += 19_999;
    assert.equal(l.decide('10.0.0.1', s).admit, false, 'not yet a whole place back');
    now += 1;
    assert.ok(l.decide('10.0.0.1', s).admit, 'one place every 20 s');
    assert.equal(l.decide('10.0.0.1', s).admit, false);
    now += 60_000;
    for (let i = 0; i < 3; i++) assert.ok(l.decide('10.0.0.1', s).admit);
    assert.equal(l.decide('10.0.0.1', s).admit, false, 'never more than the count at once');
  });
  it('a connection refused for concurrency does not use up the rate', () => {
    const l = new ConnectionLimits({ now: () => 0 });
    const s = settings({ maxConnIp: 1, maxRate: { count: 2, seconds: 60 } });
    const first = l.decide('10.0.0.1', s);
    for (let i = 0; i < 5; i++) assert.equal((l.decide('10.0.0.1', s) as { reason: string }).reason, 'ip');
    if (first.admit) first.admission.release();
    assert.ok(l.decide('10.0.0.1', s).admit);
  });
  it('release is idempotent', () => {
    const l = new ConnectionLimits();
    const s = settings({ maxConnIp: 2 });
    const a = l.decide('10.0.0.1', s);
    const b = l.decide('10.0.0.1', s);
    assert.ok(a.admit && b.admit);
    a.admission.release();
    a.admission.release();
    a.admission.release();
    assert.deepEqual(l.status(), { running: 1, addresses: 1, networks: 1, rateEntries: 0, delayed: 0 });
    b.admission.release();
    assert.deepEqual(l.status(), { running: 0, addresses: 0, networks: 0, rateEntries: 0, delayed: 0 });
  });
});

describe('rate table memory', () => {
  it('a flood of distinct addresses never holds more than the bound', () => {
    let now = 0;
    const t = new RateTable(1000, () => now);
    const r = { count: 5, seconds: 10 };
    for (let i = 0; i < 50_000; i++) {
      t.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, r);
      assert.ok(t.size <= 1000);
      now += 0.01;
    }
    assert.equal(t.size, 1000);
  });
  it('forgets an address once its bucket is full again', () => {
    let now = 0;
    const t = new RateTable(1000, () => now);
    const r = { count: 2, seconds: 10 };
    for (let i = 0; i < 100; i++) t.take(`10.0.0.${i}`, r);
    assert.equal(t.size, 100);
    now += 2_500; // half a place back each: not full
    t.take('10.0.1.1', r);
    assert.equal(t.size, 101);
    now += 2_500;
    t.take('10.0.1.2', r);
    assert.equal(t.size, 2, 'the first hundred expired');
  });
  it('an evicted address starts again with a full bucket (fails open)', () => {
    const t = new RateTable(2, () => 0);
    const r = { count: 1, seconds: 3600 };
    assert.ok(t.take('a', r));
    assert.equal(t.take('a', r), false);
    t.take('b', r);
    t.take('c', r);
    assert.ok(t.take('a', r));
  });
});

describe('property: counts always return to zero', () => {
  const addrs = ['10.0.0.1', '10.0.0.2', '10.0.1.1', '::ffff:10.0.0.1', '2001:db8::1', '2001:db8::2', '2001:db8:1::1'];
  const op = fc.oneof(
    fc.record({ kind: fc.constant('admit' as const), addr: fc.nat(addrs.length - 1) }),
    fc.record({ kind: fc.constant('release' as const), which: fc.nat(200) }),
    fc.record({ kind: fc.constant('twice' as const), which: fc.nat(200) }),
  );
  it('never lets more than N in per address or network, and ends at zero', () => {
    fc.assert(
      fc.property(fc.nat(4), fc.nat(6), fc.array(op, { maxLength: 300 }), (n, m, ops) => {
        const l = new ConnectionLimits();
        const s = settings({ maxConnIp: n, maxConnNet: m });
        const held: Array<{ a: Admission; ip: string; net: string; live: boolean }> = [];
        const perIp = new Map<string, number>();
        const perNet = new Map<string, number>();
        const bump = (map: Map<string, number>, k: string, d: number) => map.set(k, (map.get(k) ?? 0) + d);
        for (const o of ops) {
          if (o.kind === 'admit') {
            const k = limitKeys(addrs[o.addr]);
            const d = l.decide(addrs[o.addr], s);
            const fits = (perIp.get(k.ip) ?? 0) < n && (perNet.get(k.net) ?? 0) < m;
            assert.equal(d.admit, fits);
            if (d.admit) {
              held.push({ a: d.admission, ip: k.ip, net: k.net, live: true });
              bump(perIp, k.ip, 1);
              bump(perNet, k.net, 1);
            }
          } else if (held.length > 0) {
            const h = held[o.which % held.length];
            h.a.release();
            if (o.kind === 'twice') h.a.release();
            if (h.live) {
              h.live = false;
              bump(perIp, h.ip, -1);
              bump(perNet, h.net, -1);
            }
          }
          for (const v of perIp.values()) assert.ok(v <= n);
          for (const v of perNet.values()) assert.ok(v <= m);
          assert.equal(l.status().running, held.filter((h) => h.live).length);
        }
        for (const h of held) h.a.release();
        assert.deepEqual(l.status(), { running: 0, addresses: 0, networks: 0, rateEntries: 0, delayed: 0 });
      }),
      { numRuns: 300 },
    );
  });
});

describe('closing refused clients', () => {
  async function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
    const server = createServer({ pauseOnConnect: true }, onSocket);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, port: (server.address() as { port: number }).port };
  }
  /** Connect and collect what arrives; `closed` resolves at the server's close. */
  function client(port: number): { got: Promise<string>; closed: Promise<string>; sock: Socket } {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    let firstData: (s: string) => void = () => {};
    const got = new Promise<string>((r) => (firstData = r));
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      data += d;
      if (data.endsWith('\r\n')) firstData(data);
    });
    sock.on('error', () => {});
    const closed = new Promise<string>((r) => sock.on('close', () => r(data)));
    return { got, closed, sock };
  }

  it('sends DIEMSG with CRLF, holds at most maxPending clients, closes the rest at once', async () => {
    const closer = new DelayedCloser(600_000, 2);
    const held: boolean[] = [];
    const { server, port } = await listen((s) => held.push(closer.close(s, '421 busy', true)));
    const a = client(port);
    assert.equal(await a.got, '421 busy\r\n');
    const b = client(port);
    assert.equal(await b.got, '421 busy\r\n');
    assert.equal(closer.pending, 2);
    const c = client(port);
    assert.equal(await c.closed, '421 busy\r\n', 'past the bound: message, then closed at once');
    assert.deepEqual(held, [true, true, false]);
    assert.equal(closer.pending, 2);
    assert.equal(a.sock.readyState, 'open', 'the delayed ones are still open');
    a.sock.destroy();
    b.sock.destroy();
    server.close();
  });
  it('closes a delayed client once its delay is over, and without a message sends nothing', async () => {
    const closer = new DelayedCloser(100, 10);
    const { server, port } = await listen((s) => closer.close(s, '', true));
    const a = client(port);
    assert.equal(await a.closed, '');
    assert.equal(closer.pending, 0);
    const c2 = new DelayedCloser(100, 10);
    server.removeAllListeners('connection');
    server.on('connection', (s: Socket) => c2.close(s, 'bye', false));
    const b = client(port);
    assert.equal(await b.closed, 'bye\r\n');
    assert.equal(c2.pending, 0, 'not delayed when not asked');
    server.close();
  });
});

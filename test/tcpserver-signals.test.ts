// tcpserver's signals next to the C tcpserver's: for each way it can be started (plain, under nohup,
// as a `&` job of a script, with everything ignored, with signals blocked), which signals end it and
// which it outlives, and what signal state its programs get. Node resets inherited ignored signals
// before our code runs; bin/tcpserver's shim and src/signals.ts put them back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { C, deliberate, fates, OURS, programSignals, start, STARTS } from '../bench/reliability/signals';
import { parseShimSignals, serverProgramSignals, signalsOfMask } from '../src/signals';
import { needC } from './support/programs';

describe('the signal masks the shim passes', () => {
  it('reads /proc hex masks, bit n-1 for signal n, never KILL or STOP', () => {
    assert.deepEqual(signalsOfMask('0000000000000001'), [1]);
    assert.deepEqual(signalsOfMask('0000000000001006'), [2, 3, 13]);
    assert.deepEqual(signalsOfMask('0000000000040100'), []);
    assert.deepEqual(signalsOfMask('8000000000000000'), [64]);
    assert.deepEqual(signalsOfMask('zz'), []);
    assert.deepEqual(parseShimSignals(undefined), { ignored: [], blocked: [] });
    assert.deepEqual(parseShimSignals('1 800'), { ignored: [1], blocked: [12] });
  });
  it("gives programs 0.88's child state: PIPE, TERM and CHLD at default, CHLD unblocked", () => {
    assert.deepEqual(serverProgramSignals({ ignored: [1, 13, 15, 17, 28], blocked: [12, 17] }), { ignored: [1, 28], blocked: [12] });
  });
});

describe('tcpserver signals next to the C tcpserver', { skip: needC('tcpserver') }, () => {
  for (const [name, how] of Object.entries(STARTS)) {
    it(`${name}: the same signals end it, the same it outlives`, async () => {
      const rows = await fates(how);
      const differ = rows.filter((r) => r.c !== r.mine && !deliberate(name, r.n));
      assert.deepEqual(differ, [], differ.map((r) => `${r.sig}: C ${r.c}, ours ${r.mine}`).join('\n'));
      // the table must show something: the plain server dies of SIGHUP, everything else ignored outlives it
      const hup = rows.find((r) => r.sig === 'SIGHUP')!;
      assert.equal(hup.mine, name === 'plain' || name === 'a & job of a script' ? 'dies of SIGHUP' : 'lives');
      assert.equal(rows.find((r) => r.sig === 'SIGTERM')!.mine, 'exits 0');
    });
    it(`${name}: its programs get the signal state the C tcpserver's get`, async () => {
      const [c, mine] = await Promise.all([start(C, how), start(OURS, how)]);
      let fromC, fromOurs;
      try {
        [fromC, fromOurs] = await Promise.all([programSignals(c), programSignals(mine)]);
      } finally {
        await Promise.all([c.stop(), mine.stop()]);
      }
      const comparable = (s: { ignored: number[]; blocked: number[] }) => ({
        ignored: s.ignored.filter((n) => !deliberate(name, n)),
        blocked: s.blocked,
      });
      assert.deepEqual(comparable(fromOurs), comparable(fromC));
    });
  }
});

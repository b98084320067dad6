// The reliability suite's short version for sslserver, ours and ucspi-ssl 0.95b's where it is
// installed (../shared/peers/ucspi-ssl; its half is skipped without it): garbage instead of a
// ClientHello, handshakes left half open for -T, resets mid-handshake and mid-session, clients that
// never read endless output (memory sampled), close_notify at once, a soak over TLS, and (ours only,
// 0.95b has no limits) MAXCONNIP after each fault. The long version: npm run reliability
// (bench/reliability/tls.ts).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { seeded } from '../bench/reliability/fuzz';
import {
  SslImpl,
  sslImpls,
  tlsEarlyCloseNotify,
  tlsGarbage,
  tlsHalfOpen,
  tlsLimitsAfterFaults,
  tlsResets,
  tlsSlowReaders,
  tlsSoak,
} from '../bench/reliability/tls';
import { tempDir } from './support/tmp';
import { NEED_OPENSSL, NEED_UCSPI_SSL } from './support/tls';

const DIR = tempDir();
const SEED = 20261201;

function clean(r: { violations: string[]; figures: object }): void {
  assert.deepEqual(r.violations, [], JSON.stringify(r.figures));
}

describe('TLS faults, ours and the C sslserver', { skip: NEED_OPENSSL }, () => {
  const impls: { ours?: SslImpl; c?: SslImpl | null } = {};
  before(async () => {
    const { ours: o, c } = await sslImpls(DIR);
    Object.assign(impls, { ours: o, c });
  });
  for (const impl of ['ours', 'C'] as const) {
    const skip = impl === 'C' ? NEED_UCSPI_SSL : false;
    const pick = () => (impl === 'C' ? impls.c : impls.ours) as SslImpl;
    describe(impl, { skip }, () => {
      it('20 clients send garbage instead of a ClientHello: each dropped, no program', async () =>
        clean(await tlsGarbage(pick(), 20, seeded(SEED))));
      it('10 silent after connecting, 10 after a ClientHello: -T 1 ends them all', async () => clean(await tlsHalfOpen(pick(), 10)));
      it('10 reset mid-handshake, 10 mid-session: every program ends', async () => clean(await tlsResets(pick(), 10)));
      it('10 never read endless output: the memory stops growing, 10 others served meanwhile', async () =>
        clean(await tlsSlowReaders(pick(), 10, 3)));
      it('10 send close_notify at once: each still gets the 200 kB the program writes', async () =>
        clean(await tlsEarlyCloseNotify(pick(), 10)));
      it('a soak of 300 TLS sessions at 10 clients: all served, the log paired, no child or zombie left', async () => {
        const r = await tlsSoak(pick(), 300, 10);
        assert.equal(r.served, 300);
        assert.deepEqual([r.log.from, r.log.end, r.log.unpaired], [300, 300, 0]);
        assert.deepEqual([r.children.after, r.zombies.after], [0, 0]);
        assert.equal(r.fds.after, r.fds.idle);
      });
    });
  }
  it('ours, -C 1: after each fault from an address, the next client from it gets in', async () =>
    clean(await tlsLimitsAfterFaults(impls.ours as SslImpl, 1)));
});

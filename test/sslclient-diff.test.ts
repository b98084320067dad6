// sslclient next to the C one (fehcom ucspi-ssl 0.95b): the program's environment with -e, -s, both
// and neither over IPv4 and IPv6, TLS 1.2 and 1.3, exit codes passed through, and the messages for an
// untrusted server, a refused connection and a program that cannot run. Modulo ports and library
// versions.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ours, run, RunResult } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { cSsl, makeTestPki, NEED_OPENSSL, NEED_UCSPI_SSL, sServer, TestPki } from './support/tls';

const SKIP = NEED_OPENSSL || NEED_UCSPI_SSL;
const pkiReady = SKIP ? null : makeTestPki();
let pki: TestPki;
const ENV = { PATH: process.env.PATH };

function programEnv(out: Buffer): Record<string, string> {
  const m: Record<string, string> = {};
  for (const entry of out.toString('latin1').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    let value = entry.slice(eq + 1);
    if (!/^(PROTO|SSL|TCP)/.test(name) || /^SSL_CERT_(FILE|DIR)$/.test(name)) continue;
    if (/LOCALPORT$/.test(name)) value = 'PORT';
    if (name === 'SSL_VERSION_LIBRARY') value = value.replace(/^OpenSSL 3\..*/, 'OpenSSL 3');
    m[name] = value;
  }
  return m;
}

async function both(args: string[]): Promise<[RunResult, RunResult]> {
  return [await run(ours('sslclient'), args, { env: ENV }), await run(cSsl('sslclient'), args, { env: ENV })];
}

describe('sslclient next to ucspi-ssl 0.95b', { skip: SKIP }, () => {
  const servers: Record<string, RunningServer> = {};
  before(async () => {
    pki = (await pkiReady) as TestPki;
    servers['1.3'] = await startServer(ours('sslserver'), ['-1', '-R', '-H', '-l', 'L', '0', '0', 'sh', '-c', 'echo hello; exec cat'], {
      env: { ...ENV, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
  });

  for (const flags of [[], ['-e'], ['-s'], ['-e', '-s']]) {
    for (const host of ['127.0.0.1', '::1']) {
      it(`sets the same environment with [${flags.join(' ')}] connecting to ${host}`, async () => {
        const [mine, theirs] = await both([
          ...flags,
          '-N',
          '-R',
          '-H',
          '-l',
          'here',
          '-a',
          pki.ca,
          host,
          String(servers['1.3'].port),
          'sh',
          '-c',
          'exec 7>&-; env -0',
        ]);
        assert.equal(mine.status, 0, mine.stderr.toString());
        assert.equal(theirs.status, 0, theirs.stderr.toString());
        assert.deepEqual(programEnv(mine.stdout), programEnv(theirs.stdout));
      });
    }
  }

  it('sets the same SSL_* over a TLS 1.2 session (the session id too)', async () => {
    const envOver12 = async (bin: string) => {
      // one cipher: the two clients offer theirs in different orders
      const s = await sServer(['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384', '-cert', pki.rsa.cert, '-key', pki.rsa.key]);
      const r = await run(
        bin,
        ['-s', '-N', '-R', '-H', '-l', 'here', '-a', pki.ca, '127.0.0.1', String(s.port), 'sh', '-c', 'exec 7>&-; env -0'],
        { env: ENV },
      );
      assert.equal(r.status, 0, r.stderr.toString());
      await s.done;
      return programEnv(r.stdout);
    };
    const m = await envOver12(ours('sslclient'));
    const t = await envOver12(cSsl('sslclient'));
    // a server each
    m.SSLREMOTEPORT = t.SSLREMOTEPORT = 'PORT';
    assert.equal(m.SSL_PROTOCOL, 'TLSv1.2');
    assert.match(m.SSL_SESSION_ID, /^[0-9a-f]{64}$/);
    assert.match(t.SSL_SESSION_ID, /^[0-9a-f]{64}$/);
    delete m.SSL_SESSION_ID;
    delete t.SSL_SESSION_ID;
    assert.deepEqual(m, t);
  });

  it("exits with the program's exit code alike", async () => {
    // -N: ucspi-ssl matches no IP address in a certificate (see doc/sslclient.md)
    const [mine, theirs] = await both(['-N', '-R', '-H', '-a', pki.ca, '127.0.0.1', String(servers['1.3'].port), 'sh', '-c', 'exit 7']);
    assert.equal(mine.status, 7);
    assert.equal(theirs.status, 7);
  });

  for (const [what, args] of [
    ['an untrusted server', () => ['-R', '-H', '-a', pki.stranger.cert, '127.0.0.1', String(servers['1.3'].port), 'true']],
    ['a refused connection', () => ['-R', '-H', '-X', '127.0.0.1', '1', 'true']],
    ['a program it cannot run', () => ['-R', '-H', '-X', '127.0.0.1', String(servers['1.3'].port), '/nonexistent/program']],
    [
      'a certificate file that is missing',
      () => ['-R', '-H', '-X', '-c', '/nonexistent/cert.pem', '127.0.0.1', String(servers['1.3'].port), 'true'],
    ],
    ['a bad option', () => ['-Y', '127.0.0.1', '1', 'true']],
  ] as const) {
    it(`says the same for ${what}, with the same exit code`, async () => {
      const [mine, theirs] = await both([...args()]);
      assert.equal(mine.stderr.toString(), theirs.stderr.toString());
      assert.equal(mine.status, theirs.status);
    });
  }
});

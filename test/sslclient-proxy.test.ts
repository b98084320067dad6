// sslclient -P 1|2: the PROXY header written on the TCP connection before the TLS handshake (as
// tcpclient -P), read by our sslserver with PROXYFROM, and by HAProxy (accept-proxy, TCP mode) passing
// the TLS stream on to sslserver with a header of its own.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { NEED_HAPROXY, startHaproxy } from './support/haproxy';
import { ours, run } from './support/programs';
import { parseEnvOutput, startServer } from './support/server';
import { tempDir } from './support/tmp';
import { makeTestPki, NEED_OPENSSL, TestPki } from './support/tls';

const SSLCLIENT = ours('sslclient');
const SSLSERVER = ours('sslserver');
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;
const REPORT = [
  'sh',
  '-c',
  'echo "SSLREMOTEIP=$SSLREMOTEIP"; echo "SSLREMOTEPORT=$SSLREMOTEPORT"; echo "SSLLOCALIP=$SSLLOCALIP"; echo "SSLLOCALPORT=$SSLLOCALPORT"',
];

function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key, ...extra };
}

describe('sslclient -P', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it('-P1 and -P2 pass on the connection it runs under (TCPREMOTEIP ...), the header before the handshake', async () => {
    const s = await startServer(SSLSERVER, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', ...REPORT], {
      env: serverEnv({ PROXYFROM: '127.0.0.1' }),
    });
    for (const version of ['1', '2']) {
      const given = { TCPREMOTEIP: '203.0.113.9', TCPREMOTEPORT: '4711', TCPLOCALIP: '192.0.2.25', TCPLOCALPORT: '465' };
      const r = await run(SSLCLIENT, ['-R', '-H', '-a', pki.ca, '-P', version, '127.0.0.1', String(s.port), 'sh', '-c', 'exec cat <&6'], {
        env: { PATH: process.env.PATH, ...given },
      });
      assert.equal(r.stderr.toString(), '');
      assert.equal(r.status, 0);
      assert.deepEqual(Object.fromEntries(parseEnvOutput(r.stdout.toString())), {
        SSLREMOTEIP: '203.0.113.9',
        SSLREMOTEPORT: '4711',
        SSLLOCALIP: '192.0.2.25',
        SSLLOCALPORT: '465',
      });
    }
  });

  it('without TCPREMOTEIP, its own connection', async () => {
    const s = await startServer(SSLSERVER, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', ...REPORT], {
      env: serverEnv({ PROXYFROM: '127.0.0.1' }),
    });
    const r = await run(
      SSLCLIENT,
      ['-R', '-H', '-a', pki.ca, '-P2', '127.0.0.1', String(s.port), 'sh', '-c', 'echo "$SSLLOCALPORT" >&2; exec cat <&6'],
      {
        env: { PATH: process.env.PATH },
      },
    );
    assert.equal(r.status, 0, r.stderr.toString());
    const env = parseEnvOutput(r.stdout.toString());
    assert.equal(env.get('SSLREMOTEIP'), '127.0.0.1');
    assert.equal(env.get('SSLREMOTEPORT'), r.stderr.toString().trim());
  });

  it('a header that cannot be made stops sslclient before the handshake; a bad version is a usage error', async () => {
    const s = await startServer(SSLSERVER, ['-1', '-v', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'echo', 'ran'], {
      env: serverEnv({ PROXYFROM: '127.0.0.1' }),
    });
    const bad = await run(SSLCLIENT, ['-R', '-H', '-a', pki.ca, '-P1', '127.0.0.1', String(s.port), 'echo', 'ran'], {
      env: { PATH: process.env.PATH, TCPREMOTEIP: '203.0.113.9', TCPREMOTEPORT: '65536', TCPLOCALIP: '192.0.2.1', TCPLOCALPORT: '25' },
    });
    assert.equal(bad.status, 111);
    assert.equal(bad.stderr.toString(), 'sslclient: fatal: unable to make PROXY header: TCPREMOTEPORT=65536 is not a port\n');
    assert.equal(bad.stdout.length, 0);
    await s.waitForLine(/dropping SSL connection, unable to read PROXY header: end of file$/);
    const usage = await run(SSLCLIENT, ['-P3', '127.0.0.1', '1', 'true']);
    assert.equal(usage.status, 100);
    assert.match(usage.stderr.toString(), /^sslclient: usage: /);
  });

  it('through HAProxy (accept-proxy, TCP mode, send-proxy-v2 to sslserver): the program sees the client sslclient named', {
    skip: NEED_HAPROXY,
  }, async () => {
    const s = await startServer(SSLSERVER, ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', ...REPORT], {
      env: serverEnv({ PROXYFROM: '127.0.0.1' }),
    });
    const h = await startHaproxy(tempDir(), [
      { name: 'tls', bindOptions: 'accept-proxy', serverOptions: 'send-proxy-v2', to: `127.0.0.1:${s.port}` },
    ]);
    const given = { TCPREMOTEIP: '198.51.100.7', TCPREMOTEPORT: '5555', TCPLOCALIP: '192.0.2.25', TCPLOCALPORT: '465' };
    const r = await run(SSLCLIENT, ['-R', '-H', '-a', pki.ca, '-P2', '127.0.0.1', String(h.ports.tls), 'sh', '-c', 'exec cat <&6'], {
      env: { PATH: process.env.PATH, ...given },
    });
    assert.equal(r.status, 0, r.stderr.toString());
    const env = parseEnvOutput(r.stdout.toString());
    assert.equal(env.get('SSLREMOTEIP'), '198.51.100.7');
    assert.equal(env.get('SSLREMOTEPORT'), '5555');
  });
});

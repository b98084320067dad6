// sslserver behind HAProxy in TCP mode, TLS passed through: the PROXY header comes before the TLS
// handshake, and the program sees the real client in SSLREMOTEIP (and TCPREMOTEIP with -e), as
// ucspi-ssl names them. sslserver is issue 10's; until it is built this file skips.
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { NEED_HAPROXY, startHaproxy } from './support/haproxy';
import { cBinary, ours } from './support/programs';
import { readUntilClosed, startServer } from './support/server';
import { selfSigned } from './support/tls';
import { tempDir } from './support/tmp';

const SSLSERVER = ours('sslserver');
const SKIP =
  NEED_HAPROXY ||
  (existsSync(SSLSERVER) ? false : 'bin/sslserver not built yet (issue 10)') ||
  (cBinary('openssl') ? false : 'openssl not installed');

function ask(port: number, host: string, localAddress: string): Promise<string> {
  const tcp = tcpConnect({ port, host, localAddress });
  return readUntilClosed(tlsConnect({ socket: tcp, rejectUnauthorized: false, servername: 'test.example' }));
}

describe('sslserver behind HAProxy (TLS passed through, PROXY before the handshake)', { skip: SKIP }, () => {
  it('clients from 127.0.0.2 and ::1 appear as themselves', async () => {
    const dir = tempDir();
    const { cert, key } = await selfSigned(dir, 'server', '/CN=test.example');
    const s = await startServer(
      SSLSERVER,
      ['-v', '-1', '-e', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'echo "$SSLREMOTEIP $TCPREMOTEIP"'],
      {
        env: { ...process.env, PROXYFROM: '127.0.0.1', CERTFILE: cert, KEYFILE: key },
      },
    );
    const h = await startHaproxy(dir, [{ name: 'tls', serverOptions: 'send-proxy-v2', to: `127.0.0.1:${s.port}` }]);
    assert.equal(await ask(h.ports.tls, '127.0.0.1', '127.0.0.2'), '127.0.0.2 127.0.0.2\n');
    assert.equal(await ask(h.ports.tls, '::1', '::1'), '::1 ::1\n');
    await s.waitForLine(/ ok \d+ L:127\.0\.0\.1:\d+ :127\.0\.0\.2::\d+$/);
  });
});

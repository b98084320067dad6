// sslcat, sslconnect and https@, the shell scripts ucspi-ssl ships, on our sslclient, against our
// sslserver: their defaults (-6, port 443, host 0), what they send and print, args passed to sslclient.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ours, run } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { makeTestPki, NEED_OPENSSL, TestPki } from './support/tls';

const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;
const ENV = { PATH: process.env.PATH };

describe('sslcat, sslconnect, https@', { skip: NEED_OPENSSL }, () => {
  const serve = (program: string[]): Promise<RunningServer> =>
    startServer(ours('sslserver'), ['-1', '-R', '-H', '-l', 'L', '0', '0', ...program], {
      env: { ...ENV, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it('sslcat prints what the server sends, over IPv6 by default and IPv4 with -4; later arguments go to sslclient', async () => {
    const s = await serve(['sh', '-c', 'echo "hello $SSLREMOTEIP"']);
    const six = await run(ours('sslcat'), ['::1', String(s.port), '-a', pki.ca], { env: ENV });
    assert.equal(six.stdout.toString(), 'hello ::1\n', six.stderr.toString());
    const four = await run(ours('sslcat'), ['-4', '127.0.0.1', String(s.port), '-a', pki.ca], { env: ENV });
    assert.equal(four.stdout.toString(), 'hello 127.0.0.1\n', four.stderr.toString());
    // the server's certificate is checked unless told otherwise
    const untrusted = await run(ours('sslcat'), ['::1', String(s.port), '-a', pki.stranger.cert], { env: ENV });
    assert.equal(untrusted.status, 111);
  });

  it('sslconnect sends each typed line with CR LF and prints the answers', async () => {
    // the server shows a CR as ^
    const s = await serve(['sh', '-c', 'read l; printf "got [%s]\\n" "$l" | tr "\\r" "^"']);
    const r = await run(ours('sslconnect'), ['::1', String(s.port), '-a', pki.ca], { env: ENV, input: 'hello\n' });
    assert.equal(r.stdout.toString(), 'got [hello^]\n', r.stderr.toString());
  });

  it('https@ asks for the page with GET and Host, and prints the body without CRs', async () => {
    const s = await serve([
      'sh',
      '-c',
      'read req; host=; read host; req=$(echo "$req" | tr -d "\\r"); host=$(echo "$host" | tr -d "\\r"); printf "HTTP/1.0 200 OK\\r\\nServer: x\\r\\n\\r\\n[%s]\\r\\n[%s]\\r\\n" "$req" "$host"',
    ]);
    const r = await run(ours('https@'), ['::1', 'some/page', String(s.port)], { env: ENV });
    assert.equal(r.stdout.toString(), `[GET /some/page HTTP/1.0]\n[Host: ::1:${s.port}]\n`, r.stderr.toString());
  });
});

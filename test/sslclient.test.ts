// sslclient end to end: against openssl s_server and our sslserver, the program on fds 6 and 7 behind
// the relay, the server's certificate checked (trust, depth, name), a client certificate, the
// environment, exit statuses passed through, and its messages.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ours, run } from './support/programs';
import { parseEnvOutput, RunningServer, startServer } from './support/server';
import { makeTestPki, NEED_OPENSSL, sServer, TestPki } from './support/tls';

const SSLCLIENT = ours('sslclient');
const SSLSERVER = ours('sslserver');
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;
const ENV = { PATH: process.env.PATH };

describe('sslclient', { skip: NEED_OPENSSL }, () => {
  let echo: RunningServer;
  before(async () => {
    pki = (await pkiReady) as TestPki;
    // answers what it read once its input ends, so the client's half-close is seen
    echo = await startServer(
      SSLSERVER,
      ['-1', '-R', '-H', '-l', 'L', '0', '0', 'sh', '-c', 'echo "hello $SSLREMOTEIP"; n=$(wc -c); echo "read $n"'],
      {
        env: { ...ENV, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
      },
    );
  });

  it('talks to openssl s_server: the program writes to fd 7 and reads fd 6', async () => {
    const s = await sServer(['-cert', pki.ecdsa.cert, '-key', pki.ecdsa.key, '-rev']);
    const r = await run(
      SSLCLIENT,
      ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(s.port), 'sh', '-c', 'echo abc >&7; read l <&6; echo "got $l"'],
      { env: ENV },
    );
    assert.equal(r.stderr.toString(), '');
    assert.equal(r.stdout.toString(), 'got cba\n');
    assert.equal(r.status, 0);
  });

  it("ends only its side at the program's end of output, and still gives the program the server's answer", async () => {
    const r = await run(
      SSLCLIENT,
      ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(echo.port), 'sh', '-c', 'printf twelve_bytes >&7; exec 7>&-; cat <&6'],
      { env: ENV },
    );
    assert.equal(r.stdout.toString(), 'hello 127.0.0.1\nread 12\n');
    assert.equal(r.status, 0);
  });

  it('sets PROTO=SSL and the SSL* variables, TCP* too with -e, the server certificate with -s', async () => {
    const env = async (flags: string[]) => {
      const r = await run(
        SSLCLIENT,
        [...flags, '-R', '-H', '-l', 'here', '-a', pki.ca, '127.0.0.1', String(echo.port), 'sh', '-c', 'exec 7>&-; env'],
        { env: ENV },
      );
      assert.equal(r.status, 0, r.stderr.toString());
      return parseEnvOutput(r.stdout.toString());
    };
    const plain = await env([]);
    assert.equal(plain.get('PROTO'), 'SSL');
    assert.equal(plain.get('SSLLOCALHOST'), 'here');
    assert.equal(plain.get('SSLREMOTEIP'), '127.0.0.1');
    assert.equal(plain.get('SSLREMOTEPORT'), String(echo.port));
    assert.ok(!plain.has('TCPREMOTEIP') && !plain.has('SSL_PROTOCOL'));
    const tcp = await env(['-e']);
    assert.equal(tcp.get('PROTO'), 'SSL', 'ucspi-ssl leaves PROTO at SSL with -e');
    assert.equal(tcp.get('TCPREMOTEIP'), '127.0.0.1');
    assert.equal(tcp.get('TCPLOCALPORT'), tcp.get('SSLLOCALPORT'));
    const ssl = await env(['-s']);
    assert.equal(ssl.get('SSL_PROTOCOL'), 'TLSv1.3');
    assert.equal(ssl.get('SSL_SERVER_S_DN_CN'), 'localhost');
    assert.equal(ssl.get('SSL_SERVER_I_DN'), '/CN=ucspi-ts test CA');
    assert.equal(ssl.get('SSL_SERVER_CERT_CHAIN_0'), '-----BEGIN CERTIFICATE-----', 'the chain as the server sent it, its own first');
    assert.ok(!ssl.has('SSL_SERVER_CERT_CHAIN_1'), 'the root is not part of it');
    const six = await env(['-6']);
    assert.equal(six.get('PROTO'), 'SSL6');
    assert.equal(six.get('SSLREMOTEIP'), '::ffff:127.0.0.1');
  });

  it("exits with the program's exit code, and dies of its signal", async () => {
    const seven = await run(SSLCLIENT, ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(echo.port), 'sh', '-c', 'exit 7'], { env: ENV });
    assert.equal(seven.status, 7);
    const killed = await run(SSLCLIENT, ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(echo.port), 'sh', '-c', 'kill -TERM $$'], {
      env: ENV,
    });
    assert.equal(killed.signal, 'SIGTERM');
  });

  it('refuses a server it cannot verify, or one whose certificate does not name the host; -N and -X relent', async () => {
    const args = (flags: string[], host = '127.0.0.1') => [...flags, '-R', '-H', host, String(echo.port), 'true'];
    const untrusted = await run(SSLCLIENT, args(['-a', pki.stranger.cert]), { env: ENV });
    assert.equal(untrusted.stderr.toString(), 'sslclient: fatal: missing credentials (CA) or unable to validate server certificate\n');
    assert.equal(untrusted.status, 111);
    const defaultRoots = await run(SSLCLIENT, args([]), { env: ENV });
    assert.equal(defaultRoots.status, 111, 'a private CA is not among the built-in roots');
    assert.equal((await run(SSLCLIENT, args(['-X']), { env: ENV })).status, 0);
    // the certificate names localhost, 127.0.0.1 and ::1, not 127.0.0.2
    const wrongName = await run(SSLCLIENT, args(['-a', pki.ca, '-i', '127.0.0.1'], '127.0.0.2'), { env: ENV });
    assert.equal(wrongName.status, 111);
    assert.match(
      wrongName.stderr.toString(),
      /^sslclient: (fatal: server hostname does not match certificate: 127\.0\.0\.2|unable to connect to 127\.0\.0\.2 port \d+: connection refused)\n$/,
    );
    const v6 = await run(SSLCLIENT, args(['-a', pki.ca], '::1'), { env: ENV });
    assert.equal(v6.status, 0, v6.stderr.toString());
  });

  it('checks the name against a certificate that does not carry it, and -N skips the check', async () => {
    const s = await sServer(['-cert', pki.other.cert, '-key', pki.other.key]);
    const r = await run(SSLCLIENT, ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(s.port), 'true'], { env: ENV });
    assert.equal(r.stderr.toString(), 'sslclient: fatal: server hostname does not match certificate: 127.0.0.1\n');
    assert.equal(r.status, 111);
    const t = await sServer(['-cert', pki.other.cert, '-key', pki.other.key]);
    assert.equal((await run(SSLCLIENT, ['-N', '-R', '-H', '-a', pki.ca, '127.0.0.1', String(t.port), 'true'], { env: ENV })).status, 0);
  });

  it('presents a client certificate with -c and -k to a server that requires one', async () => {
    // an s_server that requires a certificate signed by the test CA
    const requiring = (...more: string[]) =>
      sServer(['-cert', pki.rsa.cert, '-key', pki.rsa.key, '-Verify', '1', '-CAfile', pki.ca, '-verify_return_error', ...more]);
    const s = await requiring('-rev');
    const r = await run(
      SSLCLIENT,
      [
        '-R',
        '-H',
        '-a',
        pki.ca,
        '-c',
        pki.client.cert,
        '-k',
        pki.client.key,
        '127.0.0.1',
        String(s.port),
        'sh',
        '-c',
        'echo xyz >&7; read l <&6; echo "$l"',
      ],
      {
        env: ENV,
      },
    );
    assert.equal(r.stdout.toString(), 'zyx\n', r.stderr.toString());
    assert.match(await s.done, /client\.example/);
    // TLS 1.2: the server's refusal comes inside the handshake (1.3 sends it after)
    const without = await requiring('-tls1_2');
    const refused = await run(SSLCLIENT, ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(without.port), 'sh', '-c', 'cat <&6'], {
      env: ENV,
    });
    assert.match(refused.stderr.toString(), /^sslclient: fatal: unable to SSL connect: error:[0-9A-F]{8}:SSL routines::/);
    assert.equal(refused.status, 111);
  });

  it('says why it cannot start: a bad certificate, a key that does not match, a program it cannot run, usage', async () => {
    const base = ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(echo.port)];
    const noCert = await run(SSLCLIENT, ['-c', '/nonexistent.pem', ...base, 'true'], { env: ENV });
    assert.equal(noCert.stderr.toString(), 'sslclient: fatal: unable to load certificate\n');
    assert.equal(noCert.status, 111);
    const mismatch = await run(SSLCLIENT, ['-c', pki.client.cert, '-k', pki.rsa.key, ...base, 'true'], { env: ENV });
    assert.equal(mismatch.stderr.toString(), 'sslclient: fatal: unable to load key pair\n');
    const unrun = await run(SSLCLIENT, [...base, '/nonexistent/program'], { env: ENV });
    assert.equal(unrun.stderr.toString(), 'sslclient: fatal: unable to run /nonexistent/program: file does not exist\n');
    assert.equal(unrun.status, 111);
    const usage = await run(SSLCLIENT, ['-Y'], { env: ENV });
    assert.equal(usage.status, 100);
    assert.match(usage.stderr.toString(), /^sslclient: illegal option -- Y\nsslclient: usage: sslclient \[ -463hHrRdDqQveEsSnNxX \]/);
  });

  it('works without FFI (UCSPI_TS_NO_FFI: child_process, no poll), on both sides, half-close and exit status included', async () => {
    const noFfi = { ...ENV, UCSPI_TS_NO_FFI: '1' };
    const s = await startServer(
      SSLSERVER,
      ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'n=$(wc -c); echo "read $n"; exit 3'],
      {
        env: { ...noFfi, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
      },
    );
    const r = await run(
      SSLCLIENT,
      ['-R', '-H', '-a', pki.ca, '127.0.0.1', String(s.port), 'sh', '-c', 'printf abcd >&7; exec 7>&-; cat <&6; exit 5'],
      { env: noFfi },
    );
    assert.equal(r.stdout.toString(), 'read 4\n', r.stderr.toString());
    assert.equal(r.status, 5);
  });

  it('says so when the server does not speak TLS', async () => {
    const plain = await startServer(ours('tcpserver'), ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'echo', 'SSH-2.0-plain'], {
      env: ENV,
    });
    const r = await run(SSLCLIENT, ['-X', '-R', '-H', '127.0.0.1', String(plain.port), 'true'], { env: ENV });
    assert.equal(r.stderr.toString(), 'sslclient: fatal: unable to SSL connect: error:0A00010B:SSL routines::wrong version number\n');
    assert.equal(r.status, 111);
  });
});

// tcpserver -s -S -n certfile, the ssl20020705 patch's interface on our TLS step: key and certificate
// from one PEM file (./cert.pem by default), tcpserver's own environment (no SSL* variables), the
// banner inside TLS where the patch sent it in clear, the patch's messages.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ours, run } from './support/programs';
import { parseEnvOutput, startServer } from './support/server';
import { tempDir } from './support/tmp';
import { makeTestPki, NEED_OPENSSL, TestPki, tlsExchange } from './support/tls';

const TCPSERVER = ours('tcpserver');
const DIR = tempDir();
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;
const ENV = { PATH: process.env.PATH };

describe('tcpserver -s (the TLS patch)', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it("serves TLS with the key and certificate of -n's one file, and the program sees tcpserver's environment", async () => {
    const s = await startServer(
      TCPSERVER,
      [
        '-1',
        '-s',
        '-n',
        pki.rsa.combined,
        '-R',
        '-H',
        '-l',
        'L',
        '127.0.0.1',
        '0',
        'sh',
        '-c',
        'env | grep -E "^(PROTO|SSL|TCP)" | grep -v "^SSL_CERT_"',
      ],
      {
        env: ENV,
      },
    );
    const x = await tlsExchange(s.port, { ca: pki.ca });
    assert.equal(x.protocol, 'TLSv1.3');
    const env = parseEnvOutput(x.data.toString());
    assert.deepEqual([...env.keys()].sort(), ['PROTO', 'TCPLOCALHOST', 'TCPLOCALIP', 'TCPLOCALPORT', 'TCPREMOTEIP', 'TCPREMOTEPORT']);
    assert.equal(env.get('PROTO'), 'TCP');
  });

  it('reads ./cert.pem by default, relative to where tcpserver runs; -S turns TLS off again', async () => {
    const cwd = join(DIR, 'default');
    await run('mkdir', ['-p', cwd]);
    copyFileSync(pki.ecdsa.combined, join(cwd, 'cert.pem'));
    const s = await startServer(TCPSERVER, ['-1', '-s', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'echo', 'secret'], { env: ENV, cwd });
    assert.equal((await tlsExchange(s.port, { ca: pki.ca })).data.toString(), 'secret\n');
    const plain = await startServer(TCPSERVER, ['-1', '-s', '-S', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'echo', 'clear'], {
      env: ENV,
      cwd,
    });
    const got = await new Promise<string>((resolve) => {
      let out = '';
      const c = connect(plain.port, '127.0.0.1');
      c.on('data', (d) => (out += d));
      c.on('close', () => resolve(out));
    });
    assert.equal(got, 'clear\n');
  });

  it('sends the -B banner inside TLS (the patch wrote it in clear, before the handshake)', async () => {
    const s = await startServer(
      TCPSERVER,
      ['-1', '-s', '-n', pki.rsa.combined, '-B', '220 hello\r\n', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'echo', 'then the program'],
      {
        env: ENV,
      },
    );
    assert.equal((await tlsExchange(s.port, { ca: pki.ca })).data.toString(), '220 hello\r\nthen the program\n');
  });

  it("drops a client that talks garbage with the patch's warning and no program", async () => {
    const marker = join(DIR, 'ran');
    const s = await startServer(
      TCPSERVER,
      ['-1', '-v', '-s', '-n', pki.rsa.combined, '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'touch', marker],
      { env: ENV },
    );
    await new Promise<void>((resolve) => {
      const c = connect(s.port, '127.0.0.1', () => c.write('EHLO plain\r\n'));
      c.on('error', () => {});
      c.on('close', () => resolve());
      c.resume();
    });
    await s.waitForLine(/ end \d+ status 28416$/);
    assert.ok(
      s
        .lines()
        .includes(
          'tcpserver: warning: dropping connection, unable to accept SSL connection: error:0A00010B:SSL routines::wrong version number',
        ),
    );
    assert.ok(!s.lines().some((l) => / ssl \d+ accept/.test(l)), 'no ucspi-ssl lines from tcpserver');
    assert.ok(!existsSync(marker));
  });

  it("fails to start with the patch's messages: a file it cannot read, no key, no certificate", async () => {
    const keyOnly = join(DIR, 'key-only.pem');
    copyFileSync(pki.rsa.key, keyOnly);
    const certOnly = join(DIR, 'cert-only.pem');
    writeFileSync(certOnly, '');
    copyFileSync(pki.rsa.cert, certOnly);
    for (const [file, message] of [
      [join(DIR, 'none.pem'), 'unable to load RSA private key'],
      [certOnly, 'unable to load RSA private key'],
      [keyOnly, 'unable to load certificate'],
    ]) {
      const r = await run(TCPSERVER, ['-s', '-n', file, '127.0.0.1', '0', 'true'], { env: ENV });
      assert.equal(r.stderr.toString(), `tcpserver: fatal: ${message}\n`, file);
      assert.equal(r.status, 111);
    }
  });
});

// The TLS modules on their own: certificate fields against openssl's own reading of the same
// certificates, the DER reader (with properties), cipher key sizes, session ids, the TLS context's
// failures told apart, the password reader, and the sslserver and sslclient command lines.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { AddressInfo, connect, createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { libc, peerGone } from '../src/ffi';
import { certificateFields, certificateVariables, onelineName } from '../src/tls/certificate';
import { makeContext } from '../src/tls/context';
import { children, oidText, readTlv } from '../src/tls/der';
import { readPassword } from '../src/tls/password';
import { cipherBits, sessionIdHex } from '../src/tls/session';
import { parseSslServerArgs } from '../src/tls/sslserver-options';
import { parseSslClientArgs } from '../src/sslclient/options';
import { unknownUcspiTlsRequest } from '../src/tls/messages';
import { encodeReply, ucspiTlsDescriptors, ucspiTlsVariables } from '../src/tls/ucspi-tls';
import { wasInherited } from '../src/inherited';
import { tempDir } from './support/tmp';
import { makeTestPki, NEED_OPENSSL, selfSigned, TestPki } from './support/tls';

const DIR = tempDir();
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'latin1' });
}

describe('certificate variables, next to openssl x509', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  for (const kind of ['rsa', 'ecdsa'] as const) {
    it(`reads an ${kind.toUpperCase()} certificate as openssl does`, () => {
      const file = pki[kind].cert;
      const cert = new X509Certificate(readFileSync(file));
      const vars = new Map(certificateVariables('SSL_SERVER', cert));
      const text = openssl('x509', '-in', file, '-noout', '-text');
      assert.equal(vars.get('SSL_SERVER_M_VERSION'), /Version: (\d+)/.exec(text)![1]);
      assert.equal(
        vars.get('SSL_SERVER_M_SERIAL'),
        BigInt('0x' + openssl('x509', '-in', file, '-noout', '-serial').trim().split('=')[1]).toString(),
      );
      assert.equal(
        vars.get('SSL_SERVER_S_DN'),
        openssl('x509', '-in', file, '-noout', '-subject', '-nameopt', 'compat')
          .trim()
          .replace(/^subject=/, ''),
      );
      assert.equal(
        vars.get('SSL_SERVER_I_DN'),
        openssl('x509', '-in', file, '-noout', '-issuer', '-nameopt', 'compat')
          .trim()
          .replace(/^issuer=/, ''),
      );
      assert.equal(vars.get('SSL_SERVER_A_SIG'), /Signature Algorithm: (\S+)/.exec(text)![1]);
      assert.equal(vars.get('SSL_SERVER_A_KEY'), /Public Key Algorithm: (\S+)/.exec(text)![1]);
      const dates = openssl('x509', '-in', file, '-noout', '-dates');
      assert.equal(vars.get('SSL_SERVER_V_START'), /notBefore=(.*)/.exec(dates)![1]);
      assert.equal(vars.get('SSL_SERVER_V_END'), /notAfter=(.*)/.exec(dates)![1]);
      assert.equal(vars.get('SSL_SERVER_CERT'), openssl('x509', '-in', file));
      assert.equal(vars.get('SSL_SERVER_S_DN_CN'), 'localhost');
      assert.equal(vars.get('SSL_SERVER_I_DN_CN'), 'ucspi-ts test CA');
    });
  }

  it('prints names with bytes outside printable ASCII as \\xHH, as X509_NAME_oneline does', async () => {
    const dir = join(DIR, 'utf8');
    mkdirSync(dir, { recursive: true });
    const { cert: certFile } = await selfSigned(dir, 'utf8', '/O=Müller & Söhne/title=Dr./CN=tést', '-utf8');
    const cert = new X509Certificate(readFileSync(certFile));
    const expected = openssl('x509', '-in', certFile, '-noout', '-subject', '-nameopt', 'compat')
      .trim()
      .replace(/^subject=/, '');
    assert.equal(onelineName(certificateFields(cert.raw).subject), expected);
    assert.match(expected, /M\\xC3\\xBCller/);
    const vars = new Map(certificateVariables('SSL_CLIENT', cert));
    assert.equal(vars.get('SSL_CLIENT_S_DN_T'), 'Dr.');
    assert.equal(vars.get('SSL_CLIENT_S_DN_O'), Buffer.from('Müller & Söhne').toString('latin1'), 'the raw bytes');
  });
});

describe('DER reader', () => {
  /** DER of an OID from its arcs (first two folded). */
  function encodeOid(arcs: number[]): Buffer {
    const out: number[] = [];
    const base128 = (n: number) => {
      const digits = [n & 0x7f];
      for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) digits.unshift((n & 0x7f) | 0x80);
      out.push(...digits);
    };
    base128(arcs[0] * 40 + arcs[1]);
    for (const a of arcs.slice(2)) base128(a);
    return Buffer.from(out);
  }

  it('decodes any OID it is given back to its arcs', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 2), fc.nat(39), fc.array(fc.nat(2 ** 31), { maxLength: 8 }), (a, b, rest) => {
        const arcs = [a, b, ...rest];
        assert.equal(oidText(encodeOid(arcs)), arcs.join('.'));
      }),
    );
  });

  it('reads only within its buffer: any bytes give an element inside it or a RangeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        try {
          const t = readTlv(buf);
          assert.ok(t.end <= buf.length && t.value.length <= buf.length);
          children(t.value);
        } catch (err) {
          assert.ok(err instanceof RangeError, String(err));
        }
      }),
    );
  });

  it('reads long lengths', () => {
    const value = Buffer.alloc(300, 7);
    const t = readTlv(Buffer.concat([Buffer.from([0x04, 0x82, 0x01, 0x2c]), value]));
    assert.equal(t.tag, 0x04);
    assert.ok(t.value.equals(value));
  });
});

describe('session facts', () => {
  it('knows the key sizes of cipher names (SSL_CIPHER_USEKEYSIZE, ALGKEYSIZE)', () => {
    assert.deepEqual(cipherBits('TLS_AES_256_GCM_SHA384'), [256, 256]);
    assert.deepEqual(cipherBits('TLS_AES_128_GCM_SHA256'), [128, 128]);
    assert.deepEqual(cipherBits('TLS_CHACHA20_POLY1305_SHA256'), [256, 256]);
    assert.deepEqual(cipherBits('ECDHE-RSA-AES128-GCM-SHA256'), [128, 128]);
    assert.deepEqual(cipherBits('ECDHE-ECDSA-AES256-SHA384'), [256, 256]);
    assert.deepEqual(cipherBits('DES-CBC3-SHA'), [112, 168]);
    assert.deepEqual(cipherBits('NULL-SHA256'), [0, 0]);
  });

  it("finds the id in a session's DER, and nothing in anything else", () => {
    const id = Buffer.alloc(32, 0xab);
    const fields = Buffer.concat([Buffer.from([2, 1, 1, 2, 2, 3, 4, 4, 2, 0x13, 0x02, 4, 32]), id]);
    const session = Buffer.concat([Buffer.from([0x30, fields.length]), fields]);
    assert.equal(sessionIdHex(session), 'ab'.repeat(32));
    assert.equal(sessionIdHex(Buffer.from([1, 2, 3])), '');
    assert.equal(sessionIdHex(undefined), '');
  });
});

describe('TLS contexts: each failure told apart', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it('makes a context from good files, and names what is wrong with bad ones', () => {
    const failure = (s: Parameters<typeof makeContext>[0]) => {
      const r = makeContext(s);
      return 'failure' in r ? r.failure : 'ok';
    };
    assert.equal(failure({ certFile: pki.rsa.cert, keyFile: pki.rsa.key }), 'ok');
    assert.equal(failure({ certFile: pki.rsa.combined }), 'ok', 'the key in the certificate file');
    assert.equal(failure({ certFile: '/nonexistent' }), 'cert');
    assert.equal(failure({ certFile: pki.rsa.key }), 'cert');
    assert.equal(failure({ chainFile: '/nonexistent' }), 'chain');
    assert.equal(failure({ certFile: pki.rsa.cert, keyFile: '/nonexistent' }), 'key');
    assert.equal(failure({ certFile: pki.rsa.cert, keyFile: pki.ecdsa.key }), 'mismatch');
    assert.equal(failure({ certFile: pki.rsa.cert, keyFile: pki.encryptedKey }), 'key');
    assert.equal(failure({ certFile: pki.rsa.cert, keyFile: pki.encryptedKey, password: Buffer.from('wrong') }), 'key');
    assert.equal(failure({ certFile: pki.rsa.cert, keyFile: pki.encryptedKey, password: Buffer.from(pki.password) }), 'ok');
    assert.equal(failure({ caFile: '/nonexistent' }), 'ca');
    assert.equal(failure({ caDir: '/nonexistent' }), 'ca');
    assert.equal(failure({ caDir: pki.dir }), 'ok', 'a directory with keys and other files in it');
    assert.equal(failure({ dhFile: pki.rsa.cert }), 'dh');
    assert.equal(failure({ ciphers: 'NO-SUCH-CIPHER' }), 'ciphers');
    assert.equal(failure({ ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }), 'ok');
  });

  it('takes DH parameters of 2048 bits and refuses 1024 (OpenSSL 3 refuses them where Node only warns)', () => {
    const dh2048 = join(DIR, 'dh2048.pem');
    const dh1024 = join(DIR, 'dh1024.pem');
    // the RFC 7919 ffdhe2048 group, and a 1024-bit one, without waiting for openssl to find primes
    writeFileSync(
      dh2048,
      execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048'], { encoding: 'latin1' }),
    );
    const r = spawnSync('openssl', ['dhparam', '-dsaparam', '1024'], { encoding: 'latin1' });
    writeFileSync(dh1024, r.stdout);
    assert.ok('context' in makeContext({ dhFile: dh2048 }), 'ffdhe2048 is fine');
    const weak = makeContext({ dhFile: dh1024 });
    assert.ok('failure' in weak && weak.failure === 'dh');
  });
});

describe('the password on fd 3', () => {
  const through = (bytes: Buffer | null) => {
    const file = join(DIR, `pw-${Math.random()}`);
    writeFileSync(file, bytes ?? Buffer.alloc(0));
    const fd = openSync(file, 'r');
    if (bytes === null) closeSync(fd);
    return readPassword(fd);
  };

  it('reads up to the NUL, or to the end; refuses one longer than OpenSSL takes; reports a closed fd', () => {
    assert.deepEqual(through(Buffer.from('secret\0ignored')), { password: Buffer.from('secret') });
    assert.deepEqual(through(Buffer.from('no nul')), { password: Buffer.from('no nul') });
    assert.deepEqual(through(Buffer.from('x'.repeat(2000) + '\0')), { tooLong: true });
    assert.ok('error' in through(null));
  });
});

describe('peerGone', { skip: libc() ? false : 'FFI (koffi) not available' }, () => {
  it('tells a peer that half-closed (still reading) from one that is gone', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    await once(client, 'connect');
    const [peer] = await accepted;
    const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
    const lib = libc()!;
    assert.equal(peerGone(lib, fd), false, 'connected');
    peer.end();
    await once(client, 'end');
    assert.equal(peerGone(lib, fd), false, 'half-closed: it may still read');
    peer.destroy();
    await once(peer, 'close');
    // our write meets the closed socket, which answers with a reset (not reading: Node would see
    // the reset first and close the descriptor)
    client.pause();
    client.on('error', () => {});
    client.write('anyone there?');
    for (let i = 0; i < 100 && !peerGone(lib, fd); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(peerGone(lib, fd), true, 'gone');
    client.destroy();
    server.close();
  });
});

describe('command lines', () => {
  it("sslserver: ucspi-ssl's defaults (-R, TCP_NODELAY, -T 26, -w 3600) and letters", () => {
    const d = parseSslServerArgs(['0', '443', 'prog']).options;
    assert.equal(d.remoteInfoLookup, false);
    assert.equal(d.noDelay, true);
    assert.equal(d.handshakeTimeout, 26);
    assert.equal(d.idleTimeout, 3600);
    assert.equal(d.verbosity, 1);
    const o = parseSslServerArgs(['-Vres3', '-T', '5', '-w9', '-d', '-I', 'eth0', '-C', '3:busy', '-c', '7', '0', '443', 'prog']).options;
    assert.deepEqual(
      [
        o.verbosity,
        o.tlsDetails,
        o.remoteInfoLookup,
        o.tcpEnvironment,
        o.sslEnvironment,
        o.passwordOnFd3,
        o.handshakeTimeout,
        o.idleTimeout,
        o.noDelay,
        o.interfaceName,
        o.perIpLimit,
        o.limit,
      ],
      [2, true, true, true, true, true, 5, 9, false, 'eth0', { count: 3, message: 'busy' }, 7],
    );
    assert.equal(parseSslServerArgs(['-V', '-v', '0', '1', 'p']).options.tlsDetails, false, 'a later -v drops -V');
    assert.deepEqual(parseSslServerArgs(['-Y']).problem, { kind: 'illegal', letter: 'Y' });
    assert.equal(parseSslServerArgs(['-m', '0', '1', 'p']).options.clientCertificates, 'mail');
    assert.equal(d.delayedTls, false);
    assert.equal(parseSslServerArgs(['-n', '0', '1', 'p']).options.delayedTls, true);
    assert.equal(parseSslServerArgs(['-nN', '0', '1', 'p']).options.delayedTls, false, 'a later -N wins');
  });

  it("sslclient: ucspi-ssl's defaults (-r -h -x -n, TCP_NODELAY, 2+58) and letters", () => {
    const d = parseSslClientArgs(['h', '1', 'p']);
    assert.equal(d.kind, 'ok');
    if (d.kind !== 'ok') return;
    assert.deepEqual(
      [
        d.options.remoteInfo,
        d.options.remoteHost,
        d.options.verifyServer,
        d.options.checkName,
        d.options.delay,
        d.options.connectTimeouts,
        d.options.verifyDepth,
      ],
      [true, true, true, true, false, [2, 58], 1],
    );
    const o = parseSslClientArgs([
      '-XNseR3d',
      '-a',
      'ca',
      '-A',
      'dir',
      '-c',
      'c',
      '-k',
      'k',
      '-z',
      '',
      '-V',
      '2',
      '-T5+1',
      '-w',
      '7',
      'h',
      '1',
      'p',
    ]);
    assert.equal(o.kind, 'ok');
    if (o.kind !== 'ok') return;
    const x = o.options;
    assert.deepEqual(
      [
        x.verifyServer,
        x.checkName,
        x.sslEnvironment,
        x.tcpEnvironment,
        x.remoteInfo,
        x.passwordOnFd3,
        x.delay,
        x.caFile,
        x.caDir,
        x.certFile,
        x.keyFile,
        x.ciphers,
        x.verifyDepth,
        x.connectTimeouts,
        x.idleTimeout,
      ],
      [false, false, true, true, false, true, true, 'ca', 'dir', 'c', 'k', null, 2, [5, 1], 7],
    );
    assert.equal(parseSslClientArgs(['-i', 'not an address', 'h', '1', 'p']).kind, 'usage');
    assert.equal(parseSslClientArgs(['-Y']).kind, 'getopt');
    assert.equal(d.options.ucspiTls, false);
    const y = parseSslClientArgs(['-y', 'h', '1', 'p']);
    assert.equal(y.kind === 'ok' && y.options.ucspiTls, true);
  });
});

describe('UCSPI-TLS', () => {
  it('encodes the Y reply as NAME=value and NUL each, then one more NUL', () => {
    assert.equal(encodeReply([]).toString('latin1'), '\0');
    assert.equal(
      encodeReply([
        ['SSL_PROTOCOL', 'TLSv1.3'],
        ['SSL_CIPHER', 'X'],
      ]).toString('latin1'),
      'SSL_PROTOCOL=TLSv1.3\0SSL_CIPHER=X\0\0',
    );
  });

  it('names a request that is neither y nor Y readably, whatever the byte', () => {
    assert.equal(unknownUcspiTlsRequest(0x78), "unknown request on SSLCTLFD: 'x' (neither y nor Y)");
    assert.equal(unknownUcspiTlsRequest(0), "unknown request on SSLCTLFD: '\\x00' (neither y nor Y)");
    assert.equal(unknownUcspiTlsRequest(0x27), "unknown request on SSLCTLFD: '\\x27' (neither y nor Y)");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), (b) =>
        /^unknown request on SSLCTLFD: '[!-~]+' \(neither y nor Y\)$/.test(unknownUcspiTlsRequest(b)),
      ),
    );
  });

  it('gives the program the lowest three descriptors above 2, passing over the socket and inherited ones', () => {
    // what this process inherited (the test runner may pass descriptors) is passed over
    const free = Array.from({ length: 20 }, (_, i) => i + 3).filter((fd) => !wasInherited(fd));
    assert.deepEqual(ucspiTlsDescriptors(), { socket: undefined, control: free[0], read: free[1], write: free[2] });
    const onSocket = free.slice(2).filter((fd) => fd !== 6 && fd !== 7);
    assert.deepEqual(ucspiTlsDescriptors([6, 7]), { socket: [6, 7], control: free[0], read: free[1], write: onSocket[0] });
    const d = ucspiTlsDescriptors();
    assert.deepEqual(ucspiTlsVariables(d), [
      ['SSLCTLFD', String(d.control)],
      ['SSLREADFD', String(d.read)],
      ['SSLWRITEFD', String(d.write)],
    ]);
  });
});

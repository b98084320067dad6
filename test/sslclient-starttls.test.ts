// sslclient -y (UCSPI-TLS on the client side) end to end: a small UCSPI-TLS SMTP client
// (test/support/ucspi-tls-smtp-client.py) under sslclient -y, against our sslserver -n and against a
// STARTTLS server written here on node:tls; the program asking with y and Y, closing the control
// socket, exiting before asking, writing neither y nor Y; a server certificate that does not verify.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TLSSocket } from 'node:tls';
import { cBinary, ours, ROOT, run, RunResult } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { ReplyReader } from './support/smtp-client';
import { makeTestPki, NEED_OPENSSL, TestPki } from './support/tls';

const SSLSERVER = ours('sslserver');
const SSLCLIENT = ours('sslclient');
const SMTPD = join(ROOT, 'test', 'support', 'ucspi-tls-smtpd.py');
const CLIENT = join(ROOT, 'test', 'support', 'ucspi-tls-smtp-client.py');
const NEED_PYTHON = cBinary('python3') ? false : 'python3 not installed: apt-get install python3';
const pkiReady = NEED_OPENSSL || NEED_PYTHON ? null : makeTestPki();
let pki: TestPki;

function sslclient(port: number, mode: string, args: string[] = [], env: Record<string, string> = {}): Promise<RunResult> {
  return run(SSLCLIENT, ['-y', '-a', pki.ca, ...args, '127.0.0.1', String(port), CLIENT, mode], {
    env: { PATH: process.env.PATH, ...env },
    timeout: 20_000,
  });
}

/** The program's `S:` lines (what the server said, as the program read it). */
function serverLines(r: RunResult): string[] {
  return r.stdout
    .toString('latin1')
    .split('\n')
    .filter((l) => l.startsWith('S: '))
    .map((l) => l.slice(3));
}

function printed(r: RunResult, prefix: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of r.stdout.toString('latin1').split('\n')) {
    if (!l.startsWith(prefix)) continue;
    const entry = l.slice(prefix.length);
    const eq = entry.indexOf('=');
    m.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return m;
}

const GREETING = ['220 test.example ESMTP', '250-test.example', '250-PIPELINING', '250 STARTTLS'];
const AFTER_TLS = ['220 ready to start TLS', '250-test.example', '250 PIPELINING', '221 test.example'];

/**
 * A STARTTLS SMTP server on node:tls, independent of sslserver: greets, offers STARTTLS, answers it
 * with 220 and makes TLS on the socket; in TLS answers EHLO and QUIT. `seen` records each session.
 */
function nodeStartTlsServer(): Promise<{ port: number; server: Server; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((socket: Socket) => {
    const replies = new ReplyReader(socket);
    const write = (text: string) => socket.write(text + '\r\n');
    write('220 node.example ESMTP');
    void (async () => {
      const ehlo = await replies.line();
      seen.push(ehlo ?? 'EOF');
      write('250-node.example\r\n250 STARTTLS');
      const starttls = await replies.line();
      seen.push(starttls ?? 'EOF');
      if (starttls !== 'STARTTLS') return void socket.end('221 bye\r\n');
      socket.removeAllListeners('data');
      write('220 go ahead');
      const tls = new TLSSocket(socket, { isServer: true, key: readFileSync(pki.rsa.key), cert: readFileSync(pki.rsa.cert) });
      tls.on('error', () => {});
      tls.once('secure', () => seen.push(`TLS ${tls.getProtocol()}`));
      const secured = new ReplyReader(tls);
      for (;;) {
        const cmd = await secured.line();
        if (cmd === null) return;
        seen.push(cmd);
        if (cmd.startsWith('EHLO')) tls.write('250 node.example\r\n');
        else if (cmd === 'QUIT') return void tls.end('221 node.example\r\n');
      }
    })();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, server, seen })),
  );
}

describe('sslclient -y (UCSPI-TLS)', { skip: NEED_OPENSSL || NEED_PYTHON }, () => {
  let server: RunningServer;
  before(async () => {
    pki = (await pkiReady) as TestPki;
    server = await startServer(SSLSERVER, ['-1', '-v', '-R', '-H', '-n', '127.0.0.1', '0', SMTPD, 'y'], {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
    });
  });

  for (const noFfi of [false, true]) {
    it(`talks in clear, then over TLS once the program asked with y (sslserver -n at the other end, ${noFfi ? 'without' : 'with'} FFI)`, async () => {
      const r = await sslclient(server.port, 'y', ['-v'], noFfi ? { UCSPI_TS_NO_FFI: '1' } : {});
      assert.equal(r.status, 0, r.stderr.toString());
      assert.deepEqual(serverLines(r), [...GREETING, ...AFTER_TLS]);
      assert.match(r.stderr.toString(), /^sslclient: connected to 127\.0\.0\.1 port \d+\nsslclient: ssl connect\n$/);
      const env = printed(r, 'ENV: ');
      assert.equal(env.get('PROTO'), 'SSL');
      assert.deepEqual(
        ['SSLCTLFD', 'SSLREADFD', 'SSLWRITEFD'].map((n) => env.get(n)),
        ['3', '4', '5'],
      );
    });
  }

  it('answers Y with the session and the server certificate, and closes the control socket after it', async () => {
    const r = await sslclient(server.port, 'Y');
    assert.equal(r.status, 0, r.stderr.toString());
    // the program read the reply to end of file, then went on
    assert.deepEqual(serverLines(r), [...GREETING, ...AFTER_TLS]);
    assert.match(r.stdout.toString(), /^REPLY-END: ok$/m);
    const reply = printed(r, 'REPLY: ');
    assert.equal(reply.get('SSL_PROTOCOL'), 'TLSv1.3');
    assert.equal(reply.get('SSL_SERVER_S_DN_CN'), 'localhost');
    assert.equal(reply.get('SSL_VERSION_INTERFACE'), 'ucspi-ssl');
  });

  it('leaves a program that closes the control socket alone: it ends its session in clear', async () => {
    const r = await sslclient(server.port, 'close');
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(serverLines(r), [...GREETING, '221 test.example']);
  });

  it('ends as the program ends when it exits before asking', async () => {
    const r = await sslclient(server.port, 'exit');
    assert.equal(r.status, 7);
    assert.equal(r.stderr.toString(), '');
  });

  it('a byte other than y or Y ends the program and sslclient with 111 and a clear message', async () => {
    const r = await sslclient(server.port, 'bogus');
    assert.equal(r.status, 111);
    assert.equal(r.stderr.toString(), "sslclient: fatal: unknown request on SSLCTLFD: 'x' (neither y nor Y)\n");
  });

  it('a server certificate that does not verify: the message, 111 once the program is over, nothing sent in TLS', async () => {
    const r = await run(SSLCLIENT, ['-y', '-a', pki.stranger.cert, '127.0.0.1', String(server.port), CLIENT, 'y'], {
      env: { PATH: process.env.PATH },
      timeout: 20_000,
    });
    assert.equal(r.status, 111);
    assert.match(r.stderr.toString(), /^sslclient: fatal: missing credentials \(CA\) or unable to validate server certificate\n/m);
    // the program read end of file where it expected the reply to its EHLO in TLS
    const lines = serverLines(r);
    assert.deepEqual(lines.slice(0, 6), [...GREETING, '220 ready to start TLS', 'EOF']);
    assert.deepEqual(new Set(lines.slice(5)), new Set(['EOF']));
  });

  it("doc/sslclient.md's dialogue from sh works as printed", async () => {
    const doc = readFileSync(join(ROOT, 'doc', 'sslclient.md'), 'latin1');
    const script = /sslclient -y .* 25 sh -c '\n([\s\S]*?)'\n/.exec(doc)![1].replace(/^ {4}/gm, '');
    const r = await run(SSLCLIENT, ['-y', '-a', pki.ca, '127.0.0.1', String(server.port), 'sh', '-c', script], {
      env: { PATH: process.env.PATH },
      timeout: 20_000,
    });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(r.stderr.toString('latin1').replace(/\r/g, '').split('\n'), [...GREETING, ...AFTER_TLS, '']);
  });

  it('works with a STARTTLS server that is not sslserver (node:tls)', async () => {
    const peer = await nodeStartTlsServer();
    after(() => peer.server.close());
    const r = await sslclient(peer.port, 'y');
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(serverLines(r), [
      '220 node.example ESMTP',
      '250-node.example',
      '250 STARTTLS',
      '220 go ahead',
      '250 node.example',
      '221 node.example',
    ]);
    assert.deepEqual(peer.seen, ['EHLO client.test', 'STARTTLS', 'TLS TLSv1.3', 'EHLO client.test', 'QUIT']);
  });
});

// sslserver's connection limits, the 07 scenario over TLS: MAXCONNIP from rules and from -C, DIEMSG
// delivered inside TLS (a TLS client could not read a line in clear), the deny lines, other addresses
// unaffected, and refused clients never holding a -c slot while they are told. The program holds the
// connection with cat (its output must stay open: its end of output ends a relayed connection).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { ours } from './support/programs';
import { writeRulesCdb } from './support/rules';
import { startServer } from './support/server';
import { tempDir } from './support/tmp';
import { makeTestPki, NEED_OPENSSL, TestPki, tlsExchange } from './support/tls';

const SSLSERVER = ours('sslserver');
const DIR = tempDir();
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;

const A = randomInt(1, 255);
const B = randomInt(0, 255);
const ip = (n: number) => `127.${A}.${B}.${n}`;

function writeRules(name: string, text: string): string {
  return writeRulesCdb(join(DIR, name), text);
}

const open = new Set<Socket>();
after(() => {
  for (const s of open) s.destroy();
});

/** A TLS client from `from` that stays connected; resolves with the first line the program sent. */
function held(port: number, from: string): Promise<{ sock: TLSSocket; line: string }> {
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({
      port,
      host: '127.0.0.1',
      ca: [readFileSync(pki.ca)],
      servername: 'localhost',
      ...({ localAddress: from } as object),
    });
    open.add(sock);
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) resolve({ sock, line: got });
    });
    sock.on('error', reject);
  });
}

function start(args: string[], env: Record<string, string> = {}) {
  return startServer(
    SSLSERVER,
    ['-1', '-v', '-R', '-H', '-l', 'L', ...args, '127.0.0.1', '0', 'sh', '-c', 'echo "ok $MAXCONNIP"; exec cat'],
    {
      env: { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key, ...env },
    },
  );
}

describe('sslserver connection limits', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it('MAXCONNIP from the rules admits that many TLS clients from one address; the next gets DIEMSG inside TLS', async () => {
    const rules = writeRules('limits.cdb', `${ip(10)}:allow,MAXCONNIP="2"\n:allow\n`);
    const s = await start(['-x', rules], { DIEMSG: '421 try later' });
    const two = [await held(s.port, ip(10)), await held(s.port, ip(10))];
    assert.deepEqual(
      two.map((h) => h.line),
      ['ok 2\n', 'ok 2\n'],
    );
    const refused = await tlsExchange(s.port, { localAddress: ip(10), ca: pki.ca, end: false });
    assert.equal(refused.data.toString(), '421 try later\r\n');
    assert.equal(refused.protocol, 'TLSv1.3', 'the message came through a verified TLS session');
    assert.match(
      await s.waitForLine(/ deny /),
      new RegExp(`^sslserver: deny \\d+ L:127\\.0\\.0\\.1:\\d+ :${ip(10).replace(/\./g, '\\.')}::\\d+ MAXCONNIP:2$`),
    );
    // another address is not affected
    assert.equal((await held(s.port, ip(11))).line, 'ok \n');
    for (const h of two) h.sock.destroy();
  });

  it('-C n:message works the same over TLS', async () => {
    const s = await start(['-C', '1:421 one at a time']);
    const first = await held(s.port, ip(20));
    assert.equal(first.line, 'ok 1\n');
    assert.equal((await tlsExchange(s.port, { localAddress: ip(20), ca: pki.ca, end: false })).data.toString(), '421 one at a time\r\n');
    await s.waitForLine(/ MAXCONNIP:1$/);
    first.sock.destroy();
  });

  it('without DIEMSG a refused client gets no session at all; a rules deny with DIEMSG gets it, without a suffix', async () => {
    const rules = writeRules('deny.cdb', `${ip(31)}:deny\n:allow\n`);
    const s = await start(['-x', rules, '-C', '1']);
    const first = await held(s.port, ip(30));
    const refused = await tlsExchange(s.port, { localAddress: ip(30), ca: pki.ca }).catch((e: Error) => e);
    assert.ok(refused instanceof Error || refused.protocol === null, 'no TLS session');
    await s.waitForLine(/ MAXCONNIP:1$/);
    first.sock.destroy();
    const t = await start(['-x', rules], { DIEMSG: '554 go away' });
    assert.equal((await tlsExchange(t.port, { localAddress: ip(31), ca: pki.ca, end: false })).data.toString(), '554 go away\r\n');
    assert.match(await t.waitForLine(/ deny /), /::\d+$/);
  });

  it('a refused client that never finishes its handshake holds no -c slot while it is being told', async () => {
    // -c 2: one admitted client, one refused that stays silent (-T is long), and a third from
    // elsewhere must still be served at once
    const s = await start(['-c', '2', '-T', '60', '-C', '1:421 busy']);
    const first = await held(s.port, ip(40));
    const silent = connect({ port: s.port, host: '127.0.0.1', localAddress: ip(40) });
    open.add(silent);
    silent.on('error', () => {});
    await s.waitForLine(/ deny .* MAXCONNIP:1$/);
    const started = Date.now();
    const third = await held(s.port, ip(41));
    assert.equal(third.line, 'ok 1\n');
    assert.ok(Date.now() - started < 30_000, 'served long before the refused handshake could have timed out');
    first.sock.destroy();
    third.sock.destroy();
  });
});

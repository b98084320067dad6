// sslserver -n (UCSPI-TLS) end to end: swaks --tls and openssl s_client -starttls smtp against a
// small UCSPI-TLS SMTP server (test/support/ucspi-tls-smtpd.py) that asks with y or Y, closes the
// control socket, exits before asking, never asks, or asks with a byte that means nothing; a client
// that sends garbage instead of a handshake or nothing at all (-T); a ClientHello pipelined behind
// STARTTLS; rules, limits and the in-process chain with -n. Each session's report (the program's
// environment, the Y reply, how it ended) is read from the file the program writes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cBinary, ours, ROOT, run } from './support/programs';
import { writeRulesCdb } from './support/rules';
import { RunningServer, startServer } from './support/server';
import { pipelinedStartTls, smtpConnect } from './support/smtp-client';
import { tempDir } from './support/tmp';
import { makeTestPki, NEED_OPENSSL, TestPki } from './support/tls';

const SSLSERVER = ours('sslserver');
const SMTPD = join(ROOT, 'test', 'support', 'ucspi-tls-smtpd.py');
const NEED_PYTHON = cBinary('python3') ? false : 'python3 not installed: apt-get install python3';
const NEED_SWAKS = cBinary('swaks') ? false : 'swaks not installed: apt-get install swaks libnet-ssleay-perl';
const DIR = tempDir();
const REPORTS = tempDir('ucspi-ts-starttls-');
const pkiReady = NEED_OPENSSL || NEED_PYTHON ? null : makeTestPki();
let pki: TestPki;

type Mode = 'y' | 'Y' | 'close' | 'exit' | 'never' | 'bogus';

function start(mode: Mode | string[], args: string[] = [], env: Record<string, string> = {}, noFfi = false): Promise<RunningServer> {
  const program = typeof mode === 'string' ? [SMTPD, mode, REPORTS] : mode;
  return startServer(SSLSERVER, ['-1', '-v', '-R', '-H', '-l', 'L', '-n', ...args, '127.0.0.1', '0', ...program], {
    env: {
      PATH: process.env.PATH,
      CERTFILE: pki.rsa.cert,
      KEYFILE: pki.rsa.key,
      ...(noFfi ? { UCSPI_TS_NO_FFI: '1' } : {}),
      ...env,
    },
  });
}

interface Report {
  readonly env: Map<string, string>;
  readonly facts: Map<string, string>;
  /** the Y reply as the program read it to end of file */
  readonly reply: Buffer;
}

/** The report of the program with this pid, once it has written it. */
async function report(pid: string): Promise<Report> {
  const path = join(REPORTS, pid);
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  const env = new Map<string, string>();
  const facts = new Map<string, string>();
  for (const entry of readFileSync(path, 'latin1').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    if (entry.startsWith('ENV:')) env.set(entry.slice(4, eq), entry.slice(eq + 1));
    else facts.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return { env, facts, reply: Buffer.from(facts.get('REPLY') ?? '', 'hex') };
}

/** The pid of the n-th `ok` line (1-based). */
async function okPid(s: RunningServer, n = 1): Promise<string> {
  const lines = await s.waitForLines(/^sslserver: ok \d+ /, n);
  return /^sslserver: ok (\d+) /.exec(lines[n - 1])![1];
}

/** `NAME=value\0`... `\0` into its entries, asserting the form. */
function replyEntries(reply: Buffer): Map<string, string> {
  const text = reply.toString('latin1');
  assert.ok(text.endsWith('\0\0'), `the reply ends with the extra NUL: ${JSON.stringify(text.slice(-20))}`);
  const m = new Map<string, string>();
  for (const entry of text.slice(0, -2).split('\0')) {
    const eq = entry.indexOf('=');
    assert.ok(eq > 0, `an entry NAME=value: ${JSON.stringify(entry)}`);
    m.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return m;
}

function swaks(port: number, extra: string[] = []) {
  return run(
    'swaks',
    [
      '--server',
      '127.0.0.1',
      '--port',
      String(port),
      '--tls',
      '--tls-verify',
      '--tls-ca-path',
      pki.ca,
      '--tls-sni',
      'localhost',
      '--to',
      'rcpt@example.test',
      '--from',
      'sender@example.test',
      '--helo',
      'client.test',
      '--timeout',
      '10',
      ...extra,
    ],
    { timeout: 30_000 },
  );
}

function sClientStartTls(port: number, input: string) {
  return run(
    'openssl',
    ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${port}`, '-CAfile', pki.ca, '-verify_return_error', '-quiet', '-crlf'],
    {
      input,
      timeout: 20_000,
    },
  );
}

describe('sslserver -n (UCSPI-TLS)', { skip: NEED_OPENSSL || NEED_PYTHON }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  for (const mode of ['y', 'Y'] as const) {
    it(`swaks --tls sends a message through STARTTLS to a program that asks with ${mode}`, { skip: NEED_SWAKS }, async () => {
      const s = await start(mode);
      const r = await swaks(s.port);
      assert.equal(r.status, 0, r.stdout.toString() + r.stderr.toString());
      const out = r.stdout.toString('latin1');
      assert.match(out, /<~  250 accepted/, 'the message went through TLS (swaks marks TLS lines with ~)');
      const pid = await okPid(s);
      const rep = await report(pid);
      assert.equal(rep.facts.get('TLS'), 'yes');
      assert.equal(rep.facts.get('END'), 'quit');
      await s.waitForLine(new RegExp(`^sslserver: end ${pid} status 0$`));
      const lines = s
        .lines()
        .filter((l) => !/ status: /.test(l) && !/^sslserver: (cafile|ccafile|cadir|chainfile|cert|key|param) /.test(l));
      assert.deepEqual(
        lines.map((l) => l.replace(/:\d+$/, ':PORT').replace(/:\d+ /, ':PORT ')),
        [
          `sslserver: pid ${pid} from 127.0.0.1`,
          `sslserver: ok ${pid} L:127.0.0.1:PORT :127.0.0.1::PORT`,
          `sslserver: ssl ${pid} accept `,
          `sslserver: end ${pid} status 0`,
        ],
      );
    });
  }

  for (const noFfi of [false, true]) {
    it(`openssl s_client -starttls smtp talks to the program over TLS once it asked (${noFfi ? 'without' : 'with'} FFI)`, async () => {
      const s = await start('y', [], {}, noFfi);
      const r = await sClientStartTls(s.port, 'EHLO client.test\nQUIT\n');
      assert.equal(r.status, 0, r.stderr.toString());
      // after TLS the program offers STARTTLS no more: this answer came through the relay
      assert.equal(r.stdout.toString('latin1'), '250-test.example\r\n250 PIPELINING\r\n221 test.example\r\n');
      const rep = await report(await okPid(s));
      assert.equal(rep.facts.get('TLS'), 'yes');
      assert.equal(rep.facts.get('END'), 'quit');
    });
  }

  it('gives the program PROTO=SSL, the SSL* variables and three distinct descriptors, and none of the SSL_* before TLS', async () => {
    const s = await start('y', ['-s', '-e']);
    await sClientStartTls(s.port, 'QUIT\n');
    const { env } = await report(await okPid(s));
    assert.equal(env.get('PROTO'), 'TCP');
    assert.equal(env.get('SSLREMOTEIP'), '127.0.0.1');
    assert.equal(env.get('TCPREMOTEIP'), '127.0.0.1');
    assert.equal(env.get('SSLLOCALHOST'), 'L');
    const fds = ['SSLCTLFD', 'SSLREADFD', 'SSLWRITEFD'].map((n) => env.get(n));
    assert.deepEqual(fds, ['3', '4', '5']);
    assert.deepEqual(
      [...env.keys()].filter((k) => k.startsWith('SSL_')),
      [],
    );
  });

  it('answers Y with the session, the server certificate and the closing NUL, then closes the control socket', async () => {
    const s = await start('Y');
    // the program reads the reply to end of file before it goes on: a control socket left open
    // would hang the session here
    const r = await sClientStartTls(s.port, 'QUIT\n');
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString('latin1'), '221 test.example\r\n');
    const rep = await report(await okPid(s));
    const vars = replyEntries(rep.reply);
    assert.equal(vars.get('SSL_PROTOCOL'), 'TLSv1.3');
    assert.equal(vars.get('SSL_CIPHER'), 'TLS_AES_256_GCM_SHA384');
    assert.equal(vars.get('SSL_VERSION_INTERFACE'), 'ucspi-ssl');
    assert.equal(vars.get('SSL_SERVER_S_DN_CN'), 'localhost');
    assert.match(vars.get('SSL_SESSION_ID') ?? '', /^[0-9a-f]{64}$/);
    assert.match(vars.get('SSL_SERVER_CERT') ?? '', /^-----BEGIN CERTIFICATE-----\n/);
    assert.equal(vars.has('PROTO'), false, 'no PROTO or TCP* in the reply, as in ucspi-ssl');
  });

  it('leaves a program that closes the control socket alone: its session goes on in clear', async () => {
    const s = await start('close');
    const { session, greeting } = await smtpConnect(s.port);
    assert.equal(greeting, '220 test.example ESMTP');
    assert.match((await session.command('EHLO client.test'))!, /250 STARTTLS/);
    assert.equal(await session.command('STARTTLS'), '454 TLS not available');
    // the server has let go of its copies by now; the program still answers in clear
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await session.command('NOOP'), '250 ok');
    assert.equal(await session.command('QUIT'), '221 test.example');
    assert.equal(await session.replies.reply(), null, 'the connection ends with the program');
    const pid = await okPid(s);
    await s.waitForLine(new RegExp(`^sslserver: end ${pid} status 0$`));
    assert.equal(
      s.lines().some((l) => / ssl \d+ accept/.test(l) || /warning/.test(l)),
      false,
      s.lines().join('\n'),
    );
    assert.equal((await report(pid)).facts.get('CTL'), 'closed');
  });

  it('leaves a program that exits before asking alone: its exit status, no TLS line, the client sees the end', async () => {
    const s = await start('exit');
    const { session } = await smtpConnect(s.port);
    await session.command('EHLO client.test');
    assert.equal(await session.command('STARTTLS'), '454 TLS not available');
    assert.equal(await session.replies.reply(), null);
    const pid = await okPid(s);
    await s.waitForLine(new RegExp(`^sslserver: end ${pid} status 768$`));
    assert.equal(
      s.lines().some((l) => / ssl \d+ accept/.test(l) || /warning/.test(l)),
      false,
      s.lines().join('\n'),
    );
  });

  it('serves a session that never asks for TLS to its end (the -B banner in clear before it), and lets the client go when the program ends', async () => {
    const s = await start('never', ['-B', '220-banner in clear\r\n']);
    const { session, greeting } = await smtpConnect(s.port);
    assert.equal(greeting, '220-banner in clear\n220 test.example ESMTP');
    assert.equal(await session.command('EHLO client.test'), '250-test.example\n250 PIPELINING');
    assert.equal(await session.command('MAIL FROM:<a@example.test>'), '250 ok');
    assert.equal(await session.command('QUIT'), '221 test.example');
    assert.equal(await session.replies.reply(), null);
    const pid = await okPid(s);
    await s.waitForLine(new RegExp(`^sslserver: end ${pid} status 0$`));
  });

  it('drops the connection with a clear message when the program writes neither y nor Y', async () => {
    const s = await start('bogus');
    const { session } = await smtpConnect(s.port);
    await session.command('EHLO client.test');
    assert.equal(await session.command('STARTTLS'), '220 ready to start TLS');
    assert.equal(await session.replies.reply(), null, 'the connection is closed');
    const pid = await okPid(s);
    assert.equal(
      await s.waitForLine(/warning/),
      "sslserver: warning: dropping SSL connection, unknown request on SSLCTLFD: 'x' (neither y nor Y)",
    );
    await s.waitForLine(new RegExp(`^sslserver: end ${pid} status 15$`));
  });

  it('drops a client that sends garbage instead of a handshake; the program reads end of file', async () => {
    const s = await start('y');
    const { session } = await smtpConnect(s.port);
    await session.command('EHLO client.test');
    assert.equal(await session.command('STARTTLS'), '220 ready to start TLS');
    session.socket.write('this is no handshake\r\n');
    assert.equal(await session.replies.reply(), null);
    const pid = await okPid(s);
    assert.match(
      await s.waitForLine(/warning/),
      /^sslserver: warning: dropping SSL connection, unable to accept SSL: error:[0-9A-F]{8}:SSL routines::/,
    );
    await s.waitForLine(new RegExp(`^sslserver: end ${pid} status 0$`));
    assert.equal((await report(pid)).facts.get('END'), 'eof');
  });

  it('-T: a client that never starts its handshake after STARTTLS is dropped when the time is up', async () => {
    const s = await start('y', ['-T', '1']);
    const { session } = await smtpConnect(s.port);
    await session.command('EHLO client.test');
    assert.equal(await session.command('STARTTLS'), '220 ready to start TLS');
    assert.equal(await session.replies.reply(15_000), null);
    assert.equal(await s.waitForLine(/warning/), 'sslserver: warning: dropping SSL connection, unable to accept SSL: timed out');
    await s.waitForLine(/^sslserver: end \d+ status 0$/);
  });

  it('a ClientHello pipelined behind STARTTLS is not lost: the handshake reads what the program left', async () => {
    const s = await start('y');
    const { session } = await smtpConnect(s.port);
    await session.command('EHLO client.test');
    const { ready, tls } = await pipelinedStartTls(session.socket, readFileSync(pki.ca));
    assert.equal(ready, '220 ready to start TLS\r\n');
    const replies: string[] = [];
    tls.setEncoding('latin1');
    tls.on('data', (d: string) => replies.push(d));
    tls.end('QUIT\r\n');
    await new Promise((r) => tls.once('close', r));
    assert.equal(replies.join(''), '221 test.example\r\n');
  });

  it('-m: a client certificate is asked for at STARTTLS; one without is dropped after the ok line, one with it gets SSL_CLIENT_* in the Y reply', async () => {
    const s = await start('Y', ['-m'], { CAFILE: pki.ca, CCAFILE: pki.ca });
    const without = await sClientStartTls(s.port, 'QUIT\n');
    assert.notEqual(without.status, 0);
    assert.equal(await s.waitForLine(/warning/), 'sslserver: warning: dropping SSL connection, no client certificate');
    const withCert = await run(
      'openssl',
      [
        's_client',
        '-starttls',
        'smtp',
        '-connect',
        `127.0.0.1:${s.port}`,
        '-CAfile',
        pki.ca,
        '-cert',
        pki.client.cert,
        '-key',
        pki.client.key,
        '-verify_return_error',
        '-quiet',
        '-crlf',
      ],
      { input: 'QUIT\n', timeout: 20_000 },
    );
    assert.equal(withCert.status, 0, withCert.stderr.toString());
    assert.equal(withCert.stdout.toString('latin1'), '221 test.example\r\n');
    const vars = replyEntries((await report(await okPid(s, 2))).reply);
    assert.equal(vars.get('SSL_CLIENT_S_DN_CN'), 'client.example');
  });

  it('the rules hold: a denied client gets no program, an allowed one its rule variables', async () => {
    const rules = writeRulesCdb(join(DIR, 'rules.cdb'), '127.0.0.2:deny\n:allow,RULE="from the rules"\n');
    const s = await start('y', ['-x', rules]);
    const denied = await smtpConnect(s.port, '127.0.0.1', '127.0.0.2');
    assert.equal(denied.greeting, null);
    assert.match(await s.waitForLine(/ deny /), /^sslserver: deny \d+ L:127\.0\.0\.1:\d+ :127\.0\.0\.2::\d+$/);
    const r = await sClientStartTls(s.port, 'QUIT\n');
    assert.equal(r.status, 0, r.stderr.toString());
    const { env } = await report(await okPid(s));
    assert.equal(env.get('RULE'), 'from the rules');
  });

  it('the limits hold: with -c 1 a second client waits until the first session is over; MAXCONNIP says DIEMSG in clear', async () => {
    const s = await start('y', ['-c', '1']);
    const first = await smtpConnect(s.port);
    assert.equal(first.greeting, '220 test.example ESMTP');
    const second = smtpConnect(s.port);
    const early = await Promise.race([second.then(() => 'greeted'), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
    assert.equal(early, 'waiting');
    assert.equal(await first.session.command('QUIT'), '221 test.example');
    assert.equal((await second).greeting, '220 test.example ESMTP');
    (await second).session.socket.destroy();

    const rules = writeRulesCdb(join(DIR, 'limits.cdb'), ':allow,MAXCONNIP="1"\n');
    const limited = await start('y', ['-x', rules], { DIEMSG: '421 one at a time' });
    const held = await smtpConnect(limited.port);
    assert.equal(held.greeting, '220 test.example ESMTP');
    const refused = await smtpConnect(limited.port);
    assert.equal(refused.greeting, '421 one at a time');
    held.session.socket.destroy();
  });

  it('the in-process chain works with -n: rblsmtpd refuses in clear, argv0 renames, the program asks for TLS', async () => {
    const rules = writeRulesCdb(join(DIR, 'rbl.cdb'), '127.0.0.3:allow,RBLSMTPD="-no mail from you"\n:allow\n');
    const s = await start([ours('rblsmtpd'), ours('argv0'), SMTPD, 'smtpd', 'y', REPORTS], ['-x', rules]);
    const blocked = await smtpConnect(s.port, '127.0.0.1', '127.0.0.3');
    assert.equal(blocked.greeting, '220 rblsmtpd.local');
    blocked.session.socket.destroy();
    const r = await sClientStartTls(s.port, 'QUIT\n');
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString('latin1'), '221 test.example\r\n');
    const rep = await report(await okPid(s, 2));
    assert.equal(rep.facts.get('TLS'), 'yes');
  });
});

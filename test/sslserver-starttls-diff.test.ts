// sslserver -n next to the C one (fehcom ucspi-ssl 0.95b, ../shared/peers/ucspi-ssl): the same
// UCSPI-TLS SMTP program (test/support/ucspi-tls-smtpd.py) under each, driven by openssl s_client
// -starttls smtp; the program's environment, the Y reply's contents and the -v lines compared modulo
// pids, ports and session ids, and modulo the descriptors' numbers (programs read them from the
// environment). The program reads the Y reply up to its closing NUL only (mode Y0): the C one never
// closes the control socket (a bug its README lists; test/sslserver-starttls.test.ts reads to end of
// file against ours). Sessions that never ask for TLS are not compared: the C one kills them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cBinary, ours, ROOT, run } from './support/programs';
import { startServer } from './support/server';
import { tempDir } from './support/tmp';
import { cSsl, cSslserverEnv, makeTestPki, NEED_OPENSSL, NEED_UCSPI_SSL, TestPki } from './support/tls';

const SMTPD = join(ROOT, 'test', 'support', 'ucspi-tls-smtpd.py');
const NEED_PYTHON = cBinary('python3') ? false : 'python3 not installed: apt-get install python3';
const SKIP = NEED_OPENSSL || NEED_UCSPI_SSL || NEED_PYTHON;
const REPORTS = tempDir('ucspi-ts-starttls-diff-');
const pkiReady = SKIP ? null : makeTestPki();
let pki: TestPki;

function env(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key, CADIR: '/etc/ssl/certs', ...cSslserverEnv() };
}

/** `NAME=value` entries with ports, session ids, library versions and descriptor numbers made alike. */
function normalEntries(entries: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of entries) {
    if (!/^(PROTO|SSL|TCP)/.test(name) || /^SSL_CERT_(FILE|DIR)$/.test(name)) continue;
    // ours only: the name the client asked for by SNI
    if (name === 'SSL_TLS_SNI_SERVERNAME') continue;
    let value = raw;
    if (/PORT$/.test(name)) value = 'PORT';
    if (/^SSL(CTL|READ|WRITE)FD$/.test(name)) value = /^\d+$/.test(raw) ? 'FD' : raw;
    if (name === 'SSL_SESSION_ID') value = value.replace(/^[0-9a-f]{64}$/, 'ID');
    if (name === 'SSL_VERSION_LIBRARY') value = value.replace(/^OpenSSL 3\..*/, 'OpenSSL 3');
    out[name] = value;
  }
  return out;
}

function pairs(text: string, prefix = ''): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const entry of text.split('\0')) {
    if (!entry.startsWith(prefix)) continue;
    const e = entry.slice(prefix.length);
    const eq = e.indexOf('=');
    if (eq > 0) out.push([e.slice(0, eq), e.slice(eq + 1)]);
  }
  return out;
}

interface Session {
  env: Record<string, string>;
  reply: Record<string, string>;
  replyNames: string[];
  lines: string[];
}

async function session(bin: string, flags: string[]): Promise<Session> {
  const s = await startServer(bin, ['-1', '-v', ...flags, '-n', '-R', '-H', '-l', 'L', '127.0.0.1', '0', SMTPD, 'Y0', REPORTS], {
    env: env(),
  });
  const r = await run(
    'openssl',
    ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${s.port}`, '-CAfile', pki.ca, '-verify_return_error', '-quiet', '-crlf'],
    {
      input: 'QUIT\n',
      timeout: 20_000,
    },
  );
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(r.stdout.toString('latin1'), '221 test.example\r\n');
  const ok = await s.waitForLine(/^sslserver: ok \d+ /);
  const pid = /ok (\d+)/.exec(ok)![1];
  await s.waitForLine(/ end \d+ status /);
  await s.stop();
  const path = join(REPORTS, pid);
  for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((res) => setTimeout(res, 50));
  const text = readFileSync(path, 'latin1');
  const reply = Buffer.from(pairs(text).find(([n]) => n === 'REPLY')![1], 'hex').toString('latin1');
  assert.ok(reply.endsWith('\0\0'), 'the reply ends with its extra NUL');
  const replyPairs = pairs(reply.slice(0, -1));
  const lines = s
    .lines()
    .filter((l) => !/ status: /.test(l))
    .map((l) =>
      l.replace(/ (pid|ok|deny|end|ssl|cafile|ccafile|cadir|chainfile|cert|key|param) \d+/, ' $1 PID').replace(/:\d+( |$)/g, ':PORT$1'),
    );
  return {
    env: normalEntries(pairs(text, 'ENV:')),
    reply: normalEntries(replyPairs),
    replyNames: replyPairs.map(([n]) => n).filter((n) => n !== 'SSL_TLS_SNI_SERVERNAME'),
    lines,
  };
}

describe('sslserver -n next to ucspi-ssl 0.95b', { skip: SKIP }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  for (const flags of [[], ['-e'], ['-s']]) {
    it(`the same environment, Y reply (its variables in the same order) and -v lines with [${flags.join(' ')}]`, async () => {
      const mine = await session(ours('sslserver'), flags);
      const theirs = await session(cSsl('sslserver'), flags);
      assert.deepEqual(mine.env, theirs.env);
      assert.equal(mine.env.SSLCTLFD, 'FD');
      assert.deepEqual(mine.reply, theirs.reply);
      assert.deepEqual(mine.replyNames, theirs.replyNames);
      assert.ok(mine.reply.SSL_SERVER_CERT?.startsWith('-----BEGIN CERTIFICATE-----'));
      assert.deepEqual(mine.lines, theirs.lines);
      assert.ok(mine.lines.includes('sslserver: ssl PID accept '));
    });
  }
});

// sslserver with several certificates chosen by SNI (`CERTFILE:name`, `KEYFILE:name`, as
// s6-networking sets them): exact names, a `*.` wildcard one label deep, no name and unknown names
// served the default certificate, names in any case; certificates renewed with no restart (files
// rewritten in place, symbolic links switched as certbot does, SIGHUP) served from the next
// connection while those already open go on; a renewal half written keeps the one in use, said
// once; start-up failures named after their certificate; tcpserver -s's one file renewed alike.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { before, describe, it } from 'node:test';
import * as fc from 'fast-check';
import { namedCertificates, ServedCertificate, ServerCertificates } from '../src/tls/server-certificates';
import { ours, run } from './support/programs';
import { RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';
import { cSsl, cSslserverEnv, Credentials, makeServerCertificate, makeTestPki, NEED_OPENSSL, NEED_UCSPI_SSL, TestPki } from './support/tls';

const SSLSERVER = ours('sslserver');
const TCPSERVER = ours('tcpserver');
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
const dir = tempDir('ucspi-ts-sni-');
let pki: TestPki;
let mail: Credentials;
let www: Credentials;
let wild: Credentials;

/** Says the name the client asked for, then echoes its input (a connection that stays open). */
const PROGRAM = ['sh', '-c', 'echo "sni=${SSL_TLS_SNI_SERVERNAME-unset}"; exec cat'];

/** The SHA-256 fingerprint of a PEM certificate file, as Node's getPeerCertificate() gives it. */
function fingerprint(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

function namedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    CERTFILE: pki.rsa.cert,
    KEYFILE: pki.rsa.key,
    'CERTFILE:mail.example.org': mail.cert,
    'KEYFILE:mail.example.org': mail.key,
    // the variable's name in any case
    'CERTFILE:WWW.Example.NET': www.cert,
    'KEYFILE:www.example.net': www.key,
    'CERTFILE:*.example.com': wild.cert,
    'KEYFILE:*.example.com': wild.key,
    ...extra,
  };
}

/** Says the name and ends (for openssl s_client, which waits for the server to close). */
const SAY_SNI = ['sh', '-c', 'echo "sni=${SSL_TLS_SNI_SERVERNAME-unset}"'];

function sslserver(env: NodeJS.ProcessEnv, program = PROGRAM): Promise<RunningServer> {
  return startServer(SSLSERVER, ['-1', '-v', '-s', '-R', '-H', '-l', 'L', '127.0.0.1', '0', ...program], { env });
}

/** A TLS session kept open: the certificate it was served, what it has read so far. */
interface Session {
  readonly tls: TLSSocket;
  readonly fingerprint: string;
  readonly subjectCn: string;
  /** Resolves with everything read once it contains `text` (rejects if the server closes first). */
  readUntil(text: string): Promise<string>;
}

/**
 * Connect with Node's TLS client, trusting only the test CA (the certificate's names are the test's
 * to check: the default one is for localhost, whatever the name asked for).
 */
function session(port: number, servername: string | null): Promise<Session> {
  return new Promise((resolve, reject) => {
    let got = '';
    const waiters: Array<() => void> = [];
    const tls = tlsConnect({
      port,
      host: '127.0.0.1',
      ca: readFileSync(pki.ca),
      servername: servername ?? undefined,
      checkServerIdentity: () => undefined,
    });
    tls.setEncoding('latin1');
    tls.on('data', (d: string) => {
      got += d;
      for (const w of waiters.splice(0)) w();
    });
    tls.on('close', () => {
      for (const w of waiters.splice(0)) w();
    });
    tls.once('error', reject);
    tls.once('secureConnect', () => {
      const peer = tls.getPeerCertificate();
      resolve({
        tls,
        fingerprint: peer.fingerprint256,
        subjectCn: String(peer.subject?.CN ?? ''),
        readUntil: (text) =>
          new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no ${JSON.stringify(text)} in ${JSON.stringify(got)}`)), 10_000);
            const check = () => {
              if (got.includes(text)) {
                clearTimeout(timer);
                done(got);
              } else if (tls.destroyed || tls.readableEnded) {
                clearTimeout(timer);
                fail(new Error(`closed before ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
              } else waiters.push(check);
            };
            check();
          }),
      });
    });
  });
}

/** One connection: the certificate served for `servername`, and the SNI the program saw. */
async function served(port: number, servername: string | null): Promise<{ fingerprint: string; cn: string; sni: string }> {
  const s = await session(port, servername);
  const text = await s.readUntil('\n');
  s.tls.end();
  s.tls.destroy();
  return { fingerprint: s.fingerprint, cn: s.subjectCn, sni: /^sni=(.*)$/m.exec(text)![1] };
}

/** openssl s_client asking for `servername` (null: -noservername): the certificate's CN, the program's output. */
async function sClient(port: number, servername: string | null): Promise<{ cn: string; out: string }> {
  const name = servername === null ? ['-noservername'] : ['-servername', servername, '-verify_hostname', servername];
  const r = await run(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, ...name, '-CAfile', pki.ca, '-verify_return_error', '-ign_eof'],
    {
      input: '',
      timeout: 15_000,
    },
  );
  const out = r.stdout.toString('latin1');
  assert.equal(r.status, 0, r.stderr.toString() + out);
  const cn = /^subject=.*CN ?= ?([^,\n]+)$/m.exec(out)?.[1] ?? '';
  return { cn, out };
}

describe('sslserver SNI', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
    [mail, www, wild] = await Promise.all([
      makeServerCertificate(pki, 'mail', ['mail.example.org']),
      makeServerCertificate(pki, 'www', ['www.example.net']),
      makeServerCertificate(pki, 'wild', ['*.example.com']),
    ]);
  });

  it('openssl s_client -servername: two exact names and a wildcard each get theirs, SSL_TLS_SNI_SERVERNAME as asked', async () => {
    const s = await sslserver(namedEnv(), SAY_SNI);
    for (const [name, cn] of [
      ['mail.example.org', 'mail.example.org'],
      ['www.example.net', 'www.example.net'],
      ['smtp.example.com', '*.example.com'],
    ]) {
      const r = await sClient(s.port, name);
      assert.equal(r.cn, cn, `${name}: ${r.out}`);
      assert.match(r.out, /Verify return code: 0 \(ok\)/);
      assert.match(r.out, new RegExp(`^sni=${name.replace(/\./g, '\\.')}$`, 'm'));
    }
  });

  it('openssl s_client -noservername: the default certificate, SSL_TLS_SNI_SERVERNAME unset', async () => {
    const s = await sslserver(namedEnv(), SAY_SNI);
    const r = await sClient(s.port, null);
    assert.equal(r.cn, 'localhost');
    assert.match(r.out, /^sni=unset$/m);
  });

  it('Node clients: exact names in any case, a wildcard one label deep only, unknown names and none get the default', async () => {
    const s = await sslserver(namedEnv());
    const def = fingerprint(pki.rsa.cert);
    const cases: Array<[string | null, string, string]> = [
      ['mail.example.org', fingerprint(mail.cert), 'mail.example.org'],
      ['MAIL.Example.Org', fingerprint(mail.cert), 'MAIL.Example.Org'],
      ['www.example.net', fingerprint(www.cert), 'www.example.net'],
      ['a.example.com', fingerprint(wild.cert), 'a.example.com'],
      ['A.EXAMPLE.COM', fingerprint(wild.cert), 'A.EXAMPLE.COM'],
      // not under the wildcard: two labels deep, the bare domain, a name ending in it
      ['a.b.example.com', def, 'a.b.example.com'],
      ['example.com', def, 'example.com'],
      ['notexample.com', def, 'notexample.com'],
      ['other.example.org', def, 'other.example.org'],
      ['localhost', def, 'localhost'],
      [null, def, 'unset'],
    ];
    for (const [name, want, sni] of cases) {
      const got = await served(s.port, name);
      assert.equal(got.fingerprint, want, String(name));
      assert.equal(got.sni, sni, String(name));
    }
  });

  it('-v names each certificate at start-up', async () => {
    const s = await sslserver(namedEnv());
    const pid = s.proc.pid;
    const sni = s.lines().filter((l) => / sni /.test(l));
    assert.deepEqual(sni, [
      `sslserver: sni ${pid} mail.example.org ${mail.cert} ${mail.key}`,
      `sslserver: sni ${pid} www.example.net ${www.cert} ${www.key}`,
      `sslserver: sni ${pid} *.example.com ${wild.cert} ${wild.key}`,
    ]);
  });

  it('a CERTFILE:name without KEYFILE:name has its key in the same file', async () => {
    const combined = join(dir, 'mail-combined.pem');
    writeFileSync(combined, readFileSync(mail.key, 'latin1') + readFileSync(mail.cert, 'latin1'));
    const s = await sslserver(namedEnv({ 'CERTFILE:mail.example.org': combined, 'KEYFILE:mail.example.org': '' }));
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, fingerprint(mail.cert));
  });

  describe('start-up failures: 111 and the message with the name', () => {
    const cases: Array<[string, () => Record<string, string>, string]> = [
      [
        'a certificate file that is missing',
        () => ({ 'CERTFILE:mail.example.org': join(dir, 'nowhere.pem') }),
        'unable to load certificate for mail.example.org',
      ],
      [
        'a key file that is missing',
        () => ({ 'KEYFILE:mail.example.org': join(dir, 'nowhere.key') }),
        'unable to load key for mail.example.org',
      ],
      ["a key that is not the certificate's", () => ({ 'KEYFILE:mail.example.org': www.key }), 'unable to load key for mail.example.org'],
      [
        'a KEYFILE:name without its CERTFILE:name',
        () => ({ 'KEYFILE:lonely.example.org': mail.key }),
        'unable to load certificate for lonely.example.org',
      ],
    ];
    for (const [what, env, message] of cases) {
      it(what, async () => {
        const r = await run(SSLSERVER, ['-R', '-H', '-l', 'L', '127.0.0.1', '0', 'true'], { env: namedEnv(env()), timeout: 15_000 });
        assert.equal(r.status, 111);
        assert.equal(r.stderr.toString(), `sslserver: fatal: ${message}\n`);
      });
    }
  });
});

describe('sslserver certificate renewal', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  /** A fresh certificate for mail.example.org in its own directory (a renewal's files). */
  async function issue(name: string): Promise<Credentials> {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    return makeServerCertificate(pki, 'mail', ['mail.example.org'], d);
  }

  it('files rewritten in place: the next connection gets the new one, one opened before goes on; half written, the old one stays, said once', async () => {
    const live = await issue('inplace');
    const first = fingerprint(live.cert);
    const s = await sslserver(namedEnv({ 'CERTFILE:mail.example.org': live.cert, 'KEYFILE:mail.example.org': live.key }));
    const open = await session(s.port, 'mail.example.org');
    assert.equal(open.fingerprint, first);
    await open.readUntil('sni=mail.example.org\n');
    open.tls.write('before\n');
    await open.readUntil('before\n');

    const renewed = await issue('inplace-next');
    // the certificate first, its key not yet: the pair does not load, the one in use is kept
    copyFileSync(renewed.cert, live.cert);
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, first);
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, first);
    const warnings = s.lines().filter((l) => / warning: /.test(l));
    assert.deepEqual(warnings, [
      'sslserver: warning: unable to reload certificate for mail.example.org: unable to load key: keeping the one in use',
    ]);

    copyFileSync(renewed.key, live.key);
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, fingerprint(renewed.cert));
    await s.waitForLine(new RegExp(`^sslserver: reload ${s.proc.pid} ${live.cert} ${live.key} for mail\\.example\\.org$`));
    // the default certificate, untouched, is not read again
    assert.equal(s.lines().filter((l) => /^sslserver: reload /.test(l)).length, 1, s.lines().join('\n'));

    // the session from before the renewal is still served
    open.tls.write('after\n');
    await open.readUntil('after\n');
    open.tls.end();
    await s.waitForLines(/ end \d+ status 0$/, 4);
    assert.equal(s.lines().filter((l) => / warning: /.test(l)).length, 1, 'no more warnings, no dropped connection');
  });

  it('symbolic links switched as certbot does (archive/certN.pem, live/cert.pem), the default certificate too', async () => {
    const archive = join(dir, 'archive');
    const liveDir = join(dir, 'live');
    mkdirSync(archive);
    mkdirSync(liveDir);
    const versions = [await issue('certbot1'), await issue('certbot2')];
    const put = (n: number) => {
      copyFileSync(versions[n - 1].cert, join(archive, `cert${n}.pem`));
      copyFileSync(versions[n - 1].key, join(archive, `privkey${n}.pem`));
    };
    // as certbot: new files in archive/, then each link replaced by a rename over it
    const link = (n: number) => {
      for (const [file, target] of [
        ['cert.pem', `cert${n}.pem`],
        ['privkey.pem', `privkey${n}.pem`],
      ]) {
        symlinkSync(join('..', 'archive', target), join(liveDir, `${file}.new`));
        renameSync(join(liveDir, `${file}.new`), join(liveDir, file));
      }
    };
    put(1);
    link(1);
    const cert = join(liveDir, 'cert.pem');
    const key = join(liveDir, 'privkey.pem');
    const s = await sslserver(namedEnv({ CERTFILE: cert, KEYFILE: key }));
    const open = await session(s.port, null);
    assert.equal(open.fingerprint, fingerprint(versions[0].cert));
    assert.equal((await served(s.port, 'smtp.example.com')).fingerprint, fingerprint(wild.cert));

    put(2);
    link(2);
    assert.equal((await served(s.port, null)).fingerprint, fingerprint(versions[1].cert));
    await s.waitForLine(new RegExp(`^sslserver: reload ${s.proc.pid} ${cert} ${key}$`));
    // a name with a certificate of its own is untouched by the default's renewal
    assert.equal((await served(s.port, 'smtp.example.com')).fingerprint, fingerprint(wild.cert));
    await open.readUntil('sni=unset\n');
    open.tls.write('still here\n');
    await open.readUntil('still here\n');
    open.tls.end();
  });

  it('SIGHUP reads every certificate again at once, logs it, and ends no connection; a bad one is said and the old kept', async () => {
    const live = await issue('hup');
    const s = await sslserver(namedEnv({ 'CERTFILE:mail.example.org': live.cert, 'KEYFILE:mail.example.org': live.key }));
    const open = await session(s.port, 'mail.example.org');
    await open.readUntil('sni=mail.example.org\n');
    const pid = s.proc.pid;

    s.proc.kill('SIGHUP');
    const reloads = await s.waitForLines(/^sslserver: reload /, 4);
    assert.deepEqual(reloads, [
      `sslserver: reload ${pid} ${pki.rsa.cert} ${pki.rsa.key}`,
      `sslserver: reload ${pid} ${live.cert} ${live.key} for mail.example.org`,
      `sslserver: reload ${pid} ${www.cert} ${www.key} for www.example.net`,
      `sslserver: reload ${pid} ${wild.cert} ${wild.key} for *.example.com`,
    ]);

    const renewed = await issue('hup-next');
    copyFileSync(renewed.cert, live.cert);
    s.proc.kill('SIGHUP');
    await s.waitForLine(/ warning: /);
    assert.deepEqual(
      s.lines().filter((l) => / warning: /.test(l)),
      ['sslserver: warning: unable to reload certificate for mail.example.org: unable to load key: keeping the one in use'],
    );
    await s.waitForLines(/^sslserver: reload /, 7);
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, open.fingerprint, 'the one in use');

    copyFileSync(renewed.key, live.key);
    s.proc.kill('SIGHUP');
    await s.waitForLines(/^sslserver: reload /, 11);
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, fingerprint(renewed.cert));

    open.tls.write('after three hangups\n');
    await open.readUntil('after three hangups\n');
    open.tls.end();
    assert.equal(s.proc.exitCode, null, 'still running');
    assert.equal(s.proc.signalCode, null, 'still running');
  });
  it('started with SIGHUP ignored (nohup), it stays ignored, for sslserver and its programs, as for 0.95b', async () => {
    const s = await startServer(
      'sh',
      [
        '-c',
        'trap "" HUP; exec "$0" "$@"',
        SSLSERVER,
        '-1',
        '-v',
        '-R',
        '-H',
        '-l',
        'L',
        '127.0.0.1',
        '0',
        'sh',
        '-c',
        'grep SigIgn /proc/$$/status',
      ],
      { env: namedEnv() },
    );
    s.proc.kill('SIGHUP');
    const x = await session(s.port, 'mail.example.org');
    const text = await x.readUntil('\n');
    x.tls.destroy();
    const ignored = BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(text)![1]}`);
    assert.equal(ignored & 1n, 1n, 'SIGHUP ignored in the program');
    assert.ok(!s.lines().some((l) => /^sslserver: reload /.test(l)), 'no reload');
    assert.equal(s.proc.exitCode, null, 'still running');
  });
});

describe('SIGHUP next to the C sslserver', { skip: NEED_OPENSSL || NEED_UCSPI_SSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it('0.95b dies of it and its open connection goes on (a process of its own); ours lives and so does its connection', async () => {
    const env = { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key, ...cSslserverEnv() };
    const servers = [
      {
        name: 'C',
        s: await startServer(cSsl('sslserver'), ['-1', '-v', '-s', '-R', '-H', '-l', 'L', '127.0.0.1', '0', ...PROGRAM], { env }),
      },
      { name: 'ours', s: await sslserver(env) },
    ];
    const fates: Record<string, string> = {};
    for (const { name, s } of servers) {
      const open = await session(s.port, 'mail.example.org');
      await open.readUntil('sni=');
      s.proc.kill('SIGHUP');
      if (name === 'C') fates[name] = (await s.exited).signal ?? 'exited';
      else {
        await s.waitForLines(/^sslserver: reload /, 1);
        fates[name] = s.proc.exitCode === null ? 'lives' : 'exited';
      }
      open.tls.write(`${name} after SIGHUP\n`);
      await open.readUntil(`${name} after SIGHUP\n`);
      open.tls.end();
    }
    assert.deepEqual(fates, { C: 'SIGHUP', ours: 'lives' });
  });
});

describe('tcpserver -s certificate renewal', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it('the -n file rewritten: the next connection gets the new certificate; CERTFILE:name is not read', async () => {
    const d = join(dir, 'patch');
    mkdirSync(d);
    const first = await makeServerCertificate(pki, 'one', ['mail.example.org'], d);
    const second = await makeServerCertificate(pki, 'two', ['mail.example.org'], d);
    const file = join(d, 'cert.pem');
    copyFileSync(first.combined, file);
    const s = await startServer(TCPSERVER, ['-1', '-v', '-s', '-n', file, '-R', '-H', '-l', 'L', '127.0.0.1', '0', ...PROGRAM], {
      env: { PATH: process.env.PATH, 'CERTFILE:other.example': pki.other.cert, 'KEYFILE:other.example': pki.other.key },
    });
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, fingerprint(first.cert));
    // the patch's interface is its one file: no certificate by name
    assert.equal((await served(s.port, 'other.example')).fingerprint, fingerprint(first.cert));
    writeFileSync(file, readFileSync(second.combined));
    assert.equal((await served(s.port, 'mail.example.org')).fingerprint, fingerprint(second.cert));
    assert.ok(!s.lines().some((l) => / reload /.test(l)), "tcpserver's -v lines stay 0.88's");
    // and its signals too: SIGHUP ends it as it ends 0.88
    s.proc.kill('SIGHUP');
    assert.deepEqual(await s.exited, { code: null, signal: 'SIGHUP' });
  });
});

describe('the certificates by name (src/tls/server-certificates.ts)', () => {
  it('reads CERTFILE:name and KEYFILE:name: any case, a trailing dot dropped, empty values none, the first of a name wins', () => {
    const { named, orphanKeys } = namedCertificates([
      'CERTFILE=/d.pem',
      'CERTFILE:Mail.Example.ORG.=/m.pem',
      'KEYFILE:mail.example.org=/m.key',
      'CERTFILE:mail.example.org=/later.pem',
      'CERTFILE:*.example.com=/w.pem',
      'CERTFILE:empty.example=',
      'CERTFILE:=/nameless.pem',
      'CERTFILE:.=/dot.pem',
      'KEYFILE:lonely.example=/l.key',
      'KEYFILE:empty.example=/e.key',
      'OTHER:x.example=/o.pem',
    ]);
    assert.deepEqual(named, [
      { name: 'mail.example.org', files: { certFile: '/m.pem', keyFile: '/m.key' } },
      { name: '*.example.com', files: { certFile: '/w.pem', keyFile: null } },
    ]);
    assert.deepEqual(orphanKeys, ['lonely.example', 'empty.example']);
  });

  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
  const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
  /** The name in a random case, with a trailing dot or not: what a client may send. */
  const asSent = (name: string, upper: boolean[], dot: boolean) =>
    [...name].map((ch, i) => (upper[i % upper.length] ? ch.toUpperCase() : ch)).join('') + (dot ? '.' : '');
  const certificates = (names: string[]) => {
    const served = (name: string | null) => ({ name }) as unknown as ServedCertificate;
    return new ServerCertificates(served(null), names.map(served));
  };

  it('a wildcard covers every name one label below its domain, in any case, and nothing else', () => {
    fc.assert(
      fc.property(label, domain, label, fc.array(fc.boolean(), { minLength: 1 }), fc.boolean(), (first, d, deeper, upper, dot) => {
        const c = certificates([`*.${d}`]);
        assert.equal(c.forName(asSent(`${first}.${d}`, upper, dot)).name, `*.${d}`);
        assert.equal(c.forName(asSent(d, upper, dot)).name, null, 'the domain itself');
        assert.equal(c.forName(asSent(`${deeper}.${first}.${d}`, upper, dot)).name, null, 'two labels deep');
        assert.equal(c.forName(asSent(`${first}${d}`, upper, dot)).name, null, 'a name ending in the domain');
      }),
    );
  });

  it('an exact name wins over a wildcard; unknown names get the default', () => {
    fc.assert(
      fc.property(label, label, domain, fc.array(fc.boolean(), { minLength: 1 }), (a, b, d, upper) => {
        fc.pre(a !== b);
        const c = certificates([`*.${d}`, `${a}.${d}`]);
        assert.equal(c.forName(asSent(`${a}.${d}`, upper, false)).name, `${a}.${d}`);
        assert.equal(c.forName(asSent(`${b}.${d}`, upper, false)).name, `*.${d}`);
        assert.equal(c.forName(asSent(`${a}.${b}.invalid`, upper, false)).name, null);
      }),
    );
  });
});

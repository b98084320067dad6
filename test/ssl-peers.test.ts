// Our TLS programs with the real peers users put next to them: swaks sending mail over implicit TLS
// (--tlsc) to an SMTP program under sslserver, stunnel4 as a TLS client in front of tcpclient talking
// to sslserver, and stunnel4 as a TLS server (exec per connection) behind sslclient.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bindOnRandomLoopback } from './support/loopback';
import { cBinary, ours, run } from './support/programs';
import { startServer } from './support/server';
import { tempDir } from './support/tmp';
import { makeTestPki, NEED_OPENSSL, TestPki } from './support/tls';

const DIR = tempDir();
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
let pki: TestPki;
const ENV = { PATH: process.env.PATH };

const STUNNEL = cBinary('stunnel4');
const NEED_STUNNEL = STUNNEL ? false : 'stunnel4 not installed: apt-get install stunnel4';
const NEED_SWAKS = cBinary('swaks') ? false : 'swaks not installed: apt-get install swaks libnet-ssleay-perl';

// A small SMTP server: enough for swaks (EHLO, MAIL, RCPT, DATA, QUIT), the message's size in the
// DATA answer, the client's address from the environment in the greeting.
const SMTP = join(DIR, 'smtp.sh');
writeFileSync(
  SMTP,
  `#!/bin/sh
printf '220 test ESMTP for %s\\r\\n' "$TCPREMOTEIP"
while IFS= read -r line; do
  line=$(printf '%s' "$line" | tr -d '\\r')
  case "$line" in
    EHLO*|HELO*) printf '250 test\\r\\n' ;;
    MAIL*|RCPT*|RSET*|NOOP*) printf '250 ok\\r\\n' ;;
    DATA*) printf '354 go\\r\\n'; n=0
      while IFS= read -r l; do [ "$l" = "$(printf '.\\r')" ] && break; n=$((n + 1)); done
      printf '250 queued %s lines\\r\\n' "$n" ;;
    QUIT*) printf '221 bye\\r\\n'; exit 0 ;;
    *) printf '502 what\\r\\n' ;;
  esac
done
`,
);
chmodSync(SMTP, 0o755);

const stunnels: ChildProcess[] = [];
after(() => {
  for (const p of stunnels) p.kill();
});

/** stunnel4 in the foreground with `service` on a random loopback address; resolves once it accepts. */
async function stunnel(name: string, service: string[]): Promise<{ host: string; port: number }> {
  const port = 4443;
  return bindOnRandomLoopback(async (host) => {
    const conf = join(DIR, `${name}.conf`);
    writeFileSync(conf, ['foreground = yes', 'pid =', 'debug = 4', `[${name}]`, `accept = ${host}:${port}`, ...service, ''].join('\n'));
    const p = spawn(STUNNEL as string, [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    stunnels.push(p);
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (p.exitCode !== null) {
        const err = Object.assign(new Error(`stunnel exited: ${log}`), {
          code: /Address already in use/.test(log) ? 'EADDRINUSE' : 'STUNNEL',
        });
        throw err;
      }
      const up = await new Promise<boolean>((resolve) => {
        const c = connect(port, host, () => {
          c.destroy();
          resolve(true);
        });
        c.on('error', () => resolve(false));
      });
      if (up) return { host, port };
      if (Date.now() > deadline) throw new Error(`stunnel never accepted: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
}

describe('TLS peers', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
  });

  it('swaks --tlsc delivers a mail to an SMTP program under sslserver -e', { skip: NEED_SWAKS }, async () => {
    const s = await startServer(ours('sslserver'), ['-1', '-e', '-R', '-H', '-l', 'L', '127.0.0.1', '0', SMTP], {
      env: { ...ENV, CERTFILE: pki.ecdsa.cert, KEYFILE: pki.ecdsa.key },
    });
    const body = Array.from({ length: 2000 }, (_, i) => `line ${i} of a longer mail, more than a TLS record in all`).join('\n');
    const r = await run(
      'swaks',
      [
        '--server',
        '127.0.0.1',
        '--port',
        String(s.port),
        '--tlsc',
        '--from',
        'a@example.org',
        '--to',
        'b@example.org',
        '--body',
        body,
        '--timeout',
        '20',
      ],
      {
        env: ENV,
        timeout: 30_000,
      },
    );
    const out = r.stdout.toString();
    assert.equal(r.status, 0, out + r.stderr.toString());
    assert.match(out, /<~ {2}220 test ESMTP for 127\.0\.0\.1/);
    assert.match(out, /TLS started with cipher TLSv1\.[23]/);
    assert.match(out, /<~ {2}250 queued \d{4} lines/);
    assert.match(out, /<~ {2}221 bye/);
  });

  it('stunnel4 as a TLS client in front of tcpclient reaches a program under sslserver', { skip: NEED_STUNNEL }, async () => {
    const s = await startServer(
      ours('sslserver'),
      ['-1', '-R', '-H', '-l', 'L', '127.0.0.1', '0', 'sh', '-c', 'echo "hello $SSLREMOTEIP"; read l; echo "you said $l"'],
      {
        env: { ...ENV, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key },
      },
    );
    const t = await stunnel('client', [
      'client = yes',
      `connect = 127.0.0.1:${s.port}`,
      `CAfile = ${pki.ca}`,
      'verifyChain = yes',
      'checkHost = localhost',
    ]);
    const r = await run(ours('tcpclient'), ['-RHl0', t.host, String(t.port), 'sh', '-c', 'echo hi >&7; cat <&6'], { env: ENV });
    assert.equal(r.stdout.toString(), 'hello 127.0.0.1\nyou said hi\n', r.stderr.toString());
  });

  it('sslclient reaches a program that stunnel4 runs per connection', { skip: NEED_STUNNEL }, async () => {
    const program = join(DIR, 'stunnel-program.sh');
    writeFileSync(program, '#!/bin/sh\necho "hello from stunnel"\nread l\necho "you said $l"\n');
    chmodSync(program, 0o755);
    const t = await stunnel('server', [
      `cert = ${pki.rsa.cert}`,
      `key = ${pki.rsa.key}`,
      `exec = ${program}`,
      'execArgs = stunnel-program',
    ]);
    const r = await run(ours('sslclient'), ['-RHl0', '-N', '-a', pki.ca, t.host, String(t.port), 'sh', '-c', 'echo hi >&7; cat <&6'], {
      env: ENV,
    });
    assert.equal(r.stdout.toString(), 'hello from stunnel\nyou said hi\n', r.stderr.toString());
    assert.equal(r.status, 0);
  });
});

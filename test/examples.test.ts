// The examples in examples/: every script parses; the SMTP run scripts really run under their
// supervisor's tools (daemontools, runit, s6), with the site's paths (qmail's tree, the rules cdb,
// port 25 on every address, the qmaild and qmaill users) pointed at a temporary tree, a loopback
// address and `nobody`; their log scripts really log (as nobody); the systemd unit passes systemd-analyze
// verify; the tcprules Makefile really rebuilds the cdb when the text changes, and only then.
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { randomLoopbackIp } from './support/loopback';
import { BIN, ROOT } from './support/programs';
import { makeTestPki, NEED_OPENSSL } from './support/tls';
import { tempDir } from './support/tmp';

const EXAMPLES = join(ROOT, 'examples');
const DIR = tempDir();
chmodSync(DIR, 0o755); // the run scripts' programs run as nobody

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const need = (...cmds: string[]): string | false => {
  const missing = cmds.filter((c) => !have(c));
  return missing.length ? `${missing.join(', ')} not installed` : false;
};

/** Every file named run (and log/run) under examples/. */
function runScripts(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name === 'run') out.push(join(d, e.name));
    }
  };
  walk(EXAMPLES);
  return out.sort();
}

const SUPERVISORS = {
  daemontools: { tools: ['envuidgid', 'softlimit', 'multilog', 'setuidgid'], drop: 'setuidgid qmaill ' },
  runit: { tools: ['chpst', 'svlogd'], drop: 'chpst -u qmaill ' },
  s6: { tools: ['s6-envuidgid', 's6-softlimit', 's6-log', 's6-setuidgid'], drop: 's6-setuidgid qmaill ' },
} as const;

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * The service directory of one supervisor's example, copied, with the site's paths replaced (`port`:
 * the service name in the run script, served on 2525 instead).
 */
function serviceCopy(name: keyof typeof SUPERVISORS, ip: string, service = 'qmail-smtpd', port = 'smtp'): { dir: string; qmail: string } {
  const dir = join(DIR, name, service);
  mkdirSync(dir, { recursive: true });
  cpSync(join(EXAMPLES, name, service), dir, { recursive: true });
  const qmail = join(DIR, name, `${service}-qmail`);
  mkdirSync(join(qmail, 'control'), { recursive: true });
  mkdirSync(join(qmail, 'bin'));
  writeFileSync(join(qmail, 'control', 'me'), 'mail.example.test\n');
  writeFileSync(join(qmail, 'control', 'concurrencyincoming'), '7\n');
  // a qmail-smtpd that greets with what it was given, and who it runs as
  writeFileSync(join(qmail, 'bin', 'qmail-smtpd'), '#!/bin/sh\necho "220 $TCPLOCALHOST ESMTP uid=`id -u` $MAXCONNIP"\nread line\n');
  chmodSync(join(qmail, 'bin', 'qmail-smtpd'), 0o755);
  const rules = join(DIR, name, `${service}-tcp.smtp.cdb`);
  const r = spawnSync(join(BIN, 'tcprules'), [rules, `${rules}.tmp`], { input: ':allow\n' });
  assert.equal(r.status, 0);
  const run = join(dir, 'run');
  const text = readFileSync(run, 'utf8');
  for (const site of ['QMAIL=/var/qmail', '/etc/tcp.smtp.cdb', ' qmaild ', ` 0 ${port} `])
    assert.ok(text.includes(site), `${name}/run names ${site}`);
  writeFileSync(
    run,
    text
      .replace('QMAIL=/var/qmail', `QMAIL=${qmail}`)
      .replace('/etc/tcp.smtp.cdb', rules)
      .replace(' qmaild ', ' nobody ')
      .replace(` 0 ${port} `, ` ${ip} 2525 `),
  );
  return { dir, qmail };
}

/** The first line a client gets from ip:2525 (over TLS trusting `ca`), retrying while the service starts (10 s at most). */
async function greeting(ip: string, ca?: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const s = ca
          ? tlsConnect({ host: ip, port: 2525, ca: readFileSync(ca), servername: 'localhost' })
          : connect({ host: ip, port: 2525 });
        let data = '';
        s.on('data', (d) => {
          data += d;
          if (data.includes('\n')) {
            s.end('QUIT\r\n');
            resolve(data.slice(0, data.indexOf('\n')));
          }
        });
        s.on('error', reject);
      });
    } catch (err) {
      if (i === 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Runs a copied service's run script and checks it serves: the greeting as nobody with its limit,
 * the status socket, the server's -v lines on stdout (2>&1), -c from control/concurrencyincoming.
 */
async function serviceServes(
  dir: string,
  ip: string,
  server: 'tcpserver' | 'sslserver',
  ca?: string,
  more?: (log: () => string) => Promise<void>,
): Promise<void> {
  const proc = spawn(join(dir, 'run'), [], { cwd: dir, env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` } });
  children.add(proc);
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  try {
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(await greeting(ip, ca), `220 mail.example.test ESMTP uid=${nobody} 5`);
    assert.ok(statSync(join(dir, 'status')).isSocket(), 'TCPSERVERSTATUS=./status');
    for (let i = 0; i < 100 && !log.includes('end '); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(log, new RegExp(`^${server}: status: 0/7$`, 'm'));
    assert.match(
      log,
      new RegExp(`^${server}: ok \\d+ mail\\.example\\.test:${ip.replace(/\./g, '\\.')}:2525 :127\\.0\\.0\\.1::\\d+$`, 'm'),
    );
    await more?.(() => log);
  } finally {
    proc.kill('SIGTERM');
  }
}

describe('examples', () => {
  it('every script parses (sh -n)', () => {
    const scripts = runScripts();
    assert.ok(scripts.length >= 6, scripts.join(' '));
    for (const f of scripts) {
      const r = spawnSync('sh', ['-n', f], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${f}: ${r.stderr}`);
      assert.ok(statSync(f).mode & 0o100, `${f} is executable`);
    }
  });

  for (const name of Object.keys(SUPERVISORS) as Array<keyof typeof SUPERVISORS>) {
    const { tools, drop } = SUPERVISORS[name];
    it(`${name}: the SMTP run script serves, with its rules, limits, ids and status socket`, { skip: need(...tools) }, async () => {
      const ip = randomLoopbackIp();
      const { dir } = serviceCopy(name, ip);
      await serviceServes(dir, ip, 'tcpserver');
      // and its log script, as nobody instead of qmaill, logs what it is given with a stamp
      const logDir = join(dir, 'log');
      const logRun = join(logDir, 'run');
      const text = readFileSync(logRun, 'utf8');
      assert.ok(text.includes(drop), `${name}/log/run runs as qmaill`);
      writeFileSync(logRun, text.replace(/qmaill/g, 'nobody'));
      const r = spawnSync(logRun, [], { cwd: logDir, input: 'tcpserver: status: 0/7\n', encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      const current = readFileSync(join(logDir, 'main', 'current'), 'utf8');
      assert.match(current, /^\S+ tcpserver: status: 0\/7$/m);
    });
  }

  it('daemontools: the SMTPS run script serves over TLS, with its certificate, rules, limits and ids', {
    skip: need(...SUPERVISORS.daemontools.tools) || NEED_OPENSSL,
  }, async () => {
    const ip = randomLoopbackIp();
    const pki = await makeTestPki();
    const { dir } = serviceCopy('daemontools', ip, 'qmail-smtpsd', 'smtps');
    const run = join(dir, 'run');
    const text = readFileSync(run, 'utf8');
    assert.ok(
      text.includes('/etc/ssl/mail/fullchain.pem') && text.includes('/etc/ssl/mail/privkey.pem'),
      'the run script names its certificate and key',
    );
    writeFileSync(run, text.replace('/etc/ssl/mail/fullchain.pem', pki.rsa.cert).replace('/etc/ssl/mail/privkey.pem', pki.rsa.key));
    await serviceServes(dir, ip, 'sslserver', pki.ca);
  });

  it('daemontools: the STARTTLS run script (sslserver -n) greets in clear and makes TLS when its qmail-smtpd asks', {
    skip: need(...SUPERVISORS.daemontools.tools, 'openssl'),
  }, async () => {
    const ip = randomLoopbackIp();
    const pki = await makeTestPki();
    const { dir, qmail } = serviceCopy('daemontools', ip, 'qmail-smtpd-starttls');
    const run = join(dir, 'run');
    const text = readFileSync(run, 'utf8');
    assert.match(text, /sslserver -n /);
    writeFileSync(run, text.replace('/etc/ssl/mail/fullchain.pem', pki.rsa.cert).replace('/etc/ssl/mail/privkey.pem', pki.rsa.key));
    // a qmail-smtpd that speaks UCSPI-TLS when UCSPITLS is set: greets as the plain one, offers
    // STARTTLS, asks with y, answers QUIT inside TLS
    const smtpd = join(qmail, 'bin', 'qmail-smtpd');
    writeFileSync(
      smtpd,
      [
        '#!/bin/sh',
        'echo "220 $TCPLOCALHOST ESMTP uid=`id -u` $MAXCONNIP"',
        'read -r l',
        '[ "${UCSPITLS-unset}" = "" ] || exit 1',
        "printf '250-x\\r\\n250 STARTTLS\\r\\n'",
        'read -r l',
        "printf '220 go ahead\\r\\n'",
        'printf y >&$SSLCTLFD',
        'eval "exec 0<&$SSLREADFD 1>&$SSLWRITEFD $SSLCTLFD>&-"',
        'read -r l',
        'echo "221 $l in TLS"',
        '',
      ].join('\n'),
    );
    await serviceServes(dir, ip, 'sslserver', undefined, async (log) => {
      const r = spawnSync(
        'openssl',
        ['s_client', '-starttls', 'smtp', '-connect', `${ip}:2525`, '-CAfile', pki.ca, '-verify_return_error', '-quiet'],
        {
          input: 'QUIT\n',
          encoding: 'latin1',
          timeout: 20_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '221 QUIT in TLS\n');
      for (let i = 0; i < 100 && !/ ssl \d+ accept/.test(log()); i++) await new Promise((res) => setTimeout(res, 50));
      assert.match(log(), /^sslserver: ssl \d+ accept $/m);
    });
  });

  it('systemd: the unit passes systemd-analyze verify, with KillMode=process', { skip: need('systemd-analyze') }, () => {
    const unit = join(EXAMPLES, 'systemd', 'qmail-smtpd.service');
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warning');
    assert.match(readFileSync(unit, 'utf8'), /^KillMode=process$/m);
  });

  it('tcprules Makefile: make compiles the text, again only when it changed, and keeps the cdb on a bad line', {
    skip: need('make'),
  }, () => {
    const dir = join(DIR, 'rules');
    mkdirSync(dir);
    cpSync(join(EXAMPLES, 'tcprules'), dir, { recursive: true });
    const make = () => spawnSync('make', [`TCPRULES=${join(BIN, 'tcprules')}`], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    const check = (ip: string) =>
      spawnSync(join(BIN, 'tcprulescheck'), ['tcp.smtp.cdb'], { cwd: dir, encoding: 'utf8', env: { ...process.env, TCPREMOTEIP: ip } })
        .stdout;
    assert.equal(make().status, 0);
    assert.match(check('10.9.8.7'), /^rule 10\.9\.8\.7:\ndeny connection\n$/);
    const cdb = join(dir, 'tcp.smtp.cdb');
    const first = statSync(cdb).mtimeMs;
    const again = make();
    assert.equal(again.status, 0);
    assert.match(again.stdout, /Nothing to be done/);
    assert.equal(statSync(cdb).mtimeMs, first, 'not rebuilt when the text did not change');

    const text = join(dir, 'tcp.smtp');
    writeFileSync(text, readFileSync(text, 'utf8').replace('10.9.8.7:deny', '10.9.8.7:allow,RELAYCLIENT=""'));
    const later = new Date(Date.now() + 2000);
    utimesSync(text, later, later);
    assert.equal(make().status, 0);
    assert.match(check('10.9.8.7'), /^rule 10\.9\.8\.7:\nset environment variable RELAYCLIENT=\nallow connection\n$/);

    const good = readFileSync(cdb);
    writeFileSync(text, '10.1.2.3:bogus\n');
    const laterStill = new Date(Date.now() + 4000);
    utimesSync(text, laterStill, laterStill);
    const bad = make();
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /^tcprules: fatal: unable to parse this line: 10\.1\.2\.3:bogus$/m);
    assert.deepEqual(readFileSync(cdb), good, 'the old cdb stays');
    assert.ok(existsSync(cdb));
  });
});

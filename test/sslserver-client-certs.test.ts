// sslserver -m and -z: client certificates asked for with CCAFILE, verified against CAFILE (at most
// VERIFYDEPTH intermediates), with -z named after the client's host (its PTR name from a DNS server
// on loopback); ucspi-ssl's messages for a missing, unverified or misnamed certificate, none of
// which costs a process; SSL_CLIENT_* with -s; sslclient -c/-k presenting one.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsTestServer } from './support/dns-server';
import { randomLoopbackIp } from './support/loopback';
import { ours, run } from './support/programs';
import { parseEnvOutput, RunningServer, startServer } from './support/server';
import { tempDir } from './support/tmp';
import { ClientPki, Credentials, makeClientPki, makeTestPki, NEED_OPENSSL, TestPki, tlsExchange } from './support/tls';

const SSLSERVER = ours('sslserver');
const SSLCLIENT = ours('sslclient');
const pkiReady = NEED_OPENSSL ? null : makeTestPki();
const dir = tempDir();
let pki: TestPki;
let clients: ClientPki;

const SERVER_IP = randomLoopbackIp();
const HONEST = randomLoopbackIp(); // PTR honest.example, its A record pointing back
const LIAR = randomLoopbackIp(); // PTR client.example, whose A record points elsewhere
const reverse = (ip: string) => ip.split('.').reverse().join('.') + '.in-addr.arpa';
let dns: DnsTestServer;

const PROGRAM = [
  'sh',
  '-c',
  'echo "served $SSLREMOTEHOST"; env | grep -E "^SSL_(CLIENT_(S_DN|I_DN|M_SERIAL|CERT_CHAIN_[0-9]+)|TLS_SNI)=" | sort',
];

function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return dns.env({ PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key, CAFILE: pki.ca, CCAFILE: pki.ca, ...extra });
}

async function server(flags: string[], env: Record<string, string> = {}, program = PROGRAM): Promise<RunningServer> {
  return startServer(SSLSERVER, ['-1', '-v', ...flags, '-R', '-l', 'L', SERVER_IP, '0', ...program], { env: serverEnv(env) });
}

/** What a client from `from` presenting `cert` is told (TLS 1.3 and 1.2 alike). */
async function attempt(
  s: RunningServer,
  cert: Credentials | undefined,
  from = '127.0.0.1',
  version?: 'TLSv1.2' | 'TLSv1.3',
): Promise<string> {
  const x = await tlsExchange(s.port, { host: SERVER_IP, localAddress: from, ca: pki.ca, cert, version });
  return x.data.toString();
}

/** The drop of a connection whose client certificate does not do: its lines under one number, no program. */
async function dropped(s: RunningServer, reason: string): Promise<void> {
  const warning = await s.waitForLine(/ warning: /);
  assert.equal(warning, `sslserver: warning: dropping SSL connection, ${reason}`);
  const end = await s.waitForLine(/ end \d+ status 28416$/);
  const n = / end (\d+) /.exec(end)![1];
  assert.ok(
    s.lines().some((l) => l.startsWith(`sslserver: ok ${n} `)),
    'the ok line comes first, as ucspi-ssl logs it',
  );
  assert.ok(!s.lines().some((l) => l.startsWith(`sslserver: ssl ${n} accept`)), 'no session for it');
}

describe('sslserver client certificates', { skip: NEED_OPENSSL }, () => {
  before(async () => {
    pki = (await pkiReady) as TestPki;
    clients = await makeClientPki(pki);
    dns = await DnsTestServer.start({
      [reverse(HONEST)]: { PTR: ['honest.example'] },
      'honest.example': { A: [HONEST] },
      [reverse(LIAR)]: { PTR: ['client.example'] },
      'client.example': { A: ['10.9.9.9'] },
    });
  });
  after(async () => {
    await dns?.close();
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`-m over ${version}: a certificate the CA signed is served, SSL_CLIENT_* with -s; none, a foreign one and an expired one are dropped`, async () => {
      const s = await server(['-m', '-s', '-H']);
      const out = parseEnvOutput(await attempt(s, pki.client, '127.0.0.1', version));
      assert.equal(out.get('SSL_CLIENT_S_DN'), '/O=ucspi-ts tests/CN=client.example');
      assert.equal(out.get('SSL_CLIENT_I_DN'), '/CN=ucspi-ts test CA');
      assert.match(out.get('SSL_CLIENT_M_SERIAL') ?? '', /^\d+$/);
      for (const cert of [undefined, clients.foreign, clients.expired])
        assert.equal(await attempt(s, cert, '127.0.0.1', version), '', 'nothing from a program');
      await s.waitForLines(/ end \d+ status 28416$/, 3);
      assert.deepEqual(
        s.lines().filter((l) => / warning: /.test(l)),
        [
          'sslserver: warning: dropping SSL connection, no client certificate',
          'sslserver: warning: dropping SSL connection, missing credentials (CA) or unable to validate client certificate',
          'sslserver: warning: dropping SSL connection, missing credentials (CA) or unable to validate client certificate',
        ],
      );
      assert.equal(s.lines().filter((l) => / ssl \d+ accept/.test(l)).length, 1, 'a session for the good one only');
    });
  }

  it('-m: a certificate under an intermediate CA (sent with it) passes VERIFYDEPTH 1, not VERIFYDEPTH 0', async () => {
    const deep = await server(['-m', '-s', '-H']);
    const out = parseEnvOutput(await attempt(deep, clients.intermediate));
    assert.equal(out.get('SSL_CLIENT_S_DN'), '/CN=client.example');
    assert.equal(out.get('SSL_CLIENT_I_DN'), '/CN=ucspi-ts test sub CA');
    assert.ok(out.has('SSL_CLIENT_CERT_CHAIN_0'), 'the intermediate as the chain');
    const shallow = await server(['-m', '-H'], { VERIFYDEPTH: '0' });
    assert.equal(await attempt(shallow, clients.intermediate), '');
    await dropped(shallow, 'missing credentials (CA) or unable to validate client certificate');
  });

  it('-m without CAFILE or CADIR: nothing is trusted, every certificate is unverified', async () => {
    const s = await server(['-m', '-H'], { CAFILE: '' });
    assert.equal(await attempt(s, pki.client), '');
    await dropped(s, 'missing credentials (CA) or unable to validate client certificate');
  });

  it("-z: the client host name (its PTR name) must be one of the certificate's DNS names, or its CN without any", async () => {
    const s = await server(['-z', '-s', '-h']);
    // named: dNSName client.example and Honest.Example (case does not matter), CN someone.example
    assert.match(await attempt(s, clients.named, HONEST), /^served honest\.example\n/);
    // client: no dNSName, CN client.example
    assert.equal(await attempt(s, pki.client, HONEST), '');
    await dropped(s, 'client hostname does not match certificate: honest.example');
  });

  it('-z: the CN counts only without DNS names; a client whose host name is unknown (-H, no PTR) is not name-checked, as in ucspi-ssl', async () => {
    const byCn = await server(['-z', '-h']);
    // a PTR name that does not lead back is still a name without -p
    assert.match(await attempt(byCn, pki.client, LIAR), /^served client\.example\n/);
    const bySan = await server(['-z', '-h']);
    assert.match(await attempt(bySan, clients.named, LIAR), /^served client\.example\n/);
    const nameless = await server(['-z', '-H']);
    assert.match(await attempt(nameless, pki.client, HONEST), /^served \n/);
  });

  it('-z -p: a PTR name that does not lead back is no name, and the certificate must then name the address', async () => {
    const s = await server(['-z', '-h', '-p']);
    assert.equal(await attempt(s, pki.client, LIAR), '');
    await dropped(s, `client hostname does not match certificate: ${LIAR}`);
  });

  it('without CCAFILE no certificate is asked for, so -m drops every client; CCAFILE=- turns -m off', async () => {
    const unasked = await server(['-m', '-H'], { CCAFILE: '' });
    assert.equal(await attempt(unasked, pki.client), '');
    await dropped(unasked, 'no client certificate');
    const off = await server(['-m', '-H'], { CCAFILE: '-' });
    assert.match(await attempt(off, undefined), /^served \n/);
  });

  it('-v names CCAFILE only when a certificate is asked for; a CCAFILE that does not load stops sslserver (111)', async () => {
    const s = await server(['-m', '-H']);
    assert.equal(await s.waitForLine(/ ccafile /), `sslserver: ccafile ${s.proc.pid} ${pki.ca}`);
    const plain = await server(['-H']);
    assert.equal(await plain.waitForLine(/ ccafile /), `sslserver: ccafile ${plain.proc.pid} `);
    const marker = join(dir, 'never');
    const bad = await run(SSLSERVER, ['-m', '-H', '-R', '127.0.0.1', '0', 'touch', marker], {
      env: serverEnv({ CCAFILE: join(dir, 'none.pem') }),
    });
    assert.equal(bad.stderr.toString(), 'sslserver: fatal: unable to load client CA list\n');
    assert.equal(bad.status, 111);
    assert.ok(!existsSync(marker));
  });

  it('sslclient -c/-k presents a certificate to sslserver -m', async () => {
    const s = await server(['-m', '-s', '-H']);
    const r = await run(
      SSLCLIENT,
      ['-R', '-H', '-N', '-a', pki.ca, '-c', pki.client.cert, '-k', pki.client.key, SERVER_IP, String(s.port), 'sh', '-c', 'exec cat <&6'],
      {
        env: { PATH: process.env.PATH },
      },
    );
    assert.equal(r.stderr.toString(), '');
    assert.equal(parseEnvOutput(r.stdout.toString()).get('SSL_CLIENT_S_DN'), '/O=ucspi-ts tests/CN=client.example');
    const none = await run(SSLCLIENT, ['-R', '-H', '-N', '-a', pki.ca, SERVER_IP, String(s.port), 'sh', '-c', 'exec cat <&6'], {
      env: { PATH: process.env.PATH },
    });
    assert.equal(none.stdout.toString(), '');
    await s.waitForLine(/dropping SSL connection, no client certificate$/);
  });
});

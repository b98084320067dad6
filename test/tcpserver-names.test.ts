// tcpserver's name work (-h, -p, local PTR, -l, ident -r) against a real DNS server and a real
// ident server on loopback, and the same scenarios against the C tcpserver.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DnsTestServer } from './support/dns-server';
import { IdentTestServer } from './support/ident-server';
import { randomLoopbackIp } from './support/loopback';
import { cBinary, needC, ours } from './support/programs';
import { exchange, parseEnvOutput, startServer } from './support/server';

const SERVER_IP = randomLoopbackIp();
const HONEST = randomLoopbackIp(); // PTR honest.example, whose A record points back
const LIAR = randomLoopbackIp(); // PTR Liar.Example, whose A record points elsewhere
const NAMELESS = randomLoopbackIp(); // NXDOMAIN for its PTR
const reverse = (ip: string) => ip.split('.').reverse().join('.') + '.in-addr.arpa';

let dns: DnsTestServer;
let ident: IdentTestServer;

before(async () => {
  dns = await DnsTestServer.start({
    [reverse(SERVER_IP)]: { PTR: ['Server.Local.Test'] },
    [reverse(HONEST)]: { PTR: ['honest.example'] },
    'honest.example': { A: [HONEST] },
    [reverse(LIAR)]: { PTR: ['Liar.Example'] },
    'liar.example': { A: ['10.9.9.9'] },
    [reverse(NAMELESS)]: 'nxdomain',
  });
  // ident is asked at the client's address, port 113
  ident = await IdentTestServer.start((req) => {
    const [rport, lport] = req.line.split(',').map((s) => s.trim());
    return `${rport} , ${lport} : USERID : UNIX : st john s\r\n`;
  }, HONEST);
});
after(async () => {
  await dns?.close();
  await ident?.close();
});

const PROGRAM = ['sh', '-c', 'env | grep -E "^(PROTO|TCP)" | sort'];

interface Outcome {
  env: Map<string, string>;
  log: string[];
}

/** One connection from `clientIp` to a server run with `flags`; ports and pids normalised. */
async function scenario(bin: string, flags: string[], clientIp: string): Promise<Outcome> {
  const s = await startServer(bin, ['-v', '-1', ...flags, SERVER_IP, '0', ...PROGRAM], { env: dns.env() });
  const r = await exchange(s.port, { host: SERVER_IP, localAddress: clientIp, timeoutMs: 20_000 });
  const lines = await s.waitForLines(/^tcpserver: status: 0\//, 2);
  assert.equal(lines.length, 2);
  await s.stop();
  const env = parseEnvOutput(r.data.toString('latin1'));
  const port = env.get('TCPREMOTEPORT') ?? '?';
  env.delete('TCPREMOTEPORT');
  env.delete('TCPLOCALPORT');
  let pid = '';
  const log = s.lines().map((l) => {
    const m = /^tcpserver: pid (\d+) from/.exec(l);
    if (m) pid = m[1];
    return l.split(String(s.port)).join('PORT').split(port).join('RPORT');
  });
  return { env, log: log.map((l) => (pid ? l.split(` ${pid} `).join(' PID ') : l)) };
}

describe('tcpserver name lookups', () => {
  it('sets TCPLOCALHOST and TCPREMOTEHOST from PTR records, lowercased', async () => {
    const o = await scenario(ours('tcpserver'), ['-R'], HONEST);
    assert.equal(o.env.get('TCPLOCALHOST'), 'server.local.test');
    assert.equal(o.env.get('TCPREMOTEHOST'), 'honest.example');
    assert.ok(o.log.includes(`tcpserver: ok PID server.local.test:${SERVER_IP}:PORT honest.example:${HONEST}::RPORT`), o.log.join('\n'));
  });

  it('-p keeps only a name whose A records include the client', async () => {
    const plain = await scenario(ours('tcpserver'), ['-R'], LIAR);
    assert.equal(plain.env.get('TCPREMOTEHOST'), 'liar.example');
    const paranoid = await scenario(ours('tcpserver'), ['-R', '-p'], LIAR);
    assert.equal(paranoid.env.has('TCPREMOTEHOST'), false);
    const honest = await scenario(ours('tcpserver'), ['-R', '-p'], HONEST);
    assert.equal(honest.env.get('TCPREMOTEHOST'), 'honest.example');
  });

  it('leaves TCPREMOTEHOST unset when there is no PTR, and -H skips the lookup', async () => {
    const none = await scenario(ours('tcpserver'), ['-R'], NAMELESS);
    assert.equal(none.env.has('TCPREMOTEHOST'), false);
    const before = dns.queries.length;
    const skipped = await scenario(ours('tcpserver'), ['-R', '-H', '-l', 'x'], HONEST);
    assert.equal(skipped.env.has('TCPREMOTEHOST'), false);
    assert.equal(dns.queries.length, before, 'no DNS query with -H and -l');
  });

  it('asks ident (-r) and logs the answer with colons made safe', async () => {
    const o = await scenario(ours('tcpserver'), ['-H', '-l', 'L'], HONEST);
    assert.equal(o.env.get('TCPREMOTEINFO'), 'stjohns');
    const asked = ident.requests.at(-1);
    assert.ok(asked);
  });

  const c = cBinary('tcpserver');
  for (const [name, flags, client] of [
    ['defaults (-h -r)', [] as string[], HONEST],
    ['-p with a lying PTR', ['-p', '-R'], LIAR],
    ['-p with an honest PTR', ['-p'], HONEST],
    ['no PTR', ['-R'], NAMELESS],
    ['-H -l name', ['-H', '-l', 'Some Name:x'], HONEST],
  ] as const) {
    it(`matches the C tcpserver: ${name}`, { skip: needC('tcpserver') }, async () => {
      const mine = await scenario(ours('tcpserver'), [...flags], client);
      const theirs = await scenario(c as string, [...flags], client);
      assert.deepEqual([...mine.env].sort(), [...theirs.env].sort());
      assert.deepEqual(mine.log, theirs.log);
    });
  }
});

describe('tcpserver lookups do not hold anyone up', () => {
  it('serves a client whose PTR answers while another client waits on a silent DNS server', async () => {
    const SLOW = randomLoopbackIp();
    dns.set(reverse(SLOW), 'timeout');
    const s = await startServer(ours('tcpserver'), ['-v', '-1', '-R', '-l', 'L', SERVER_IP, '0', 'sh', '-c', 'echo $TCPREMOTEHOST'], {
      env: dns.env(),
    });
    const slow = exchange(s.port, { host: SERVER_IP, localAddress: SLOW, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 200)); // the slow client's lookup is under way
    const fast = await exchange(s.port, { host: SERVER_IP, localAddress: HONEST });
    assert.equal(fast.data.toString(), 'honest.example\n');
    const slowLine = s.lines().find((l) => l.includes(` from ${SLOW}`));
    assert.equal(slowLine, undefined, 'the slow client is still being looked up');
    assert.equal((await slow).data.toString(), '\n'); // the lookup failed: TCPREMOTEHOST unset
  });
});

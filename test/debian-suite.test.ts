// The server cases of Debian's autopkgtest suite (debian/tests/python, ucspi_tcp_test), run for
// the address families it is run with (-i 4 and -i 6): test_server_local and
// test_server_client_spew. The client-only cases live in test/scripts.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DnsTestServer } from './support/dns-server';
import { ours, run } from './support/programs';

const MESSAGE = 'a01 hello\na02 bye\n';

// tcpserver looks up TCPREMOTEHOST by default (-h): a test DNS server that knows no names answers
// it, so nothing reaches the machine's resolver
let dns: DnsTestServer;
before(async () => {
  dns = await DnsTestServer.start({});
});
after(() => dns?.close());

/** tcpserver -vR -- ADDR PORT printf -- MESSAGE, as the suite starts it; resolves once its first stderr line is in. */
function startSuiteServer(addr: string): Promise<{ port: number; firstLine: string; stop: () => Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    // the suite picks a free port itself; -1 tells us the kernel's choice instead
    const proc = spawn(ours('tcpserver'), ['-1', '-vR', '--', addr, '0', 'printf', '--', MESSAGE], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C.UTF-8', DNSCACHEIP: dns.address },
    });
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const check = () => {
      if (!out.includes('\n') || !err.includes('\n')) return;
      resolve({
        port: Number(out.trim()),
        firstLine: err.slice(0, err.indexOf('\n')),
        stop: async () => {
          proc.kill('SIGTERM');
          return exited;
        },
      });
    };
    proc.stdout.on('data', (d) => ((out += d), check()));
    proc.stderr.on('data', (d) => ((err += d), check()));
    proc.on('error', reject);
  });
}

for (const [family, addr] of [
  ['4', '127.0.0.1'],
  ['6', '::1'],
] as const) {
  describe(`Debian suite, -i ${family} (${addr})`, () => {
    it('test_server_local: one recv gets the whole message; SIGTERM exits 0', async () => {
      const s = await startSuiteServer(addr);
      assert.match(s.firstLine, /server: status: 0\//);
      const first = await new Promise<Buffer>((resolve, reject) => {
        const sock = connect(s.port, addr);
        sock.once('data', (d: Buffer) => {
          resolve(d);
          sock.destroy();
        });
        sock.on('error', reject);
      });
      assert.equal(first.toString(), MESSAGE);
      assert.equal(await s.stop(), 0);
    });

    it('test_server_client_spew: tcpclient reads the message from fd 6', async () => {
      const s = await startSuiteServer(addr);
      const r = await run(ours('tcpclient'), ['-R', '--', addr, String(s.port), 'sh', '-c', 'set -e; exec <&6; exec cat'], {
        env: { ...process.env, DNSCACHEIP: dns.address },
      });
      assert.equal(r.stdout.toString(), MESSAGE);
      assert.equal(r.status, 0);
      assert.equal(await s.stop(), 0);
    });
  });
}

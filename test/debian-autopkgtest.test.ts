// Debian's own autopkgtest suite for ucspi-tcp and ucspi-tcp-ipv6 (debian/tests/python, the
// ucspi_tcp_test module), run unchanged against our bin/ directory for its three variants: the
// IPv4 package, and the IPv6 package with -i 4 and -i 6.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsTestServer } from './support/dns-server';
import { debianTestsDir } from './support/debian-source';
import { BIN, run } from './support/programs';

const PYTHON = '/usr/bin/python3';
const modulesPresent = spawnSync(PYTHON, ['-c', 'import netifaces, utf8_locale'], { stdio: 'ignore' }).status === 0;

function skipReason(): string | false {
  if (!modulesPresent) return 'python3-netifaces and python3-utf8-locale not installed (Debian packages)';
  if (!debianTestsDir()) return "Debian's ucspi-tcp source package not available (apt-get source failed)";
  return false;
}

describe("Debian's autopkgtest suite against ucspi-ts", { skip: skipReason() }, () => {
  // tcpserver looks up TCPREMOTEHOST by default: a test DNS server answers, never the machine's resolver
  let dns: DnsTestServer;
  before(async () => {
    dns = await DnsTestServer.start({});
  });
  after(() => dns?.close());

  for (const variant of [[], ['-i', '4'], ['-i', '6']]) {
    it(`ucspi_tcp_test -p tcp ${variant.join(' ')}`.trim(), async () => {
      const tests = debianTestsDir() as string;
      const r = await run(PYTHON, ['-B', '-u', '-m', 'ucspi_tcp_test', '-d', BIN, '-p', 'tcp', ...variant], {
        env: dns.env({ PYTHONPATH: join(tests, 'python') }),
        timeout: 120_000,
      });
      const out = r.stdout.toString() + r.stderr.toString();
      assert.equal(r.status, 0, out);
      assert.match(out, /=== The tests for tcp passed/);
    });
  }
});

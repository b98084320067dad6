// tcpserver end to end: real sockets on loopback, real children, real signals.
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeCdb } from '../src/cdb/writer';
import { libc } from '../src/ffi';
import { parseRules } from '../src/rules/parse';
import { ours, runSync } from './support/programs';
import { childrenOf } from './support/proc';
import { exchange, parseEnvOutput, startServer } from './support/server';
import { tempDir } from './support/tmp';

const TCPSERVER = ours('tcpserver');
// no name lookups unless a test asks: -R (no ident), -H (no PTR), -l (no local PTR)
const QUIET = ['-v', '-1', '-R', '-H', '-l', 'Local'];
const DNS_OFF = { ...process.env, DNSCACHEIP: '127.0.0.1' };

function writeRules(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  const records = parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const);
  writeFileSync(path, makeCdb(records));
  return path;
}

describe('tcpserver command line', () => {
  it('prints usage and exits 100 for missing operands', () => {
    const r = runSync(TCPSERVER, ['0', '0']);
    assert.equal(r.status, 100);
    assert.match(r.stderr.toString(), /^tcpserver: usage: tcpserver \[ -1UXpPhHrRoOdDqQv \]/);
  });
  it('reports an illegal option then usage', () => {
    const r = runSync(TCPSERVER, ['-Z', '0', '0', 'echo']);
    assert.equal(r.status, 100);
    assert.match(r.stderr.toString(), /^tcpserver: illegal option -- Z\ntcpserver: usage: /);
  });
  it('-q silences a usage error found after option parsing', () => {
    const r = runSync(TCPSERVER, ['-q', '0', '0']);
    assert.equal(r.status, 100);
    assert.equal(r.stderr.length, 0);
  });
  it('fails 111 on an unknown port name', () => {
    const r = runSync(TCPSERVER, ['0', 'nonexistentport', 'echo']);
    assert.equal(r.status, 111);
    assert.equal(r.stderr.toString(), 'tcpserver: fatal: unable to figure out port number for nonexistentport\n');
  });
  it('fails 111 binding an address that is not local', () => {
    const r = runSync(TCPSERVER, ['1.2.3.4', '0', 'echo'], { env: DNS_OFF });
    assert.equal(r.status, 111);
    assert.equal(r.stderr.toString(), 'tcpserver: fatal: unable to bind: address not available\n');
  });
  it('fails 111 on a port already in use', async () => {
    const first = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'true']);
    const r = runSync(TCPSERVER, ['127.0.0.1', String(first.port), 'true']);
    assert.equal(r.status, 111);
    assert.equal(r.stderr.toString(), 'tcpserver: fatal: unable to bind: address already used\n');
  });
});

describe('tcpserver serving', () => {
  it('gives the program the connection and 0.88 environment, and logs each step', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-Bhi ', '127.0.0.1', '0', 'env']);
    await s.waitForLine(/^tcpserver: status: 0\/40$/);
    const r = await exchange(s.port);
    assert.ok(r.data.subarray(0, 3).equals(Buffer.from('hi ')), 'banner first');
    const env = parseEnvOutput(r.data.subarray(3).toString('latin1'));
    assert.equal(env.get('PROTO'), 'TCP');
    assert.equal(env.get('TCPLOCALIP'), '127.0.0.1');
    assert.equal(env.get('TCPLOCALPORT'), String(s.port));
    assert.equal(env.get('TCPLOCALHOST'), 'Local');
    assert.equal(env.get('TCPREMOTEIP'), '127.0.0.1');
    assert.match(env.get('TCPREMOTEPORT') ?? '', /^\d+$/);
    assert.equal(env.has('TCPREMOTEHOST'), false);
    assert.equal(env.has('TCPREMOTEINFO'), false);
    await s.waitForLines(/^tcpserver: status: 0\/40$/, 2); // the one after the end line
    const end = await s.waitForLine(/^tcpserver: end \d+ status 0$/);
    const pid = end.split(' ')[2];
    const rport = env.get('TCPREMOTEPORT');
    assert.deepEqual(s.lines(), [
      'tcpserver: status: 0/40',
      'tcpserver: status: 1/40',
      `tcpserver: pid ${pid} from 127.0.0.1`,
      `tcpserver: ok ${pid} Local:127.0.0.1:${s.port} :127.0.0.1::${rport}`,
      `tcpserver: end ${pid} status 0`,
      'tcpserver: status: 0/40',
    ]);
  });

  it('removes inherited TCP variables that a connection leaves unset', async () => {
    const env = { ...process.env, TCPREMOTEHOST: 'stale', TCPREMOTEINFO: 'stale' };
    const s = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'env'], { env });
    const vars = parseEnvOutput((await exchange(s.port)).data.toString('latin1'));
    assert.equal(vars.has('TCPREMOTEHOST'), false);
    assert.equal(vars.has('TCPREMOTEINFO'), false);
  });

  it('reports the raw wait status of each child', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'sh', '-c', 'exit 3']);
    await exchange(s.port);
    await s.waitForLine(/^tcpserver: end \d+ status 768$/);
    const k = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'sh', '-c', 'kill -TERM $$']);
    await exchange(k.port);
    await k.waitForLine(/^tcpserver: end \d+ status 15$/);
  });

  it('drops the connection when the program cannot run', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', './nonexistent-program']);
    const r = await exchange(s.port);
    assert.equal(r.data.length, 0);
    await s.waitForLine(/^tcpserver: warning: dropping connection, unable to run \.\/nonexistent-program: file does not exist$/);
    await s.waitForLine(/^tcpserver: end \d+ status 28416$/);
    await s.waitForLine(/^tcpserver: status: 0\/40$/);
  });

  it('defers accepting at the -c limit: three clients with -c 1 are all served in turn', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-c', '1', '127.0.0.1', '0', 'sh', '-c', 'sleep 0.3; echo served $TCPREMOTEPORT']);
    const results = await Promise.all([0, 1, 2].map(() => exchange(s.port, { timeoutMs: 20_000 })));
    for (const r of results) {
      assert.equal(r.ending, 'end');
      assert.match(r.data.toString(), /^served \d+\n$/);
    }
    await s.waitForLines(/ end \d+ status 0$/, 3);
    const statuses = s.lines().filter((l) => l.startsWith('tcpserver: status: '));
    assert.ok(
      statuses.every((l) => l === 'tcpserver: status: 0/1' || l === 'tcpserver: status: 1/1'),
      statuses.join('\n'),
    );
    assert.equal(s.lines().filter((l) => / end \d+ status 0$/.test(l)).length, 3);
  });

  it('-c 0 never accepts', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-c', '0', '127.0.0.1', '0', 'echo', 'no']);
    await assert.rejects(exchange(s.port, { keepOpen: true, timeoutMs: 500 }), /no close from server/);
    assert.deepEqual(s.lines(), ['tcpserver: status: 0/0']);
  });

  it('gives the child fds 0-2 only, with the connection on 0 and 1 in blocking mode', async () => {
    // ls lists the shell's table from outside it; no pipeline, so no pipe of ours shows up
    const script = 'ls /proc/$$/fd; echo; grep -h flags /proc/$$/fdinfo/0 /proc/$$/fdinfo/1';
    const s = await startServer(TCPSERVER, [...QUIET, '-x', '/nonexistent.cdb', '-X', '127.0.0.1', '0', 'sh', '-c', script]);
    const out = (await exchange(s.port)).data.toString();
    const fds = out.slice(0, out.indexOf('\n\n')).split('\n').join(' ');
    const flags = out
      .slice(out.indexOf('\n\n') + 2)
      .split('\n')
      .filter(Boolean);
    // descriptors this test process itself passes down (a CI runner may leak some) are not tcpserver's
    const passedDown = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return (
          Number(fd) > 2 &&
          (Number.parseInt(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1').split('\n')[1].split(/\s+/)[1], 8) & 0o2000000) === 0
        );
      } catch {
        return false;
      }
    });
    assert.deepEqual(
      fds
        .trim()
        .split(' ')
        .filter((fd) => !passedDown.includes(fd)),
      ['0', '1', '2'],
    );
    assert.equal(flags.length, 2);
    for (const f of flags) assert.equal(Number.parseInt(f.split(/\s+/)[1], 8) & 0o4000, 0, `O_NONBLOCK set: ${f}`);
  });

  it('passes descriptors it inherited beyond 0-2 on to the program, as 0.88 does', async () => {
    const dir = tempDir();
    const file = join(dir, 'inherited');
    writeFileSync(file, 'from the supervisor\n');
    const fd = openSync(file, 'r');
    const s = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'sh', '-c', 'cat <&3; readlink /proc/$$/fd/3'], { extraFds: [fd] });
    closeSync(fd);
    assert.equal((await exchange(s.port)).data.toString(), `from the supervisor\n${file}\n`);
  });

  it('leaves no zombies and logs every child', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-c', '5', '127.0.0.1', '0', 'sh', '-c', 'echo x']);
    const n = 30;
    await Promise.all(Array.from({ length: n }, () => exchange(s.port)));
    await s.waitForLines(/ end \d+ status 0$/, n);
    await s.waitForLine(/^tcpserver: status: 0\/5$/);
    assert.deepEqual(
      childrenOf(s.proc.pid as number).filter((c) => c.state === 'Z'),
      [],
    );
  });

  it('exits 0 on SIGTERM and leaves running children alone', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'sh', '-c', 'sleep 0.5; echo still here']);
    const pending = exchange(s.port);
    await s.waitForLine(/^tcpserver: ok /);
    s.proc.kill('SIGTERM');
    assert.deepEqual(await s.exited, { code: 0, signal: null });
    assert.equal((await pending).data.toString(), 'still here\n');
  });

  it('survives a client that disappears (SIGPIPE never kills it)', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-Bbanner', '127.0.0.1', '0', 'sh', '-c', 'sleep 0.2; yes | head -c 1000000']);
    await exchange(s.port, { timeoutMs: 100 }).catch(() => undefined);
    const r = await exchange(s.port);
    assert.ok(r.data.length > 6);
    assert.equal(s.proc.exitCode, null);
  });
});

describe('tcpserver socket options', { skip: !existsSync('/usr/bin/python3') && 'needs python3 as a client that sends IP options' }, () => {
  // The child reports what its fd 0 carries; the client sends a Record Route IP option.
  const child = [
    'python3',
    '-c',
    'import socket,os;s=socket.socket(fileno=0);o=s.getsockopt(socket.IPPROTO_IP,socket.IP_OPTIONS,40);' +
      'n=s.getsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY);s.detach();os.write(1,b"%d %d" % (len(o),int(bool(n))))',
  ];
  const client = (port: number) =>
    runSync('python3', [
      '-c',
      'import socket,sys;s=socket.socket();s.setsockopt(socket.IPPROTO_IP,socket.IP_OPTIONS,bytes([7,7,4,0,0,0,0,0]));' +
        `s.connect(("127.0.0.1",${port}));sys.stdout.write(s.recv(100).decode())`,
    ]).stdout.toString();

  it('-O (the default) removes IP options the client sent, -o keeps them', async () => {
    const kill = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', ...child]);
    assert.equal(client(kill.port).split(' ')[0], '0');
    const keep = await startServer(TCPSERVER, [...QUIET, '-o', '127.0.0.1', '0', ...child]);
    assert.equal(client(keep.port).split(' ')[0], '8');
  });

  it('-D sets TCP_NODELAY, -d (the default) leaves Nagle on', async () => {
    const d = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', ...child]);
    assert.equal(client(d.port).split(' ')[1], '0');
    const D = await startServer(TCPSERVER, [...QUIET, '-D', '127.0.0.1', '0', ...child]);
    assert.equal(client(D.port).split(' ')[1], '1');
  });
});

describe('tcpserver memory', () => {
  it('stays near 60 MB under load (V8 heap sized small by the shim; 88 MB without)', async () => {
    const s = await startServer(TCPSERVER, ['-q', '-1', '-RHl0', '-c', '100', '-b', '100', '127.0.0.1', '0', 'true']);
    const cmdline = readFileSync(`/proc/${s.proc.pid}/cmdline`, 'latin1').split('\0');
    assert.ok(cmdline.includes('--max-semi-space-size=1'), cmdline.join(' '));
    let left = 6000;
    const client = async () => {
      while (left-- > 0) await exchange(s.port);
    };
    await Promise.all(Array.from({ length: 20 }, client));
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.proc.pid}/status`, 'latin1'))![1]);
    // measured 58-61 MB; the default heap sizing gives 85-94 MB after the same load
    assert.ok(rssKb < 72 * 1024, `RSS ${rssKb} kB`);
  });
});

describe('tcpserver privileges', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  it('-u and -g drop to exactly those ids, with that one group', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-u', '65534', '-g', '65533', '127.0.0.1', '0', 'sh', '-c', 'id -u; id -g; id -G']);
    assert.equal((await exchange(s.port)).data.toString(), '65534\n65533\n65533\n');
  });
  it('refuses ids of 2^32 - 1 and above as 0.88 refuses -1, where it would truncate the larger ones (to root)', () => {
    for (const [letter, what] of [
      ['-u', 'uid'],
      ['-g', 'gid'],
    ]) {
      for (const id of ['4294967295', '4294967296', '4294967296000', '99999999999999999999']) {
        const r = runSync(TCPSERVER, [letter, id, '127.0.0.1', '0', 'id']);
        assert.equal(r.status, 111, `${letter} ${id}`);
        assert.equal(r.stderr.toString(), `tcpserver: fatal: unable to set ${what}: invalid argument\n`);
      }
    }
  });
  it('-U takes $UID and $GID, and a later -u overrides it', async () => {
    const env = { ...process.env, UID: '65534', GID: '65532' };
    const s = await startServer(TCPSERVER, [...QUIET, '-U', '-u', '65531', '127.0.0.1', '0', 'sh', '-c', 'id -u; id -G'], { env });
    assert.equal((await exchange(s.port)).data.toString(), '65531\n65532\n');
  });
});

describe('tcpserver rules', () => {
  it('denies, sets rule variables, and sees a replaced cdb on the next connection', async () => {
    const dir = tempDir();
    const cdb = writeRules(dir, 'rules.cdb', '127.0.0.1:allow,GREETING="hello there",TCPREMOTEIP="x"\n');
    const s = await startServer(TCPSERVER, [...QUIET, '-Bb:', '-x', cdb, '127.0.0.1', '0', 'sh', '-c', 'echo "$GREETING $TCPREMOTEIP"']);
    assert.equal((await exchange(s.port)).data.toString(), 'b:hello there x\n');
    writeRules(dir, 'rules.tmp', '127.:deny\n');
    runSync('mv', [join(dir, 'rules.tmp'), cdb]);
    const denied = await exchange(s.port);
    assert.equal(denied.data.toString(), 'b:', 'the banner is sent even to a denied client');
    const line = await s.waitForLine(/^tcpserver: deny /);
    const n = line.split(' ')[2];
    assert.match(line, /^tcpserver: deny \d+ Local:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+$/);
    await s.waitForLine(new RegExp(`^tcpserver: end ${n} status 25600$`));
    assert.ok(s.lines().includes(`tcpserver: pid ${n} from 127.0.0.1`));
  });

  it('drops when the rules file is missing, unless -X', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-x', '/nonexistent/rules.cdb', '127.0.0.1', '0', 'echo', 'ran']);
    assert.equal((await exchange(s.port)).data.length, 0);
    await s.waitForLine(/^tcpserver: warning: dropping connection, unable to read \/nonexistent\/rules\.cdb: file does not exist$/);
    await s.waitForLine(/ status 28416$/);
    const x = await startServer(TCPSERVER, [...QUIET, '-X', '-x', '/nonexistent/rules.cdb', '127.0.0.1', '0', 'echo', 'ran']);
    assert.equal((await exchange(x.port)).data.toString(), 'ran\n');
  });

  it('drops on a corrupt rules file even with -X, never letting the client in', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.cdb');
    writeFileSync(bad, 'garbag');
    const s = await startServer(TCPSERVER, [...QUIET, '-X', '-x', bad, '127.0.0.1', '0', 'echo', 'ran']);
    assert.equal((await exchange(s.port)).data.length, 0);
    await s.waitForLine(/^tcpserver: warning: dropping connection, unable to read .*bad\.cdb: protocol error$/);
  });
});

describe('tcpserver without FFI (child_process fallback)', () => {
  const env = { ...process.env, UCSPI_TS_NO_FFI: '1' };
  it('serves with the 0.88 environment and log lines', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'sh', '-c', 'echo $PROTO $TCPLOCALHOST'], { env });
    assert.equal((await exchange(s.port)).data.toString(), 'TCP Local\n');
    await s.waitForLine(/^tcpserver: end \d+ status 0$/);
  });
  it('still holds clients back at the -c limit, serving all in turn', async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '-c', '1', '127.0.0.1', '0', 'sh', '-c', 'sleep 0.2; echo ok'], { env });
    const results = await Promise.all([0, 1, 2].map(() => exchange(s.port, { timeoutMs: 20_000 })));
    for (const r of results) assert.equal(r.data.toString(), 'ok\n');
    await s.waitForLines(/ end \d+ status 0$/, 3);
    assert.ok(
      s.lines().every((l) => !l.startsWith('tcpserver: status: 2/')),
      s.lines().join('\n'),
    );
  });
});

describe('tcpserver and SIGUSR1', { skip: !libc() && 'FFI (koffi) not available' }, () => {
  it("neither opens Node's inspector nor stops serving; programs get SIGUSR1 at its default", async () => {
    const s = await startServer(TCPSERVER, [...QUIET, '127.0.0.1', '0', 'sh', '-c', 'grep SigIgn /proc/self/status']);
    await s.waitForLine(/^tcpserver: status: 0\/40$/);
    s.proc.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 300)); // the inspector would be listening by now
    const inspector = await exchange(9229, { timeoutMs: 2000 }).catch(() => ({ ending: 'timeout' }));
    assert.equal(inspector.ending, 'error', 'nothing listens on 127.0.0.1:9229');
    const r = await exchange(s.port);
    const ignored = Number.parseInt(r.data.toString().split(/\s+/)[1], 16);
    assert.equal(ignored & (1 << 9), 0, `SIGUSR1 ignored in the program: ${r.data}`);
    assert.equal(ignored & (1 << 12), 0, 'SIGPIPE ignored in the program');
    assert.equal(s.proc.exitCode, null);
  });
});

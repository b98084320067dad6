// Listening sockets handed to tcpserver: by Debian's systemd-socket-activate (LISTEN_FDS), on
// descriptor 0 the s6 way (-0), and the example units and run script; programs get neither the
// sockets nor the LISTEN_* variables, and deferred accept at -c works on them as on tcpserver's own.
// Also the listen queue: -b sizes it, on tcpserver's own socket as in 0.88 and on inherited ones.
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseIp4 } from '../src/dns/address';
import { libc, listeningTcpAddress, listenSocket } from '../src/ffi';
import { randomLoopbackIp } from './support/loopback';
import { cBinary, needC, ours, ROOT } from './support/programs';
import { readUntilClosed, startServer } from './support/server';
import { tempDir } from './support/tmp';

const TCPSERVER = ours('tcpserver');
const ACTIVATE = cBinary('systemd-socket-activate');
const NEED_ACTIVATE = ACTIVATE ? false : 'systemd-socket-activate not installed: apt-get install systemd';
const NEED_FFI = libc() ? false : 'socket activation needs FFI';
const DIR = tempDir();
const EXAMPLES = join(ROOT, 'examples', 'socket-activation');

/** what a program sees: whether fd 3 is open, its LISTEN_* variables, its client */
const PROGRAM = join(DIR, 'program');
writeFileSync(
  PROGRAM,
  '#!/bin/sh\nif [ -e /proc/$$/fd/3 ]; then fd3=open; else fd3=closed; fi\necho "fd3=$fd3 listen=$(env | grep -c ^LISTEN_) from=$TCPREMOTEIP"\nsleep 0.2\n',
);
chmodSync(PROGRAM, 0o755);

const running = new Set<ChildProcess>();
after(() => {
  for (const p of running) p.kill('SIGTERM');
});

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe'],
) {
  const p = spawn(file, args, { env, stdio });
  running.add(p);
  let stderr = '';
  p.stderr!.setEncoding('latin1').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) =>
    p.on('exit', (code) => {
      running.delete(p);
      resolve(code);
    }),
  );
  return { p, exited, stderr: () => stderr };
}

function ask(ip: string, port: number): Promise<string> {
  return readUntilClosed(connect(port, ip));
}

/** The listen queue's length of the socket listening on ip:port, as ss shows it (Send-Q). */
function backlogOf(ip: string, port: number): number {
  const r = spawnSync('ss', ['-Hltn', `src ${ip}:${port}`], { encoding: 'latin1' });
  const fields = r.stdout.trim().split(/\s+/);
  return Number(fields[2]);
}

async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('systemd-socket-activate', { skip: NEED_ACTIVATE || NEED_FFI }, () => {
  it('tcpserver serves on the socket systemd made, -c 1 serving three clients in turn; programs get neither the socket nor LISTEN_*', async () => {
    const ip = randomLoopbackIp();
    const port = 7000;
    const env = { PATH: process.env.PATH };
    const a = run(
      ACTIVATE as string,
      ['-E', 'PATH', '-l', `${ip}:${port}`, TCPSERVER, '-v', '-c', '1', '-b', '9', '-RHl0', ip, String(port), PROGRAM],
      env,
    );
    await waitFor(() => /Listening on/.test(a.stderr()), 'systemd-socket-activate to listen');
    // systemd-socket-activate starts tcpserver on the first connection; all three wait in the queue
    const answers = await Promise.all([ask(ip, port), ask(ip, port), ask(ip, port)]);
    assert.deepEqual(answers, Array(3).fill('fd3=closed listen=0 from=127.0.0.1\n'));
    await waitFor(() => (a.stderr().match(/ end \d+ /g) ?? []).length === 3, 'the third end line');
    const log = a
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('tcpserver: '));
    assert.equal(log.filter((l) => / ok \d+ /.test(l)).length, 3);
    assert.ok(!log.includes('tcpserver: status: 2/1'), 'never more than one at a time');
    // one by one: each program ends before the next starts
    const order = log.filter((l) => / (ok|end) \d+ /.test(l)).map((l) => l.split(' ')[1]);
    assert.deepEqual(order, ['ok', 'end', 'ok', 'end', 'ok', 'end']);
    assert.equal(backlogOf(ip, port), 9, 'the queue is -b long');
  });

  it('of several sockets, the one on the operands is used; programs get none of them', async () => {
    const ip = randomLoopbackIp();
    const a = run(
      ACTIVATE as string,
      [
        '-E',
        'PATH',
        '-l',
        `${ip}:7003`,
        '-l',
        `${ip}:7004`,
        '-l',
        `${ip}:7005`,
        TCPSERVER,
        '-v',
        '-RHl0',
        ip,
        '7004',
        'sh',
        '-c',
        'for n in 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$n ] && printf "%s " $n; done; echo open',
      ],
      { PATH: process.env.PATH },
    );
    await waitFor(() => /Listening on .*7005/.test(a.stderr()), 'systemd-socket-activate to listen');
    // the program names its open descriptors above 2 (no pipeline, no glob: the shell would hold
    // descriptors of its own while looking)
    // the first connection starts tcpserver (it waits on 7004's queue); the other sockets are closed
    assert.equal(await ask(ip, 7004), 'open\n');
    await assert.rejects(ask(ip, 7003), /ECONNREFUSED|ECONNRESET/);
    assert.equal(await ask(ip, 7004), 'open\n');
  });

  it('a socket that does not serve the operands stops tcpserver, saying what it listens on', async () => {
    const ip = randomLoopbackIp();
    const a = run(ACTIVATE as string, ['-l', `${ip}:7001`, TCPSERVER, '-RHl0', ip, '7002', PROGRAM]);
    await waitFor(() => /Listening on/.test(a.stderr()), 'systemd-socket-activate to listen');
    await ask(ip, 7001).catch(() => '');
    assert.equal(await a.exited, 111);
    assert.match(
      a.stderr(),
      new RegExp(
        `^tcpserver: fatal: unable to use the socket from systemd: not listening on ${ip.replace(/\./g, '\\.')} port 7002 \\(it listens on ${ip.replace(/\./g, '\\.')} port 7001\\)$`,
        'm',
      ),
    );
  });

  it('LISTEN_PID of another process: nothing is taken, tcpserver binds, and programs still do not see LISTEN_*', async () => {
    const ip = randomLoopbackIp();
    const s = await startServer(TCPSERVER, ['-1', '-RHl0', ip, '0', PROGRAM], {
      env: { ...process.env, LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'x' },
    });
    assert.equal(await ask(ip, s.port), 'fd3=closed listen=0 from=127.0.0.1\n');
  });
});

describe('the listening socket on descriptor 0 (-0)', { skip: NEED_FFI }, () => {
  it('is used instead of binding; port operand 0 takes its port; programs do not get it', async () => {
    const lib = libc()!;
    const ip = randomLoopbackIp();
    const fd = listenSocket(lib, parseIp4(ip) as Buffer, 0, 5) as number;
    const { port } = listeningTcpAddress(lib, fd)!;
    const s = await startServer(TCPSERVER, ['-0', '-1', '-v', '-c', '1', '-RHl0', ip, '0', PROGRAM], { stdin: fd });
    assert.equal(s.port, port, "-1 prints the socket's port");
    const answers = await Promise.all([ask(ip, port), ask(ip, port)]);
    assert.deepEqual(answers, Array(2).fill('fd3=closed listen=0 from=127.0.0.1\n'));
    assert.equal(backlogOf(ip, port), 20, 'the default -b');
  });

  it('anything else on descriptor 0 stops tcpserver', () => {
    const r = spawnSync(TCPSERVER, ['-0', '127.0.0.1', '0', 'true'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'latin1' });
    assert.equal(r.status, 111);
    assert.equal(r.stderr, 'tcpserver: fatal: unable to use descriptor 0: not a listening TCP socket\n');
  });
});

describe('the listen queue (-b)', () => {
  it("is as long as -b on tcpserver's own socket, as with the C tcpserver", { skip: needC('tcpserver') }, async () => {
    const lengths: number[] = [];
    for (const file of [cBinary('tcpserver') as string, TCPSERVER]) {
      const ip = randomLoopbackIp();
      const s = await startServer(file, ['-1', '-b', '7', '-RHl0', ip, '0', 'true']);
      lengths.push(backlogOf(ip, s.port));
      await s.stop();
    }
    assert.deepEqual(lengths, [7, 7]);
  });
});

describe('examples/socket-activation', () => {
  it('the run script is valid sh, and serves the s6 way with a socket binder in front of it', { skip: NEED_FFI }, async () => {
    const script = join(EXAMPLES, 'run');
    assert.equal(spawnSync('sh', ['-n', script]).status, 0);
    // the same command line on a test address and program, with stand-ins for the s6 tools
    const ip = randomLoopbackIp();
    const port = 20000 + randomInt(0, 10000);
    const text = readFileSync(script, 'latin1')
      .replace('0.0.0.0 25', `${ip} ${port}`)
      .replace(/ 0 25 \/var\/qmail\/bin\/qmail-smtpd/, ` ${ip} ${port} ${PROGRAM}`)
      .replace(/-x \/etc\/tcp\.smtp\.cdb /, '')
      .replace(/-l mail\.example\.org/, '-H -l L');
    assert.match(text, new RegExp(`tcpserver -0 .* ${ip.replace(/\./g, '\\.')} ${port} `), 'the substitutions took');
    const bin = join(DIR, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(
      join(bin, 's6-tcpserver-socketbinder'),
      '#!/usr/bin/env python3\n# binds, listens, execs the rest with the socket on descriptor 0\nimport os, socket, sys\na = sys.argv[1:]\nbacklog = 20\nif a[0] == "-b":\n    backlog = int(a[1]); a = a[2:]\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind((a[0], int(a[1])))\ns.listen(backlog)\nos.dup2(s.fileno(), 0)\nos.execvp(a[2], a[2:])\n',
    );
    writeFileSync(join(bin, 's6-setuidgid'), '#!/bin/sh\nshift\nexec "$@"\n');
    writeFileSync(join(DIR, 'run'), text);
    for (const f of ['s6-tcpserver-socketbinder', 's6-setuidgid']) chmodSync(join(bin, f), 0o755);
    const r = run('sh', [join(DIR, 'run')], { ...process.env, PATH: `${bin}:${join(ROOT, 'bin')}:${process.env.PATH}` }, [
      'ignore',
      'pipe',
      'pipe',
    ]);
    let out = '';
    r.p.stdout!.setEncoding('latin1').on('data', (d: string) => (out += d));
    await waitFor(() => /tcpserver: status: 0\/40/.test(out), 'tcpserver to start');
    assert.equal(await ask(ip, port), 'fd3=closed listen=0 from=127.0.0.1\n');
    await waitFor(() => / ok \d+ L:/.test(out), 'the ok line (stderr goes to the log, as exec 2>&1 says)');
    r.p.kill('SIGTERM');
  });

  it('the systemd units verify (systemd-analyze verify)', {
    skip: cBinary('systemd-analyze') ? false : 'systemd-analyze not installed',
  }, () => {
    const units = join(DIR, 'units');
    spawnSync('mkdir', ['-p', units]);
    copyFileSync(join(EXAMPLES, 'smtpd.socket'), join(units, 'smtpd.socket'));
    // the installed path of tcpserver, here ours
    writeFileSync(
      join(units, 'smtpd.service'),
      readFileSync(join(EXAMPLES, 'smtpd.service'), 'latin1').replace('/usr/local/bin/tcpserver', TCPSERVER),
    );
    const r = spawnSync('systemd-analyze', ['verify', join(units, 'smtpd.socket'), join(units, 'smtpd.service')], { encoding: 'latin1' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '');
  });
});

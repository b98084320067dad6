// The package as a user gets it: `npm pack`, then `npm install -g` of the tarball into a temporary
// prefix, its dependencies served from this checkout's node_modules by a registry on loopback (no
// network). Every program on the prefix's PATH then runs, the shell-script clients against the
// installed tcpserver, and `man -M <prefix>/share/man` finds every page.
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomLoopbackIp } from './support/loopback';
import { localRegistry } from './support/npm-registry';
import { ROOT } from './support/programs';
import { tempDir } from './support/tmp';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const programs = Object.keys(pkg.bin as Record<string, string>);
const noNpm = spawnSync('npm', ['--version'], { stdio: 'ignore' }).status !== 0 && 'npm not installed';
const noMan = spawnSync('man', ['--version'], { stdio: 'ignore' }).status !== 0 && 'man (man-db) not installed';
const notRoot = process.getuid?.() !== 0 && 'who@, date@ and finger@ need ports 11, 13 and 79: run as root';

const DIR = tempDir();
const PREFIX = join(DIR, 'prefix');
const bin = (name: string) => join(PREFIX, 'bin', name);
const servers = new Set<ChildProcess>();
after(() => {
  for (const s of servers) s.kill('SIGTERM');
});

/** The dependencies a user's install needs: the lockfile's non-dev packages installed here. */
function runtimeDependencyDirs(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  return Object.entries(lock.packages as Record<string, { dev?: boolean }>)
    .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && existsSync(join(ROOT, path, 'package.json')))
    .map(([path]) => join(ROOT, path));
}

let tarball = '';
let installError = '';

/** The installed tcpserver on ip:port running `program`, once it listens. */
function serve(ip: string, port: number, program: string[]): Promise<void> {
  const proc = spawn(bin('tcpserver'), ['-1', '-RHl0', ip, String(port), ...program], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.add(proc);
  return new Promise((resolve, reject) => {
    proc.stdout.once('data', () => resolve());
    proc.once('exit', (code) => reject(new Error(`installed tcpserver exited ${code}`)));
  });
}

function runInstalled(name: string, args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(bin(name), args, { input, encoding: 'latin1', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm pack and npm install -g', { skip: noNpm }, () => {
  before(async () => {
    const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', DIR], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(packed.status, 0, packed.stderr);
    tarball = join(DIR, JSON.parse(packed.stdout)[0].filename);
    const registry = await localRegistry(runtimeDependencyDirs(), DIR);
    const npmrc = join(DIR, 'npmrc');
    writeFileSync(npmrc, '');
    const globalrc = join(DIR, 'npmrc-global');
    writeFileSync(globalrc, '');
    // not spawnSync: the registry answers from this process's event loop
    const install = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const npm = spawn(
        'npm',
        [
          'install',
          '-g',
          '--prefix',
          PREFIX,
          '--registry',
          registry.url,
          '--cache',
          join(DIR, 'cache'),
          '--no-audit',
          '--no-fund',
          '--fetch-retries=0',
          tarball,
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, npm_config_userconfig: npmrc, npm_config_globalconfig: globalrc, npm_config_update_notifier: 'false' },
        },
      );
      let stderr = '';
      npm.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => npm.kill('SIGKILL'), 300_000);
      npm.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stderr });
      });
    });
    await registry.close();
    if (install.status !== 0) installError = `npm install -g failed:\n${install.stderr}`;
  });

  it('packs the programs, the built man pages, the examples and the LICENSE', () => {
    const files = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    for (const p of programs) {
      assert.ok(files.includes(`package/bin/${p}`), p);
      assert.ok(files.includes(`package/dist/man/man1/${p}.1`), `${p}.1 (npm run build makes it; pandoc needed)`);
    }
    for (const f of ['package/LICENSE', 'package/package.json', 'package/examples/README.md']) assert.ok(files.includes(f), f);
    assert.ok(!files.some((f) => f.startsWith('package/dist/test/')), 'no tests in the package');
  });

  it('puts every program on PATH, and each runs', async () => {
    assert.equal(installError, '');
    for (const p of programs) assert.ok(existsSync(bin(p)), `${p} in ${PREFIX}/bin`);
    assert.deepEqual(runInstalled('addcr', [], 'a\n'), { status: 0, stdout: 'a\r\n', stderr: '' });
    assert.deepEqual(runInstalled('delcr', [], 'a\r\n'), { status: 0, stdout: 'a\n', stderr: '' });
    assert.deepEqual(runInstalled('argv0', ['sh', 'zero', '-c', 'echo $0']), { status: 0, stdout: 'zero\n', stderr: '' });
    assert.equal(runInstalled('fixcrio', ['echo', 'hi']).stdout, 'hi\r\n');
    const recorded = runInstalled('recordio', ['echo', 'hi']);
    assert.equal(recorded.stdout, 'hi\n');
    assert.match(recorded.stderr, /^\d+ > hi $/m);
    assert.equal(runInstalled('mconnect-io', []).status, 0);
    const rbl = runInstalled('rblsmtpd', []);
    assert.equal(rbl.status, 100);
    assert.match(rbl.stderr, /^rblsmtpd: usage: rblsmtpd /);
    const cdb = join(DIR, 'rules.cdb');
    assert.equal(runInstalled('tcprules', [cdb, `${cdb}.tmp`], '10.1.:deny\n').status, 0);
    const check = spawnSync(bin('tcprulescheck'), [cdb], { encoding: 'latin1', env: { ...process.env, TCPREMOTEIP: '10.1.2.3' } });
    assert.equal(check.stdout, 'rule 10.1.:\ndeny connection\n');

    // tcpserver and tcpclient, through the scripts, which find their tools beside themselves
    const ip = randomLoopbackIp();
    await serve(ip, 7017, ['echo', 'hello']);
    assert.deepEqual(runInstalled('tcpcat', [ip, '7017']), { status: 0, stdout: 'hello\n', stderr: '' });
    assert.equal(runInstalled('mconnect', [ip, '7017']).stdout, 'hello\n');
    const page = join(DIR, 'http');
    writeFileSync(page, '#!/bin/sh\nprintf "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nthe page\\r\\n"\n');
    chmodSync(page, 0o755);
    await serve(ip, 7080, [page]);
    assert.equal(runInstalled('http@', [ip, 'index.html', '7080']).stdout, 'the page\n');
    assert.equal(runInstalled('tcpclient', ['-RHl0', ip, '7017', 'sh', '-c', 'cat <&6']).stdout, 'hello\n');
  });

  it('who@, date@ and finger@ reach their ports', { skip: notRoot }, async () => {
    assert.equal(installError, '');
    const ip = randomLoopbackIp();
    for (const port of [11, 13, 79]) await serve(ip, port, ['echo', `port ${port}`]);
    assert.equal(runInstalled('who@', [ip]).stdout, 'port 11\n');
    assert.equal(runInstalled('date@', [ip]).stdout, 'port 13\n');
    assert.equal(runInstalled('finger@', [ip, 'root']).stdout, 'port 79\n');
  });

  it('man -M <prefix>/share/man finds every page', { skip: noMan }, () => {
    assert.equal(installError, '');
    const manpath = join(PREFIX, 'share', 'man');
    for (const p of programs) {
      const where = spawnSync('man', ['-M', manpath, '-w', p], { encoding: 'utf8' });
      assert.equal(where.status, 0, `man -M ${manpath} -w ${p}: ${where.stderr}`);
      assert.ok(existsSync(join(manpath, 'man1', `${p}.1`)), `${manpath}/man1/${p}.1`);
      // man names the page's real file (npm links it from the package)
      assert.ok(where.stdout.trim().endsWith(`/man1/${p}.1`), where.stdout);
    }
    const shown = spawnSync('man', ['-M', manpath, 'tcpserver'], {
      encoding: 'utf8',
      env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' },
    });
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /^NAME\n +tcpserver - accept TCP connections and run a program for each$/m);
  });
});

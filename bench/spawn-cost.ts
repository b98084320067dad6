// What starting one program costs the process that starts it, CPU and wall time per spawn, the ways a
// spawner could do it: posix_spawn from a small single-threaded C process, from tcpserver's Node
// process on its own thread (spawnNow), on koffi's thread pool (spawnAsync, one and ten in flight)
// and on a spawner thread of its own (worker_threads, fed by postMessage), and fork+exec from Perl.
// CPU is the whole spawning process's (every thread), each spawn waited for before the next (or kept
// ten in flight). The numbers behind issue 14's choice of where tcpserver spawns (bench/RESULTS.md).
//
//   npm run build && node dist/bench/spawn-cost.js [spawns=3000]
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CStringCache, Libc, libc, spawnAsync, spawnNow, SpawnPlan } from '../src/ffi';

const N = Number(process.argv[2] ?? 3000);

/** A C program timing N posix_spawns of `program` (each waited for) from one thread. */
const C_LOOP = `
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  char *args[] = { argv[2], 0 };
  struct rusage r0, r1; struct timespec t0, t1; double wall = 0;
  getrusage(RUSAGE_SELF, &r0);
  for (int i = 0; i < n; i++) {
    pid_t pid;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (posix_spawn(&pid, argv[2], 0, 0, args, environ)) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    wall += (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    waitpid(pid, 0, 0);
  }
  getrusage(RUSAGE_SELF, &r1);
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6
    + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
  printf("%.1f %.0f\\n", cpu / n, wall / n);
  return 0;
}
`;

const PERL_LOOP = `
use Time::HiRes qw(time);
my ($n, $prog) = @ARGV; my @t0 = times; my $wall = 0;
for (1..$n) { my $s = time; my $pid = fork; if (!$pid) { exec { $prog } $prog; exit 127 } $wall += time - $s; waitpid($pid, 0) }
my @t1 = times;
printf "%.1f %.0f\\n", (($t1[0]-$t0[0])+($t1[1]-$t0[1]))*1e6/$n, $wall*1e6/$n;
`;

function row(name: string, cpu: number, wall: number): string {
  return `| ${name} | ${cpu.toFixed(0)} | ${wall.toFixed(0)} |`;
}

/** What every Node spawner here needs: libc, this process's environment and the plan to spawn. */
function setUp(program: string): { lib: Libc; environ: string[]; strings: CStringCache; plan: SpawnPlan } {
  const lib = libc();
  if (!lib) throw new Error('no FFI');
  const environ = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  return { lib, environ, strings: new CStringCache(environ), plan: { path: program, argv: [program], env: environ, moves: [] } };
}

async function nodeLoop(how: 'now' | 'async', program: string): Promise<[number, number]> {
  const { lib, strings, plan } = setUp(program);
  const start = process.cpuUsage();
  let wall = 0;
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const pid = how === 'now' ? spawnNow(lib, plan, strings) : await spawnAsync(lib, plan, strings);
    wall += performance.now() - t;
    lib.waitpid(pid, [0], 0); // blocking, as the C loop waits
  }
  const used = process.cpuUsage(start);
  return [(used.user + used.system) / N, (wall * 1000) / N];
}

/** A spawner thread (worker_threads) calling spawnNow for each plan the main thread posts it. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const ffi = require(workerData.ffi);
const lib = ffi.libc();
const strings = new ffi.CStringCache(workerData.environ);
parentPort.on('message', (plan) => parentPort.postMessage(ffi.spawnNow(lib, plan, strings)));
`;

async function workerLoop(program: string, inFlight: number): Promise<[number, number]> {
  const { lib, environ, plan } = setUp(program);
  const worker = new Worker(WORKER, { eval: true, workerData: { ffi: require.resolve('../src/ffi'), environ } });
  await new Promise((resolve) => worker.once('online', resolve));
  const start = process.cpuUsage();
  const t = performance.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    let done = 0;
    worker.on('message', (pid: number) => {
      lib.waitpid(pid, [0], 0);
      if (++done === N) resolve();
      else if (sent < N) sent++, worker.postMessage(plan);
    });
    for (; sent < Math.min(inFlight, N); sent++) worker.postMessage(plan);
  });
  const wall = performance.now() - t;
  const used = process.cpuUsage(start); // the whole process: both threads
  await worker.terminate();
  return [(used.user + used.system) / N, (wall * 1000) / N];
}

async function asyncPipelined(program: string, inFlight: number): Promise<[number, number]> {
  const { lib, strings, plan } = setUp(program);
  const start = process.cpuUsage();
  const t = performance.now();
  let sent = 0;
  const lane = async (): Promise<void> => {
    while (sent < N) {
      sent++;
      lib.waitpid(await spawnAsync(lib, plan, strings), [0], 0);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const wall = performance.now() - t;
  const used = process.cpuUsage(start);
  return [(used.user + used.system) / N, (wall * 1000) / N];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ucspi-spawn-cost-'));
  try {
    const hello = join(dir, 'hello');
    writeFileSync(`${hello}.c`, '#include <unistd.h>\nint main(void) { return 0; }\n');
    writeFileSync(join(dir, 'loop.c'), C_LOOP);
    const cc = (out: string, src: string, ...flags: string[]) => spawnSync('cc', ['-O2', ...flags, '-o', out, src]).status === 0;
    const program = cc(hello, `${hello}.c`, '-static') ? hello : '/bin/true';
    console.log(`${N} spawns each of ${program === hello ? 'a static empty C program' : '/bin/true'}, Node ${process.version}\n`);
    console.log("| spawner | CPU µs per spawn (the spawner's own) | wall µs per spawn call |\n|---|---|---|");
    if (cc(join(dir, 'loop'), join(dir, 'loop.c'))) {
      const [cpu, wall] = spawnSync(join(dir, 'loop'), [String(N), program], { encoding: 'latin1' })
        .stdout.trim()
        .split(' ')
        .map(Number);
      console.log(row('C, posix_spawn, one thread', cpu, wall));
    }
    const [nowCpu, nowWall] = await nodeLoop('now', program);
    console.log(row("Node (tcpserver's process), posix_spawn on its own thread (spawnNow)", nowCpu, nowWall));
    const [asyncCpu, asyncWall] = await nodeLoop('async', program);
    console.log(row("Node, posix_spawn on koffi's thread pool (spawnAsync)", asyncCpu, asyncWall));
    for (const k of [1, 10]) {
      const [wCpu, wWall] = await workerLoop(program, k);
      console.log(row(`Node, posix_spawn on a spawner thread (worker_threads, spawnNow), ${k} in flight`, wCpu, wWall));
    }
    const [pCpu, pWall] = await asyncPipelined(program, 10);
    console.log(row("Node, posix_spawn on koffi's thread pool, 10 in flight", pCpu, pWall));
    const perl = spawnSync('perl', ['-e', PERL_LOOP, String(N), program], { encoding: 'latin1' });
    if (perl.status === 0) {
      const [cpu, wall] = perl.stdout.trim().split(' ').map(Number);
      console.log(row('Perl, fork and exec', cpu, wall));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();

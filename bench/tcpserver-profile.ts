// Where tcpserver's own CPU goes per connection: `perf record` (call graphs, Node's
// --perf-basic-prof for the JavaScript frames) on every thread of the server while clients make
// connections, each sample put in the first category its call stack matches, shares scaled to the
// server's CPU per connection from /proc. Needs Linux perf (Debian's linux-perf) and root, or a
// low kernel.perf_event_paranoid. Loopback only, bounded in count.
//
//   npm run build && node dist/bench/tcpserver-profile.js [connections=8000] [clients=10] [tcpserver options...]
//   TCPSERVER_UNDER_TEST=/path/to/other/bin/tcpserver node dist/bench/tcpserver-profile.js ...   (another build)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuTimesMs } from '../test/support/proc';

const ROOT = join(__dirname, '..', '..');
const OURS = process.env.TCPSERVER_UNDER_TEST ?? join(ROOT, 'bin', 'tcpserver');

/**
 * Categories, most specific first: a sample goes to the first whose pattern its stack matches. In
 * this process only posix_spawn maps and unmaps memory per connection (the child's stack) and asks
 * for the descriptor limit (its file actions), and only the SIGCHLD handler returns through
 * __restore_rt; glibc has no frame pointers, so those stacks end there.
 */
const CATEGORIES: ReadonlyArray<readonly [string, (stack: string) => boolean]> = [
  [
    'posix_spawn (clone, child stack mmap/munmap, TLB flushes)',
    (s) => /__spawni|__spawnix|posix_spawn|clone3|kernel_clone|__mmap|__munmap|__getrlimit|__sysconf|do_prlimit/.test(s),
  ],
  // a write that is neither the signal handler's nor a wake-up of the event loop is a log line
  ['log writes', (s) => /vfs_write/.test(s) && !/uv__signal_handler|uv__async_send|__restore_rt/.test(s)],
  [
    'reaping (SIGCHLD, waitid/wait4)',
    (s) => /waitid|wait4|__do_wait|uv__signal|get_signal|rt_sigreturn|__restore_rt|reapChild|peekExitedChild|handle_signal/.test(s),
  ],
  [
    'accept and the client handle (accept4, getpeername/getsockname)',
    (s) => /accept4|uv__accept|getpeername|getsockname|GetSockOrPeerName|TCPWrap::New|TCPWrap::Instantiate|AddressToJS/.test(s),
  ],
  ["closing the server's copy of the socket", (s) => /__x64_sys_close|uv__stream_close|HandleWrap::Close|uv_close/.test(s)],
  [
    'thread-pool hand-off (koffi async, libuv workers)',
    (s) => /uv__work|worker|uv_cond|futex|uv_async|AsyncCall|napi_async|uv__async|pthread_cond/.test(s),
  ],
  ['rules lookup (stat, cdb probes)', (s) => /newfstatat|statx|lookupRules|findKey|findCidr|CdbFileCache|:rules /.test(s)],
  ['other FFI calls (fcntl, setsockopt, koffi marshalling)', (s) => /koffi|sys_fcntl|sys_setsockopt|sys_poll/.test(s)],
  ['garbage collection', (s) => /Scaveng|MarkCompact|ConcurrentMarking|Sweeper|Heap::|GCTracer|MinorMC|madvise/.test(s)],
  ['JavaScript (the steps, environment, log lines)', (s) => /JS:/.test(s)],
  ['V8 and Node runtime (ICs, builtins, callbacks into JS, code pages)', (s) => /Builtins_|v8::|node::|napi_|mprotect/.test(s)],
  ['malloc and free (Node, koffi)', (s) => /malloc|cfree|calloc|_int_free|unlink_chunk/.test(s)],
  ['event loop (epoll, timers, scheduling)', (s) => /uv_run|uv__io_poll|epoll|schedule|uv__run/.test(s)],
];

function oneConnection(port: number): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.on('data', () => {});
    sock.on('error', () => resolve());
    sock.on('close', () => resolve());
    sock.end();
  });
}

async function load(port: number, clients: number, count: number): Promise<void> {
  let left = count;
  const worker = async () => {
    while (left-- > 0) await oneConnection(port);
  };
  await Promise.all(Array.from({ length: clients }, worker));
}

/** Samples of `perf script` output: each a list of frames, leaf first. */
function* samples(script: string): Generator<string[]> {
  for (const block of script.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (lines.length < 2) continue;
    yield lines.slice(1).map((l) => l.trim().replace(/^[0-9a-f]+ /, ''));
  }
}

async function main(): Promise<void> {
  const [connections = '8000', clients = '10', ...options] = process.argv.slice(2);
  if (spawnSync('perf', ['--version']).status !== 0) {
    console.log('perf is not installed (Debian: linux-perf): no profile');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ucspi-profile-'));
  try {
    const hello = join(dir, 'hello');
    writeFileSync(`${hello}.c`, '#include <unistd.h>\nint main(void) { return write(1, "hello\\n", 6) != 6; }\n');
    const program = spawnSync('cc', ['-O2', '-static', '-o', hello, `${hello}.c`]).status === 0 ? [hello] : ['/bin/echo', 'hello'];
    const args = [
      '-1',
      ...(options.includes('-v') ? [] : ['-q']),
      '-R',
      '-H',
      '-l',
      'localhost',
      '-c',
      '100',
      '-b',
      '256',
      ...options,
      '127.0.0.1',
      '0',
      ...program,
    ];
    const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --perf-basic-prof`.trim() };
    const log = openSync(join(dir, 'log'), 'w');
    // in the temporary directory: V8 writes its isolate-*.log beside --perf-basic-prof's map
    const server = spawn(OURS, args, { stdio: ['ignore', 'pipe', log], env, cwd: dir });
    const port = await new Promise<number>((resolve) => server.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
    const pid = server.pid!;
    await load(port, Number(clients), 500);
    const data = join(dir, 'perf.data');
    const perf = spawn('perf', ['record', '-q', '-g', '--no-inherit', '-F', '2999', '-p', String(pid), '-o', data], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const before = cpuTimesMs(pid).own;
    await load(port, Number(clients), Number(connections));
    const usPerConnection = ((cpuTimesMs(pid).own - before) * 1000) / Number(connections);
    perf.kill('SIGINT');
    await new Promise((r) => perf.on('exit', r));
    server.kill('SIGTERM');
    const script = spawnSync('perf', ['script', '-i', data, '-F', 'tid,ip,sym'], { encoding: 'latin1', maxBuffer: 1 << 30 }).stdout;
    rmSync(`/tmp/perf-${pid}.map`, { force: true });
    const counts = new Map<string, number>();
    let total = 0;
    for (const frames of samples(script)) {
      const stack = frames.join(' ');
      const category = CATEGORIES.find(([, test]) => test(stack))?.[0] ?? 'other (kernel entry, libc, unresolved)';
      if (process.env.PROFILE_SHOW === category) console.log(frames.slice(0, 12).join(' < '));
      counts.set(category, (counts.get(category) ?? 0) + 1);
      total++;
    }
    console.log(
      `tcpserver profile: ${OURS}, ${connections} connections from ${clients} clients, options ${options.join(' ') || '(none)'}, ` +
        `${total} samples, server CPU ${usPerConnection.toFixed(0)} µs per connection\n`,
    );
    console.log('| where | share | µs per connection |\n|---|---|---|');
    for (const [category, n] of [...counts].sort((a, b) => b[1] - a[1])) {
      console.log(`| ${category} | ${((100 * n) / total).toFixed(1)}% | ${((usPerConnection * n) / total).toFixed(0)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();

// Fault runs against an sslserver (ours, or ucspi-ssl 0.95b's C one where it is installed): garbage
// instead of a ClientHello, handshakes left half open (TCP connect then silence, a ClientHello then
// silence) for -T to end, clients that reset mid-handshake and mid-session, clients that never read
// while the program writes without end (the server's memory sampled), clients that send close_notify
// at once, the connection limits after each fault, and a soak over TLS. Each gives its figures and
// its violations (a program started for a client that never finished its handshake, a connection
// the server never ended, a child or zombie left, a log line without its pair, memory that keeps
// growing, a client refused by a limit its faulted connection should no longer hold).
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { connect, createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { randomLoopbackIp } from '../../test/support/loopback';
import { childrenOf, statusNumber } from '../../test/support/proc';
import { BIN } from '../../test/support/programs';
import { RunningServer, startServer } from '../../test/support/server';
import { cSsl, cSslserverEnv, makePki, TestPki, UCSPI_SSL } from '../../test/support/tls';
import { FaultResult, leftovers } from './faults';
import { soak, SoakResult } from './soak';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SslImpl {
  readonly name: 'ours' | 'C';
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
  /** ucspi-ssl 0.95b logs a connection's `end` under its TLS process's pid, not the `pid` line's */
  readonly endNames: 'same pid' | 'another pid';
}

/** Ours, and the C sslserver where it is installed (null: its half is skipped). */
export async function sslImpls(dir: string): Promise<{ pki: TestPki; ours: SslImpl; c: SslImpl | null }> {
  const pkiDir = join(dir, 'pki');
  mkdirSync(pkiDir, { recursive: true });
  const pki = await makePki(pkiDir);
  const env = { PATH: process.env.PATH, CERTFILE: pki.rsa.cert, KEYFILE: pki.rsa.key };
  return {
    pki,
    ours: { name: 'ours', file: join(BIN, 'sslserver'), env, endNames: 'same pid' },
    c: UCSPI_SSL ? { name: 'C', file: cSsl('sslserver'), env: { ...env, ...cSslserverEnv() }, endNames: 'another pid' } : null,
  };
}

/**
 * `-1 -v -R -H -l L -T timeout -b 512 args 127.0.0.1 0 program` (a backlog for every client sent
 * at once: past it the kernel drops connections the server never sees). -T is long unless a run
 * is about handshakes left open: 400 handshakes at once on a busy machine took the C sslserver
 * more than 2 s for some.
 */
function startSsl(impl: SslImpl, args: string[], program: string[], timeout = 30): Promise<RunningServer> {
  return startServer(
    impl.file,
    ['-1', '-v', '-R', '-H', '-l', 'L', '-T', String(timeout), '-b', '512', ...args, '127.0.0.1', '0', ...program],
    { untracked: true, env: impl.env },
  );
}

/** the program: a line, then what it reads; `big` asks for output without end */
const PROGRAM = [
  'sh',
  '-c',
  'exec 2>/dev/null; echo hello; read x; case "$x" in big) exec cat /dev/zero;; *) echo "got $x"; exec cat;; esac',
];

/** A TLS client from `from` on a socket of our own (to reset it). */
function session(port: number, from?: string): { raw: Socket; tls: TLSSocket } {
  const raw = connect({ port, host: '127.0.0.1', localAddress: from });
  raw.on('error', () => {});
  const tls = tlsConnect({ socket: raw, servername: 'localhost', rejectUnauthorized: false });
  tls.on('error', () => {});
  return { raw, tls };
}

/** The first line the program sends over TLS, or null when the server closed first. */
function firstLine(tls: TLSSocket, ms = 20_000): Promise<string | null> {
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => resolve(null), ms);
    tls.setEncoding('latin1');
    const onData = (d: string) => {
      got += d;
      if (got.includes('\n')) {
        clearTimeout(timer);
        tls.off('data', onData);
        resolve(got.slice(0, got.indexOf('\n')));
      }
    };
    tls.on('data', onData);
    tls.on('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

/** An ordinary session: the program's greeting, its answer to `hi`, our close_notify, its end. */
export async function tlsServes(port: number, from?: string): Promise<boolean> {
  const { tls } = session(port, from);
  const hello = await firstLine(tls);
  if (hello !== 'hello') return (tls.destroy(), false);
  tls.write('hi\n');
  const answer = await firstLine(tls);
  tls.end();
  tls.destroy();
  return answer === 'got hi';
}

/** Resolves when the server closes `s` (true), or after `ms` (false). */
function closedBy(s: Socket | TLSSocket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.resume();
  });
}

/** A real ClientHello, as Node's TLS client sends it (caught by a listener of our own). */
export async function clientHello(): Promise<Buffer> {
  const catcher = createServer();
  catcher.listen(0, '127.0.0.1');
  await once(catcher, 'listening');
  const port = (catcher.address() as { port: number }).port;
  const caught = new Promise<Buffer>((resolve) =>
    catcher.once('connection', (s: Socket) => {
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
          s.destroy();
          resolve(got);
        }
      });
    }),
  );
  const c = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await caught;
  c.destroy();
  catcher.close();
  return hello;
}

/** The RSS of a process and all its descendants, kB (for C: its TLS processes too). */
export function treeRssKb(pid: number): number {
  let total = statusNumber(pid, 'VmRSS') || 0;
  for (const k of childrenOf(pid)) total += treeRssKb(k.pid);
  return total;
}

const DROPPED = /dropping SSL connection|unable to accept SSL|warning: dropping/;

/** After the faults: the server ended every faulted connection, nothing is left, it still serves. */
async function settle(server: RunningServer, violations: string[], figures: Record<string, number | string>): Promise<void> {
  if (!(await tlsServes(server.port))) violations.push('no service after the faults');
  Object.assign(figures, await leftovers(server, violations));
  await server.stop();
}

/**
 * `n` clients at once that send, instead of a ClientHello, random bytes (a third of them behind a
 * TLS record header) or a real ClientHello with bytes changed at random, then half-close: each is
 * dropped with a warning (a changed hello that still reads as one ends at the end of file), no
 * program runs for any.
 */
export async function tlsGarbage(impl: SslImpl, n: number, r: () => number): Promise<FaultResult> {
  const violations: string[] = [];
  const hello = await clientHello();
  const server = await startSsl(impl, ['-c', String(n + 10)], PROGRAM);
  const closed = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      let junk: Buffer;
      if (i % 3 === 2) {
        junk = Buffer.from(hello);
        for (let k = 1 + Math.floor(r() * 4); k > 0; k--) junk[Math.floor(r() * junk.length)] ^= 1 + Math.floor(r() * 255);
      } else {
        junk = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 2000) }, () => Math.floor(r() * 256)));
        if (i % 3 === 1) junk.set([0x16, 0x03, 0x01, junk.length >> 8, junk.length & 255].slice(0, junk.length));
      }
      const s = connect({ port: server.port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.on('connect', () => s.end(junk));
      return closedBy(s, 30_000);
    }),
  );
  const open = closed.filter((c) => !c).length;
  if (open) violations.push(`${open} garbage connections never closed`);
  await server.waitForLines(DROPPED, n, 10_000).catch(() => {});
  const dropped = server.lines().filter((l) => DROPPED.test(l)).length;
  if (dropped !== n) violations.push(`${dropped} drop warnings for ${n} garbage clients`);
  const figures: Record<string, number | string> = { clients: n, dropped, programs: childrenOf(server.proc.pid!).length };
  await settle(server, violations, figures);
  return { figures, violations };
}

/**
 * `n` clients that connect and say nothing, and `n` that send a ClientHello and say nothing more,
 * against -T 1: the server ends each (the clients see it close, within a bound far above -T), logs
 * each dropped, and starts no program for any.
 */
export async function tlsHalfOpen(impl: SslImpl, n: number): Promise<FaultResult> {
  const violations: string[] = [];
  const hello = await clientHello();
  const server = await startSsl(impl, ['-c', String(2 * n + 10)], PROGRAM, 1);
  const t0 = performance.now();
  const closed = await Promise.all(
    Array.from({ length: 2 * n }, async (_, i) => {
      const s = connect({ port: server.port, host: '127.0.0.1' });
      s.on('error', () => {});
      if (i % 2) s.on('connect', () => s.write(hello));
      return closedBy(s, 30_000);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const open = closed.filter((c) => !c).length;
  if (open) violations.push(`${open} of ${2 * n} half-open handshakes never ended by the server`);
  await server.waitForLines(DROPPED, 2 * n, 10_000).catch(() => {});
  const dropped = server.lines().filter((l) => DROPPED.test(l)).length;
  if (dropped !== 2 * n) violations.push(`${dropped} drop warnings for ${2 * n} half-open handshakes`);
  const timedOut = server.lines().filter((l) => /timed out|timeout/i.test(l)).length;
  const figures: Record<string, number | string> = {
    silent: n,
    helloThenSilent: n,
    dropped,
    timedOutLines: timedOut,
    secondsToEndAll: seconds.toFixed(1),
  };
  await settle(server, violations, figures);
  return { figures, violations };
}

/**
 * `n` clients that reset after the server's first flight (mid-handshake) and `n` that reset after
 * the program's greeting (mid-session, the program then waiting on its input): every program ends,
 * every connection is logged ended.
 */
export async function tlsResets(impl: SslImpl, n: number): Promise<FaultResult> {
  const violations: string[] = [];
  const hello = await clientHello();
  const server = await startSsl(impl, ['-c', String(2 * n + 10)], PROGRAM);
  let midSession = 0;
  await Promise.all(
    Array.from({ length: 2 * n }, async (_, i) => {
      if (i % 2 === 0) {
        const s = connect({ port: server.port, host: '127.0.0.1' });
        s.on('error', () => {});
        s.on('connect', () => s.write(hello));
        await Promise.race([once(s, 'data'), sleep(10_000)]);
        s.resetAndDestroy();
        return;
      }
      const { raw, tls } = session(server.port);
      if ((await firstLine(tls)) === 'hello') midSession++;
      raw.resetAndDestroy();
    }),
  );
  if (midSession !== n) violations.push(`${n - midSession} of ${n} sessions never reached the program before their reset`);
  const figures: Record<string, number | string> = { midHandshake: n, midSession };
  await settle(server, violations, figures);
  return { figures, violations };
}

/**
 * `n` clients that ask for output without end and never read it, for `seconds` at least, while `n`
 * ordinary clients are served one after another: the memory of the server (with its TLS processes,
 * for C) sampled throughout; it must stop growing once the buffers are full (the last half of the
 * run may not add more than 16 MB to the first half's peak).
 */
export async function tlsSlowReaders(impl: SslImpl, n: number, seconds: number): Promise<FaultResult> {
  const violations: string[] = [];
  const server = await startSsl(impl, ['-c', String(2 * n + 10)], PROGRAM);
  const pid = server.proc.pid!;
  await sleep(300);
  const idle = treeRssKb(pid);
  const stalled = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = session(server.port);
      const ok = (await firstLine(s.tls)) === 'hello';
      s.tls.write('big\n');
      s.tls.pause();
      return { ...s, ok };
    }),
  );
  if (stalled.some((s) => !s.ok)) violations.push(`${stalled.filter((s) => !s.ok).length} stalled clients never reached the program`);
  const samples: number[] = [];
  const t0 = Date.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(treeRssKb(pid));
      await sleep(200);
    }
  })();
  let served = 0;
  for (let i = 0; i < n; i++) if (await tlsServes(server.port)) served++;
  await sleep(t0 + seconds * 1000 - Date.now());
  sampling = false;
  await sampler;
  const half = Math.floor(samples.length / 2);
  const firstPeak = Math.max(...samples.slice(0, half));
  const lastPeak = Math.max(...samples.slice(half));
  if (lastPeak - firstPeak > 16 * 1024)
    violations.push(`memory still growing: ${firstPeak} kB peak in the first half, ${lastPeak} kB in the second`);
  if (served < n) violations.push(`${n - served} of ${n} ordinary clients not served while others stalled`);
  for (const s of stalled) s.raw.destroy();
  const figures: Record<string, number | string> = {
    stalled: n,
    servedMeanwhile: served,
    'RSS MB idle': (idle / 1024).toFixed(1),
    'first half peak': (firstPeak / 1024).toFixed(1),
    'second half peak': (lastPeak / 1024).toFixed(1),
  };
  await settle(server, violations, figures);
  return { figures, violations };
}

/**
 * `n` clients that send close_notify (TLS 1.3) as soon as the handshake is done, before the
 * program has written anything: the program still gets to write its 200,000 bytes to each, then
 * the connection ends.
 */
export async function tlsEarlyCloseNotify(impl: SslImpl, n: number): Promise<FaultResult> {
  const violations: string[] = [];
  const bytes = 200_000;
  const server = await startSsl(impl, ['-c', String(n + 10)], ['sh', '-c', `exec 2>/dev/null; sleep 0.2; head -c ${bytes} /dev/zero`]);
  const got = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<number>((resolve) => {
          const { tls } = session(server.port);
          let length = 0;
          const timer = setTimeout(() => (tls.destroy(), resolve(-1)), 30_000);
          tls.on('secureConnect', () => tls.end());
          tls.on('data', (d: Buffer) => (length += d.length));
          tls.on('close', () => {
            clearTimeout(timer);
            resolve(length);
          });
        }),
    ),
  );
  const whole = got.filter((g) => g === bytes).length;
  const hung = got.filter((g) => g < 0).length;
  if (hung) violations.push(`${hung} connections never ended`);
  if (whole !== n)
    violations.push(
      `${n - whole} of ${n} clients did not get the program's ${bytes} bytes after their close_notify (${[...new Set(got)].join(', ')})`,
    );
  const figures: Record<string, number | string> = { clients: n, gotAll: whole };
  const pid = server.proc.pid!;
  for (let i = 0; i < 100 && childrenOf(pid).length > 0; i++) await sleep(100);
  Object.assign(figures, await leftovers(server, violations));
  await server.stop();
  return { figures, violations };
}

/**
 * -C 1 (MAXCONNIP 1): from one address, each fault once (garbage, silence, a ClientHello then
 * silence, a reset mid-handshake and mid-session, close_notify at once), and after each faulted
 * connection has ended an ordinary client from the same address must get in. Ours only (0.95b
 * has no limits).
 */
export async function tlsLimitsAfterFaults(impl: SslImpl, rounds: number): Promise<FaultResult> {
  const violations: string[] = [];
  const hello = await clientHello();
  const server = await startSsl(impl, ['-C', '1'], PROGRAM, 1);
  const from = randomLoopbackIp();
  const faults: Record<string, () => Promise<void>> = {
    garbage: async () => {
      const s = connect({ port: server.port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => {});
      s.on('connect', () => s.end('GET / HTTP/1.0\r\n\r\n'));
      await closedBy(s, 30_000);
    },
    silence: async () => {
      const s = connect({ port: server.port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => {});
      await closedBy(s, 30_000);
    },
    helloThenSilence: async () => {
      const s = connect({ port: server.port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => {});
      s.on('connect', () => s.write(hello));
      await closedBy(s, 30_000);
    },
    resetMidHandshake: async () => {
      const s = connect({ port: server.port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => {});
      s.on('connect', () => s.write(hello));
      await Promise.race([once(s, 'data'), sleep(10_000)]);
      s.resetAndDestroy();
    },
    resetMidSession: async () => {
      const { raw, tls } = session(server.port, from);
      await firstLine(tls);
      raw.resetAndDestroy();
    },
    closeNotifyAtOnce: async () => {
      const { tls } = session(server.port, from);
      tls.on('secureConnect', () => tls.end());
      await closedBy(tls, 30_000);
    },
  };
  const figures: Record<string, number | string> = { rounds };
  let ends = server.lines().filter((l) => / end \d+ status /.test(l)).length;
  for (let round = 0; round < rounds; round++) {
    for (const [name, fault] of Object.entries(faults)) {
      await fault();
      // the faulted connection has ended, as the log says
      await server
        .waitForLines(/ end \d+ status /, ++ends, 30_000)
        .catch(() => violations.push(`${name}: the faulted connection never ended`));
      if (await tlsServes(server.port, from)) figures[name] = ((figures[name] as number) ?? 0) + 1;
      else violations.push(`${name}: the next client from the same address was refused (round ${round})`);
      await server
        .waitForLines(/ end \d+ status /, ++ends, 30_000)
        .catch(() => violations.push(`${name}: the ordinary connection after it never ended`));
    }
  }
  const refused = server.lines().filter((l) => / deny \d+ .*MAXCONNIP/.test(l)).length;
  figures.refusedByTheLimit = refused;
  if (refused) violations.push(`${refused} clients refused by MAXCONNIP after their own faulted connection had ended`);
  await settle(server, violations, figures);
  return { figures, violations };
}

/** N TLS sessions at K clients (-v), each reading the program's greeting and its answer. */
export function tlsSoak(impl: SslImpl, connections: number, clients: number): Promise<SoakResult> {
  return soak(impl.file, {
    connections,
    clients,
    env: impl.env,
    endNames: impl.endNames,
    args: ['-T', '10'],
    program: PROGRAM,
    expect: 'ok',
    client: (port) => tlsServes(port).then((ok) => (ok ? 'ok' : 'failed')),
  });
}

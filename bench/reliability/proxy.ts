// Fault runs and a fuzzer for the PROXY protocol receiver (tcpserver with PROXYFROM), ours only (the
// C tcpserver has no PROXY step): headers malformed, truncated then silent, oversized, sent a byte
// at a time, too slow, from a peer not trusted, reset half way; a source address the rules deny
// carried in a header; and seeded random headers through a real socket, each judged by the parser
// itself (inspectHeader on the bytes sent): served as the header's source, or dropped with the
// parser's reason, never anything else. Loopback only, bounded in count and time.
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { formatIp4, formatIp6, parseIp4, parseIp6 } from '../../src/dns/address';
import { inspectHeader } from '../../src/proxy/header';
import { formatV1 } from '../../src/proxy/v1';
import { formatV2, formatV2Local, V2_SIGNATURE } from '../../src/proxy/v2';
import { endpointOf } from '../../src/server/address';
import { randomLoopbackIp } from '../../test/support/loopback';
import { BIN } from '../../test/support/programs';
import { writeRulesCdb } from '../../test/support/rules';
import type { RunningServer } from '../../test/support/server';
import { FaultResult, leftovers, start, stillServes } from './faults';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TCPSERVER = join(BIN, 'tcpserver');
/** says who it thinks the client is, then echoes what follows the header */
const PROGRAM = ['sh', '-c', 'exec 2>/dev/null; echo "ran $TCPREMOTEIP"; exec cat'];

export interface ProxyPeers {
  /** the trusted balancer (PROXYFROM) */
  readonly balancer: string;
  /** a source the rules deny */
  readonly denied: string;
  /** sources the rules let in */
  readonly allowed: readonly string[];
  /** a peer not in PROXYFROM */
  readonly stranger: string;
}

function peers(): ProxyPeers {
  const base = randomLoopbackIp().split('.').slice(0, 3).join('.');
  return { balancer: `${base}.1`, denied: `${base}.66`, allowed: [`${base}.7`, `${base}.8`, '2001:db8::7'], stranger: `${base}.3` };
}

/** tcpserver with PROXYFROM=the balancer, PROXYTIMEOUT=1, rules denying `denied`, -c 40. */
async function proxyServer(dir: string, p: ProxyPeers, noFfi = false): Promise<RunningServer> {
  const rules = writeRulesCdb(join(dir, 'proxy-rules.cdb'), `${p.denied}:deny\n:allow\n`);
  const env = { ...process.env, PROXYFROM: p.balancer, PROXYTIMEOUT: '1', ...(noFfi ? { UCSPI_TS_NO_FFI: '1' } : {}) };
  return start(TCPSERVER, ['-c', '40', '-b', '100', '-x', rules], PROGRAM, undefined, env);
}

const endpoint = (text: string, port: number) => ({ ip: (parseIp4(text) ?? parseIp6(text)) as Buffer, port });

export interface Sent {
  /** what the program sent back (empty when none ran) */
  readonly data: string;
  /** how the client saw the end: the server closed, or the client gave up (held open this long) */
  readonly ending: 'closed' | 'reset' | 'held';
}

export interface SendPlan {
  readonly from: string;
  readonly pieces: readonly Buffer[];
  /** ms between pieces */
  readonly gapMs?: number;
  /** after the last piece: half-close (default), stay silent, or reset */
  readonly afterwards?: 'end' | 'silence' | 'reset';
  /** give up after this long (a server that never closes) */
  readonly giveUpMs?: number;
}

/** Send `pieces` from `from` to the server and read until it closes (or `giveUpMs` passes). */
export function send(port: number, plan: SendPlan): Promise<Sent> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s: Socket = connect({ port, host: '127.0.0.1', localAddress: plan.from });
    s.setNoDelay(true);
    const done = (ending: Sent['ending']) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(chunks).toString('latin1'), ending });
    };
    const timer = setTimeout(() => done('held'), plan.giveUpMs ?? 20_000);
    const pieces = [...plan.pieces];
    const next = () => {
      if (s.destroyed) return;
      const piece = pieces.shift();
      if (piece) {
        s.write(piece);
        if (pieces.length && plan.gapMs) return void setTimeout(next, plan.gapMs);
        return next();
      }
      if ((plan.afterwards ?? 'end') === 'end') s.end();
      else if (plan.afterwards === 'reset') {
        s.resetAndDestroy();
        done('reset');
      }
    };
    s.on('connect', next);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => done('reset'));
    s.on('close', () => done('closed'));
  });
}

/** Every piece of one byte. */
const bytewise = (b: Buffer) => [...b].map((x) => Buffer.from([x]));

interface FaultCase {
  readonly name: string;
  readonly plan: (p: ProxyPeers, port: number) => SendPlan;
  /** the program's answer expected, or a drop with this reason logged */
  readonly expect: { readonly ran: string } | { readonly dropped: RegExp } | { readonly denied: true };
}

/** v2 header with its length field set to `length` (what the bytes behind it say or not). */
function v2WithLength(length: number, p: ProxyPeers): Buffer {
  const h = formatV2(endpoint(p.allowed[0], 1), endpoint('127.0.0.1', 25));
  h.writeUInt16BE(length, 14);
  return h;
}

const v1 = (p: ProxyPeers, src = p.allowed[0]) => formatV1(endpoint(src, 4711), endpoint('127.0.0.1', 25));
const v2 = (p: ProxyPeers, src = p.allowed[0]) => formatV2(endpoint(src, 4711), endpoint('127.0.0.1', 25));
/** A good v2 header with its byte `at` (12: version and command, 13: family and transport) set to `value`. */
function v2Changed(p: ProxyPeers, at: number, value: number): Buffer {
  const h = v2(p);
  h[at] = value;
  return h;
}
const text = (s: string) => [Buffer.from(s, 'latin1')];
const parse = (reason: string) => ({ dropped: new RegExp(`unable to parse PROXY header: ${reason}$`) });
/**
 * The reason for a line judged whole, or judged by the part that had arrived when it was read: the
 * server reads what is there (a v1 line with two spaces is a bad line whole, a bad address by its
 * first 12 bytes). Either is right; which one depends on how the bytes arrived.
 */
const WHOLE_OR_PART = (whole: string, part: string) => `(${whole}|${part})`;
const TIMED_OUT = { dropped: /unable to read PROXY header: timed out$/ };
const EOF = { dropped: /unable to read PROXY header: end of file$/ };

export const PROXY_CASES: readonly FaultCase[] = [
  // malformed v1
  {
    name: 'v1 without CR',
    plan: (p) => ({ from: p.balancer, pieces: text('PROXY TCP4 127.1.2.3 127.0.0.1 1 25\n') }),
    expect: parse('bad line'),
  },
  {
    name: 'v1 unknown protocol',
    plan: (p) => ({ from: p.balancer, pieces: text('PROXY TCP5 127.1.2.3 127.0.0.1 1 25\r\n') }),
    expect: parse('unknown protocol'),
  },
  {
    name: 'v1 address 256',
    plan: (p) => ({ from: p.balancer, pieces: text('PROXY TCP4 127.1.2.256 127.0.0.1 1 25\r\n') }),
    expect: parse('bad address'),
  },
  {
    name: 'v1 port 65536',
    plan: (p) => ({ from: p.balancer, pieces: text('PROXY TCP4 127.1.2.3 127.0.0.1 65536 25\r\n') }),
    expect: parse('bad port'),
  },
  {
    name: 'v1 two spaces',
    plan: (p) => ({ from: p.balancer, pieces: text('PROXY TCP4  127.1.2.3 127.0.0.1 1 25\r\n') }),
    expect: parse(WHOLE_OR_PART('bad line', 'bad address')),
  },
  {
    name: 'v1 IPv6 in TCP4',
    plan: (p) => ({ from: p.balancer, pieces: text('PROXY TCP4 ::1 127.0.0.1 1 25\r\n') }),
    expect: parse('bad address'),
  },
  {
    name: 'no header at all (SMTP)',
    plan: (p) => ({ from: p.balancer, pieces: text('EHLO example.org\r\n') }),
    expect: parse('not a PROXY header'),
  },
  {
    name: 'HTTP request',
    plan: (p) => ({ from: p.balancer, pieces: text('GET / HTTP/1.0\r\n\r\n') }),
    expect: parse('not a PROXY header'),
  },
  // malformed v2
  { name: 'v2 version 3', plan: (p) => ({ from: p.balancer, pieces: [v2Changed(p, 12, 0x31)] }), expect: parse('unsupported version') },
  { name: 'v2 command 7', plan: (p) => ({ from: p.balancer, pieces: [v2Changed(p, 12, 0x27)] }), expect: parse('bad command') },
  { name: 'v2 family 9', plan: (p) => ({ from: p.balancer, pieces: [v2Changed(p, 13, 0x91)] }), expect: parse('bad address family') },
  {
    name: 'v2 datagram',
    plan: (p) => ({ from: p.balancer, pieces: [v2Changed(p, 13, 0x12)] }),
    expect: parse('datagram transport not supported'),
  },
  {
    name: 'v2 length shorter than its addresses',
    plan: (p) => ({ from: p.balancer, pieces: [v2WithLength(4, p).subarray(0, 20)] }),
    expect: parse('address block too short'),
  },
  {
    name: 'v2 a TLV longer than the block',
    plan: (p) => {
      const base = v2(p);
      const h = Buffer.concat([base, Buffer.from([0x02, 0x00, 0x40, 0x61])]);
      h.writeUInt16BE(base.length - 16 + 4, 14);
      return { from: p.balancer, pieces: [h] };
    },
    expect: parse('bad TLV'),
  },
  {
    name: 'v2 wrong CRC32C',
    plan: (p) => {
      const base = v2(p);
      const h = Buffer.concat([base, Buffer.from([0x03, 0x00, 0x04, 1, 2, 3, 4])]);
      h.writeUInt16BE(base.length - 16 + 7, 14);
      return { from: p.balancer, pieces: [h] };
    },
    expect: parse('bad checksum'),
  },
  {
    name: 'v2 signature wrong in its last byte',
    plan: (p) => ({ from: p.balancer, pieces: [Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b]), v2(p).subarray(12)])] }),
    expect: parse('not a PROXY header'),
  },
  // truncated, then silence (PROXYTIMEOUT ends them) or end of file
  {
    name: 'v1 half a line, then silence',
    plan: (p) => ({ from: p.balancer, pieces: [v1(p).subarray(0, 17)], afterwards: 'silence' }),
    expect: TIMED_OUT,
  },
  {
    name: 'v2 head only, then silence',
    plan: (p) => ({ from: p.balancer, pieces: [v2(p).subarray(0, 16)], afterwards: 'silence' }),
    expect: TIMED_OUT,
  },
  {
    name: 'v2 signature cut, then silence',
    plan: (p) => ({ from: p.balancer, pieces: [V2_SIGNATURE.subarray(0, 5)], afterwards: 'silence' }),
    expect: TIMED_OUT,
  },
  { name: 'connect, then silence', plan: (p) => ({ from: p.balancer, pieces: [], afterwards: 'silence' }), expect: TIMED_OUT },
  { name: 'v2 cut, then end of file', plan: (p) => ({ from: p.balancer, pieces: [v2(p).subarray(0, 22)] }), expect: EOF },
  { name: 'v1 cut, then end of file', plan: (p) => ({ from: p.balancer, pieces: [v1(p).subarray(0, 30)] }), expect: EOF },
  // oversized
  {
    name: 'v1 UNKNOWN, 108 bytes without CRLF, then silence',
    plan: (p) => ({ from: p.balancer, pieces: text(`PROXY UNKNOWN ${'x'.repeat(94)}`), afterwards: 'silence' }),
    expect: parse('line too long'),
  },
  {
    name: 'v1 TCP6, an address of 97 digits',
    plan: (p) => ({ from: p.balancer, pieces: text(`PROXY TCP6 ${'1'.repeat(97)}`), afterwards: 'silence' }),
    expect: parse(WHOLE_OR_PART('line too long', 'bad address')),
  },
  {
    name: 'v1 UNKNOWN line of 200 bytes',
    plan: (p) => ({ from: p.balancer, pieces: text(`PROXY UNKNOWN ${'x'.repeat(186)}\r\n`) }),
    expect: parse('line too long'),
  },
  {
    name: 'v2 length 65535 (over 4096)',
    plan: (p) => ({ from: p.balancer, pieces: [v2WithLength(65535, p)], afterwards: 'silence' }),
    expect: parse('header too long'),
  },
  {
    name: 'v2 length promising 1000 bytes, 12 sent, then silence',
    plan: (p) => ({ from: p.balancer, pieces: [v2WithLength(1000, p)], afterwards: 'silence' }),
    expect: TIMED_OUT,
  },
  {
    name: 'v2 length promising 1000 bytes, 12 sent, then end of file',
    plan: (p) => ({ from: p.balancer, pieces: [v2WithLength(1000, p)] }),
    expect: EOF,
  },
  // slow: a byte at a time (in time, and too slowly for PROXYTIMEOUT)
  {
    name: 'v1 a byte at a time',
    plan: (p) => ({ from: p.balancer, pieces: [...bytewise(v1(p)), Buffer.from('data')], gapMs: 2 }),
    expect: { ran: 'allowed0' },
  },
  {
    name: 'v2 a byte at a time',
    plan: (p) => ({ from: p.balancer, pieces: [...bytewise(v2(p)), Buffer.from('data')], gapMs: 2 }),
    expect: { ran: 'allowed0' },
  },
  {
    name: 'v1 a byte every 150 ms (slower than PROXYTIMEOUT)',
    plan: (p) => ({ from: p.balancer, pieces: bytewise(v1(p)), gapMs: 150 }),
    expect: TIMED_OUT,
  },
  // not from the balancer: never parsed, the header is data
  { name: 'a header from a peer not in PROXYFROM', plan: (p) => ({ from: p.stranger, pieces: [v1(p)] }), expect: { ran: 'stranger' } },
  { name: 'v2 LOCAL (health check)', plan: (p) => ({ from: p.balancer, pieces: [formatV2Local()] }), expect: { ran: 'balancer' } },
  // resets half way
  {
    name: 'v1 half, then reset',
    plan: (p) => ({ from: p.balancer, pieces: [v1(p).subarray(0, 10), v1(p).subarray(10, 20)], gapMs: 300, afterwards: 'reset' }),
    expect: { dropped: /unable to read PROXY header: / },
  },
  {
    name: 'v2 half, then reset',
    plan: (p) => ({ from: p.balancer, pieces: [v2(p).subarray(0, 10), v2(p).subarray(10, 20)], gapMs: 300, afterwards: 'reset' }),
    expect: { dropped: /unable to read PROXY header: / },
  },
  // the rules judge the header's source
  {
    name: 'v1 from a denied source',
    plan: (p) => ({ from: p.balancer, pieces: [v1(p, p.denied), Buffer.from('data')] }),
    expect: { denied: true },
  },
  {
    name: 'v2 from a denied source',
    plan: (p) => ({ from: p.balancer, pieces: [v2(p, p.denied), Buffer.from('data')] }),
    expect: { denied: true },
  },
  {
    name: 'v2 from a denied source, a byte at a time',
    plan: (p) => ({ from: p.balancer, pieces: [...bytewise(v2(p, p.denied)), Buffer.from('data')], gapMs: 2 }),
    expect: { denied: true },
  },
];

function ranAs(who: string, p: ProxyPeers): string {
  if (who === 'allowed0') return p.allowed[0];
  if (who === 'stranger') return p.stranger;
  return p.balancer;
}

/**
 * Each case `rounds` times, several clients at once: a drop is logged with its reason and never
 * reaches the program (nor does a denied source), a good header gets the program as the header's
 * source; afterwards no child, zombie or unpaired log line, and ordinary clients still served.
 */
export async function proxyFaults(dir: string, rounds: number, noFfi = false): Promise<FaultResult> {
  const violations: string[] = [];
  const p = peers();
  const server = await proxyServer(dir, p, noFfi);
  const figures: Record<string, number> = { cases: PROXY_CASES.length, connections: 0, dropped: 0, denied: 0, ran: 0, deniedLetIn: 0 };
  for (const c of PROXY_CASES) {
    const before = server.lines().length;
    const got = await Promise.all(Array.from({ length: rounds }, () => send(server.port, c.plan(p, server.port))));
    figures.connections += rounds;
    const lines = () => server.lines().slice(before);
    if ('ran' in c.expect) {
      const want = `ran ${ranAs(c.expect.ran, p)}\n`;
      const good = got.filter((g) => g.data.startsWith(want)).length;
      figures.ran += good;
      if (good !== rounds)
        violations.push(
          `${c.name}: ${rounds - good} of ${rounds} not served as ${want.trim()} (${JSON.stringify(got.find((g) => !g.data.startsWith(want)))})`,
        );
    } else {
      const ran = got.filter((g) => g.data.length > 0);
      if (ran.length) violations.push(`${c.name}: ${ran.length} of ${rounds} reached the program (${JSON.stringify(ran[0].data)})`);
      if ('denied' in c.expect) {
        figures.deniedLetIn += ran.length;
        // the count is over the whole log: this case's lines come on top of earlier cases'
        const denyLine = new RegExp(` deny \\d+ .*:${p.denied.replace(/\./g, '\\.')}::`);
        const earlier = server
          .lines()
          .slice(0, before)
          .filter((l) => denyLine.test(l)).length;
        await server.waitForLines(denyLine, earlier + rounds, 10_000).catch(() => {});
        const deny = lines().filter((l) => / deny \d+ /.test(l)).length;
        figures.denied += deny;
        if (deny !== rounds) violations.push(`${c.name}: ${deny} deny lines for ${rounds} connections`);
      } else {
        const re = c.expect.dropped;
        const count = () => lines().filter((l) => /dropping connection, unable to (parse|read) PROXY header/.test(l)).length;
        for (let i = 0; i < 50 && count() < rounds; i++) await sleep(100);
        const matching = lines().filter((l) => re.test(l)).length;
        figures.dropped += count();
        if (matching !== rounds)
          violations.push(
            `${c.name}: ${matching} of ${rounds} dropped with ${re} (${lines().filter((l) => /dropping/.test(l))[0] ?? 'no drop line'})`,
          );
      }
      const held = got.filter((g) => g.ending === 'held').length;
      if (held) violations.push(`${c.name}: ${held} connections never closed by the server`);
    }
  }
  await stillServes(server, 'ran 127.0.0.1\nhi\n', violations);
  Object.assign(figures, await leftovers(server, violations));
  await server.stop();
  return { figures, violations };
}

// ---- the fuzzer ----

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: () => number, n: number) => Math.floor(r() * n);

/** A header to mangle: v1 or v2, IPv4 or IPv6, from an allowed or the denied source, TLVs sometimes. */
function baseHeader(p: ProxyPeers, r: () => number): Buffer {
  const src = pick(r, [...p.allowed, p.denied]);
  const family6 = src.includes(':');
  const dst = family6 ? '2001:db8::25' : '127.0.0.1';
  if (r() < 0.4) return formatV1(endpoint(src, int(r, 65536)), endpoint(dst, 25));
  if (r() < 0.1) return pick(r, [formatV2Local(), Buffer.from('PROXY UNKNOWN\r\n')]);
  const h = formatV2(endpoint(src, int(r, 65536)), endpoint(dst, 25));
  if (r() < 0.3) {
    const tlv = Buffer.from([pick(r, [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0]), 0, 3, 0x61, 0x62, 0x63]);
    const both = Buffer.concat([h, tlv]);
    both.writeUInt16BE(h.length - 16 + tlv.length, 14);
    return both;
  }
  return h;
}

/** A header changed at random: bytes flipped, cut, grown, the v2 length set anywhere, v1 text spliced. */
export function mangledHeader(p: ProxyPeers, r: () => number): Buffer {
  let b = baseHeader(p, r);
  if (r() < 0.25) return b; // some must get through, to judge the served ones too
  for (let k = 1 + int(r, 3); k > 0; k--) {
    const what = int(r, 6);
    if (what === 0 && b.length) b[int(r, b.length)] ^= 1 + int(r, 255);
    else if (what === 1) b = b.subarray(0, int(r, b.length + 1));
    else if (what === 2)
      b = Buffer.concat([b.subarray(0, int(r, b.length + 1)), Buffer.from(Array.from({ length: int(r, 40) }, () => int(r, 256)))]);
    else if (what === 3 && b.length >= 16 && b[0] === 0x0d)
      b.writeUInt16BE(pick(r, [0, 1, 11, 12, 35, 36, 37, 4080, 4081, 65535, int(r, 65536)]), 14);
    else if (what === 4 && b[0] === 0x50) {
      const at = int(r, b.length);
      b = Buffer.concat([
        b.subarray(0, at),
        Buffer.from(pick(r, [' ', '0', '00', ':', '.', '\r', '\n', '\r\n', '9', 'ffff', '1.2.3.4']), 'latin1'),
        b.subarray(at),
      ]);
    }
    // otherwise (5, or a change that does not apply to this version) the header is left as it is
  }
  return b;
}

const DATA = Buffer.from('\r\nDATA');

/**
 * The reasons of the server's drop warnings, one at a time as they come (read off its stderr as it
 * arrives: going through the whole log for each of 20,000 connections was quadratic).
 */
function dropReasons(server: RunningServer): { next(ms: number): Promise<string | null> } {
  const reasons: string[] = [];
  let partial = '';
  let wake: (() => void) | null = null;
  server.proc.stderr?.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() as string;
    for (const l of lines) {
      const m = /dropping connection, (unable to .*)$/.exec(l);
      if (m) reasons.push(m[1]);
    }
    wake?.();
  });
  let taken = 0;
  return {
    async next(ms) {
      const deadline = Date.now() + ms;
      while (taken >= reasons.length && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline - Date.now());
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
      return taken < reasons.length ? reasons[taken++] : null;
    },
  };
}

type Verdict = { ran: string; rest: string } | { dropped: Set<string> } | { denied: true };

/**
 * The server's verdict the parser predicts for `bytes` sent then half-closed. A drop's reason is
 * what the parser says of some prefix of them (the server judges what has arrived so far).
 */
function predicted(bytes: Buffer, p: ProxyPeers): Verdict {
  const i = inspectHeader(bytes);
  if (i.kind !== 'complete') {
    const reasons = new Set<string>();
    for (let n = 1; n <= bytes.length; n++) {
      const j = inspectHeader(bytes.subarray(0, n));
      if (j.kind === 'invalid') reasons.add(`unable to parse PROXY header: ${j.reason}`);
    }
    if (i.kind === 'more') reasons.add('unable to read PROXY header: end of file');
    return { dropped: reasons };
  }
  const rest = bytes.subarray(i.length).toString('latin1');
  const a = i.header.addresses;
  if (!a) return { ran: p.balancer, rest };
  const ip = a.source.ip.length === 4 ? formatIp4(a.source.ip) : formatIp6(a.source.ip);
  const text = (endpointOf(ip, false) as { text: string }).text;
  return text === p.denied ? { denied: true } : { ran: text, rest };
}

/**
 * `iterations` mangled headers (then a little data) sent by the balancer one after another, in one
 * write or in random pieces, then half-closed. The parser's verdict on the bytes sent is the
 * reference: a client the parser reads as coming from X is served as X, with the bytes after the
 * header intact; one it refuses is dropped with its reason; the denied source is never served.
 */
export async function fuzzProxy(dir: string, iterations: number, r: () => number, noFfi = false): Promise<FaultResult> {
  const violations: string[] = [];
  const p = peers();
  const server = await proxyServer(dir, p, noFfi);
  const drops = dropReasons(server);
  const figures: Record<string, number> = { headers: iterations, served: 0, dropped: 0, denied: 0, deniedLetIn: 0 };
  const reasons = new Set<string>();
  for (let n = 0; n < iterations; n++) {
    const all = Buffer.concat([mangledHeader(p, r), DATA]);
    const cuts = r() < 0.3 ? Array.from({ length: 1 + int(r, 4) }, () => int(r, all.length)).sort((x, y) => x - y) : [];
    const ends = [...cuts, all.length];
    const pieces = ends.map((end, k) => all.subarray(k === 0 ? 0 : ends[k - 1], end)).filter((x) => x.length);
    const want = predicted(all, p);
    const got = await send(server.port, { from: p.balancer, pieces, gapMs: int(r, 3) });
    const show = () =>
      `${all.toString('hex')} in ${pieces.length} pieces: expected ${JSON.stringify(want, (_, v) => (v instanceof Set ? [...v] : v))}, got ${JSON.stringify(got)}`;
    if ('ran' in want) {
      figures.served++;
      if (got.data !== `ran ${want.ran}\n${want.rest}`) violations.push(`not served as predicted: ${show()}`);
      continue;
    }
    if (got.data.length) violations.push(`${'denied' in want ? 'a denied source let in' : 'reached the program'}: ${show()}`);
    if (got.ending === 'held') violations.push(`never closed: ${show()}`);
    if ('denied' in want) {
      figures.denied++;
      if (got.data.length) figures.deniedLetIn++;
      continue;
    }
    figures.dropped++;
    const reason = (await drops.next(10_000)) ?? 'no drop line';
    reasons.add(reason);
    if (!want.dropped.has(reason)) violations.push(`dropped for ${reason}: ${show()}`);
  }
  figures.reasons = reasons.size;
  const deny = server.lines().filter((l) => / deny \d+ /.test(l)).length;
  if (deny !== figures.denied) violations.push(`${deny} deny lines for ${figures.denied} denied sources`);
  await stillServes(server, 'ran 127.0.0.1\nhi\n', violations);
  Object.assign(figures, await leftovers(server, violations));
  await server.stop();
  return { figures, violations };
}

// One question to the configured servers, djb style: UDP to each server in turn with growing
// timeouts, the whole query over TCP when a reply is truncated, a fresh socket and random id per
// try, and replies that do not match the question (id, name, type, class) ignored.
//
// Timings (shorter than djb's 1/3/11/45 s): UDP rounds of 1, 3 and 11 s per server, so one
// unreachable server costs 15 s; TCP 10 s per server. A SERVFAIL/REFUSED/NOTIMP answer or an ICMP
// "port unreachable" moves on to the next try at once. When every try has failed the error is the
// last one seen: ETIMEDOUT, EAGAIN (server failure), ECONNREFUSED, or a socket error.
import { createSocket, Socket as UdpSocket } from 'node:dgram';
import { dnsServers, Server } from './config';
import { asDnsError, DnsError } from './error';
import { namesEqual } from './name';
import { buildQuery, CLASS_IN, FLAG_TC, RCODE_NOERROR, RCODE_NXDOMAIN, rcodeOf, readName } from './packet';

export const timings = {
  /** Per-try UDP timeouts in ms, one round over all servers each. */
  udpTimeoutsMs: [1000, 3000, 11000] as number[],
  /** Deadline of one TCP exchange in ms. */
  tcpTimeoutMs: 10000,
};

let randomInt: ((max: number) => number) | undefined;

/** A query id no one can guess. node:crypto (OpenSSL) costs about 2 MB at start, so it comes with the first query. */
function queryId(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  randomInt ??= (require('node:crypto') as typeof import('node:crypto')).randomInt;
  return randomInt(0x10000);
}

type TryResult = { kind: 'reply'; reply: Buffer } | { kind: 'truncated' } | { kind: 'failed'; error: DnsError };

/** Does this reply answer our query? (djb's `irrelevant`, inverted.) */
function relevant(reply: Buffer, id: number, name: Buffer, type: number): boolean {
  try {
    if (reply.length < 12 || reply.readUInt16BE(0) !== id || reply.readUInt16BE(4) !== 1) return false;
    const [qname, pos] = readName(reply, 12);
    if (pos + 4 > reply.length) return false;
    return namesEqual(qname, name) && reply.readUInt16BE(pos) === type && reply.readUInt16BE(pos + 2) === CLASS_IN;
  } catch {
    return false;
  }
}

function serverFailure(reply: Buffer): DnsError | null {
  const rcode = rcodeOf(reply.readUInt16BE(2));
  return rcode !== RCODE_NOERROR && rcode !== RCODE_NXDOMAIN ? new DnsError('EAGAIN', `server failure (rcode ${rcode})`) : null;
}

function udpTry(server: Server, name: Buffer, type: number, timeoutMs: number): Promise<TryResult> {
  return new Promise((resolve) => {
    const id = queryId();
    const query = buildQuery(id, name, type);
    let socket: UdpSocket;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: TryResult): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    try {
      socket = createSocket(server.family === 6 ? 'udp6' : 'udp4');
    } catch (err) {
      resolve({ kind: 'failed', error: asDnsError(err) });
      return;
    }
    socket.on('error', (err) => finish({ kind: 'failed', error: asDnsError(err) }));
    socket.on('message', (reply: Buffer) => {
      if (!relevant(reply, id, name, type)) return;
      if (reply.readUInt16BE(2) & FLAG_TC) return finish({ kind: 'truncated' });
      const failure = serverFailure(reply);
      finish(failure ? { kind: 'failed', error: failure } : { kind: 'reply', reply });
    });
    timer = setTimeout(() => finish({ kind: 'failed', error: new DnsError('ETIMEDOUT') }), timeoutMs);
    socket.connect(53, server.address, () => {
      if (done) return;
      socket.send(query, (err) => {
        if (err) finish({ kind: 'failed', error: asDnsError(err) });
      });
    });
  });
}

function tcpTry(server: Server, name: Buffer, type: number): Promise<TryResult> {
  return new Promise((resolve) => {
    const id = queryId();
    const query = buildQuery(id, name, type);
    const framed = Buffer.alloc(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    // node:net only when a reply was truncated (rare; rblsmtpd pays each module per connection)
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { connect } = require('node:net') as typeof import('node:net');
    const socket = connect({ host: server.address, port: 53 });
    const chunks: Buffer[] = [];
    let have = 0;
    let done = false;
    const finish = (r: TryResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'failed', error: new DnsError('ETIMEDOUT') }), timings.tcpTimeoutMs);
    socket.on('connect', () => socket.write(framed));
    socket.on('error', (err) => finish({ kind: 'failed', error: asDnsError(err) }));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (have < 2) return;
      const all = Buffer.concat(chunks);
      const len = all.readUInt16BE(0);
      if (have < 2 + len) return;
      const reply = all.subarray(2, 2 + len);
      if (!relevant(reply, id, name, type)) return finish({ kind: 'failed', error: new DnsError('EPROTO') });
      const failure = serverFailure(reply);
      finish(failure ? { kind: 'failed', error: failure } : { kind: 'reply', reply });
    });
    socket.on('end', () => finish({ kind: 'failed', error: new DnsError('EPROTO', 'connection closed') }));
  });
}

/**
 * Ask the configured servers (or `servers`) one question (recursion desired). Resolves with the
 * first usable reply (NOERROR or NXDOMAIN); rejects with a DnsError when every try failed.
 */
export async function resolveQuestion(name: Buffer, type: number, servers: readonly Server[] = dnsServers()): Promise<Buffer> {
  let last = new DnsError('ECONNREFUSED', 'no DNS server to ask');
  for (const timeoutMs of timings.udpTimeoutsMs) {
    for (let s = 0; s < servers.length; s++) {
      const r = await udpTry(servers[s], name, type, timeoutMs);
      if (r.kind === 'reply') return r.reply;
      if (r.kind === 'failed') {
        last = r.error;
        continue;
      }
      // truncated: the rest of the query goes over TCP, starting with this server
      for (let t = 0; t < servers.length; t++) {
        const tr = await tcpTry(servers[(s + t) % servers.length], name, type);
        if (tr.kind === 'reply') return tr.reply;
        if (tr.kind === 'failed') last = tr.error;
      }
      throw last;
    }
  }
  throw last;
}

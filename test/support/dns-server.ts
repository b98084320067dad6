// A small authoritative DNS responder for tests, on port 53 (UDP and TCP) of its own random
// 127.x.y.z: resolvers like djb's always use port 53, so point them here with DNSCACHEIP.
// Needs root (port 53). The zone is plain data and can be changed while the server runs.
import { createSocket, Socket as UdpSocket } from 'node:dgram';
import { createServer, Server as TcpServer, Socket } from 'node:net';
import { parseIp4, parseIp6 } from '../../src/dns/address';
import { nameFromDot, nameToDot } from '../../src/dns/name';
import {
  buildMessage,
  CLASS_IN,
  FLAG_AA,
  FLAG_QR,
  FLAG_RA,
  FLAG_RD,
  FLAG_TC,
  parseMessage,
  RCODE_NXDOMAIN,
  RCODE_SERVFAIL,
  RecordToWrite,
  txtData,
  TYPE_A,
  TYPE_AAAA,
  TYPE_CNAME,
  TYPE_PTR,
  TYPE_TXT,
} from '../../src/dns/packet';
import { bindOnRandomLoopback } from './loopback';

export interface RecordSet {
  A?: string[];
  AAAA?: string[];
  PTR?: string[];
  /** Each record: one string, or several character-strings (each ≤ 255 bytes, latin1). */
  TXT?: Array<string | string[]>;
  CNAME?: string;
}

/**
 * What the server does for a name (any type asked): answer from records (a type without records
 * gets an empty NOERROR answer); `nxdomain`; `servfail`; `timeout` (never answers, UDP or TCP);
 * `truncated` (UDP answer has TC set and no records, TCP gets the records); `rcode` (that rcode);
 * `spoofFirst` (first a reply with the wrong id and 6.6.6.6 / "spoofed" records, then the real one);
 * `raw` (whatever bytes the function makes of the query's, malformed or not; none for no reply).
 * Names not in the zone are NXDOMAIN.
 */
export type Behaviour =
  | RecordSet
  | 'nxdomain'
  | 'servfail'
  | 'timeout'
  | { truncated: RecordSet }
  | { rcode: number }
  | { spoofFirst: RecordSet }
  | { raw: (query: Buffer, transport: 'udp' | 'tcp') => Buffer | null };

export type Zone = Record<string, Behaviour>;

export interface LoggedQuery {
  /** Dotted, lowercase, no trailing dot. */
  readonly name: string;
  readonly type: number;
  readonly transport: 'udp' | 'tcp';
}

const TYPE_CODES: ReadonlyArray<[keyof RecordSet, number]> = [
  ['A', TYPE_A],
  ['AAAA', TYPE_AAAA],
  ['PTR', TYPE_PTR],
  ['TXT', TYPE_TXT],
  ['CNAME', TYPE_CNAME],
];

function normalise(name: string): string {
  return nameToDot(nameFromDot(name));
}

function recordData(kind: keyof RecordSet, value: string | string[]): Buffer {
  switch (kind) {
    case 'A':
      return parseIp4(value as string) ?? Buffer.alloc(4);
    case 'AAAA':
      return parseIp6(value as string) ?? Buffer.alloc(16);
    case 'PTR':
    case 'CNAME':
      return nameFromDot(value as string);
    case 'TXT':
      return txtData(typeof value === 'string' ? [value] : value);
  }
}

export class DnsTestServer {
  /** Queries received, in order. */
  readonly queries: LoggedQuery[] = [];
  private zone: Map<string, Behaviour>;

  private constructor(
    readonly address: string,
    private readonly udp: UdpSocket,
    private readonly tcp: TcpServer,
    zone: Zone,
  ) {
    this.zone = new Map();
    this.setZone(zone);
    udp.on('message', (msg, rinfo) => {
      for (const reply of this.answers(msg, 'udp')) udp.send(reply, rinfo.port, rinfo.address);
    });
    tcp.on('connection', (sock) => this.serveTcp(sock));
  }

  static start(zone: Zone = {}): Promise<DnsTestServer> {
    return bindOnRandomLoopback(
      (ip) =>
        new Promise<DnsTestServer>((resolve, reject) => {
          const udp = createSocket('udp4');
          udp.once('error', reject);
          udp.bind(53, ip, () => {
            const tcp = createServer();
            tcp.once('error', (err) => {
              udp.close();
              reject(err);
            });
            tcp.listen(53, ip, () => resolve(new DnsTestServer(ip, udp, tcp, zone)));
          });
        }),
    );
  }

  /** Replace the whole zone. */
  setZone(zone: Zone): void {
    this.zone = new Map(Object.entries(zone).map(([k, v]) => [normalise(k), v]));
  }

  /** Set one name's behaviour. */
  set(name: string, behaviour: Behaviour): void {
    this.zone.set(normalise(name), behaviour);
  }

  /** Environment for a program that should resolve through this server only. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { ...process.env, DNSCACHEIP: this.address, ...extra };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.udp.close();
      this.tcp.close(() => resolve());
    });
  }

  /** Queries for a name (any type), to check what a program asked. */
  queriesFor(name: string): LoggedQuery[] {
    const n = normalise(name);
    return this.queries.filter((q) => q.name === n);
  }

  private answers(msg: Buffer, transport: 'udp' | 'tcp'): Buffer[] {
    let query;
    try {
      query = parseMessage(msg);
    } catch {
      return [];
    }
    const q = query.questions[0];
    if (!q) return [];
    const name = nameToDot(q.name);
    this.queries.push({ name, type: q.type, transport });
    const behaviour = this.zone.get(name);
    const base = FLAG_QR | FLAG_AA | FLAG_RA | (query.flags & FLAG_RD);
    const reply = (flags: number, answers: RecordToWrite[] = [], id = query.id): Buffer[] => [
      buildMessage({ id, flags, questions: [q], answers }),
    ];
    if (behaviour === undefined || behaviour === 'nxdomain') return reply(base | RCODE_NXDOMAIN);
    if (behaviour === 'servfail') return reply(base | RCODE_SERVFAIL);
    if (behaviour === 'timeout') return [];
    if ('rcode' in behaviour) return reply(base | (behaviour.rcode & 15));
    if ('raw' in behaviour) {
      const bytes = behaviour.raw(msg, transport);
      return bytes ? [bytes] : [];
    }
    if ('spoofFirst' in behaviour) {
      const spoof = { A: ['6.6.6.6'], TXT: ['spoofed'], PTR: ['spoofed.example'], AAAA: ['::6'] };
      return [...reply(base, this.records(q, spoof), (query.id + 1) & 0xffff), ...reply(base, this.records(q, behaviour.spoofFirst))];
    }
    let records: RecordSet = behaviour as RecordSet;
    if ('truncated' in behaviour) {
      if (transport === 'udp') return reply(base | FLAG_TC);
      records = behaviour.truncated;
    }
    return reply(base, this.records(q, records));
  }

  private records(q: { name: Buffer; type: number; class: number }, records: RecordSet): RecordToWrite[] {
    const answers: RecordToWrite[] = [];
    for (const [kind, code] of TYPE_CODES) {
      const values = records[kind];
      if (values === undefined) continue;
      if (code !== q.type && !(kind === 'CNAME' && q.class === CLASS_IN)) continue;
      for (const v of Array.isArray(values) ? values : [values]) {
        answers.push({ name: q.name, type: code, ttl: 60, data: recordData(kind, v) });
      }
    }
    return answers;
  }

  private serveTcp(sock: Socket): void {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const replies = this.answers(buf.subarray(2, 2 + len), 'tcp');
        buf = buf.subarray(2 + len);
        for (const reply of replies) {
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length, 0);
          sock.write(Buffer.concat([head, reply]));
        }
      }
    });
  }
}

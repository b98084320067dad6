// DNS messages (RFC 1035) on the wire: building queries and replies, reading replies the way
// djb's dns_packet_* functions do (any overrun or bad pointer is EPROTO).
import { DnsError } from './error';

export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_PTR = 12;
export const TYPE_TXT = 16;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_REFUSED = 5;

export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;

export interface Question {
  /** Wire-form name. */
  readonly name: Buffer;
  readonly type: number;
  readonly class: number;
}

export interface ResourceRecord {
  readonly name: Buffer;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  /** The record data as it appears in the message (names inside may be compressed). */
  readonly data: Buffer;
  /** Offset of `data` in the message, for decompressing names inside it. */
  readonly dataOffset: number;
}

export interface Message {
  readonly id: number;
  /** Header flags including the opcode and rcode bits. */
  readonly flags: number;
  readonly questions: readonly Question[];
  readonly answers: readonly ResourceRecord[];
  readonly authority: readonly ResourceRecord[];
  readonly additional: readonly ResourceRecord[];
}

export function rcodeOf(flags: number): number {
  return flags & 15;
}

function malformed(): never {
  throw new DnsError('EPROTO', 'malformed DNS message');
}

/** Read a possibly compressed name at `pos`: [wire name, offset just past it]. */
export function readName(msg: Buffer, pos: number): [Buffer, number] {
  const out: number[] = [];
  let end = -1;
  let hops = 0;
  for (;;) {
    if (pos >= msg.length) malformed();
    const n = msg[pos];
    if (n >= 192) {
      if (pos + 1 >= msg.length) malformed();
      if (end < 0) end = pos + 2;
      if (++hops > 1000) malformed();
      pos = ((n & 63) << 8) | msg[pos + 1];
      continue;
    }
    if (n >= 64) malformed();
    pos++;
    if (n === 0) break;
    if (pos + n > msg.length) malformed();
    out.push(n);
    for (let k = 0; k < n; k++) out.push(msg[pos + k]);
    if (out.length > 254) malformed();
    pos += n;
  }
  out.push(0);
  return [Buffer.from(out), end < 0 ? pos : end];
}

function readRecords(msg: Buffer, pos: number, count: number, into: ResourceRecord[]): number {
  for (let i = 0; i < count; i++) {
    const [name, p] = readName(msg, pos);
    if (p + 10 > msg.length) malformed();
    const dataLength = msg.readUInt16BE(p + 8);
    const dataOffset = p + 10;
    if (dataOffset + dataLength > msg.length) malformed();
    into.push({
      name,
      type: msg.readUInt16BE(p),
      class: msg.readUInt16BE(p + 2),
      ttl: msg.readUInt32BE(p + 4),
      data: msg.subarray(dataOffset, dataOffset + dataLength),
      dataOffset,
    });
    pos = dataOffset + dataLength;
  }
  return pos;
}

/**
 * Parse a message. By default only the header, questions and answers are read, as djb's resolver
 * does (garbage in later sections does not spoil a usable answer); `all` reads every section.
 */
export function parseMessage(msg: Buffer, all = false): Message {
  if (msg.length < 12) malformed();
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  const ns = msg.readUInt16BE(8);
  const ar = msg.readUInt16BE(10);
  let pos = 12;
  const questions: Question[] = [];
  for (let i = 0; i < qd; i++) {
    const [name, p] = readName(msg, pos);
    if (p + 4 > msg.length) malformed();
    questions.push({ name, type: msg.readUInt16BE(p), class: msg.readUInt16BE(p + 2) });
    pos = p + 4;
  }
  const answers: ResourceRecord[] = [];
  const authority: ResourceRecord[] = [];
  const additional: ResourceRecord[] = [];
  pos = readRecords(msg, pos, an, answers);
  if (all) {
    pos = readRecords(msg, pos, ns, authority);
    readRecords(msg, pos, ar, additional);
  }
  return { id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), questions, answers, authority, additional };
}

export interface RecordToWrite {
  readonly name: Buffer;
  readonly type: number;
  readonly class?: number;
  readonly ttl?: number;
  readonly data: Buffer;
}

export interface MessageToWrite {
  readonly id: number;
  readonly flags: number;
  readonly questions?: readonly Question[];
  readonly answers?: readonly RecordToWrite[];
  readonly authority?: readonly RecordToWrite[];
  readonly additional?: readonly RecordToWrite[];
}

/** Build a message (names written uncompressed). */
export function buildMessage(m: MessageToWrite): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  const questions = m.questions ?? [];
  const sections = [m.answers ?? [], m.authority ?? [], m.additional ?? []];
  header.writeUInt16BE(m.id & 0xffff, 0);
  header.writeUInt16BE(m.flags & 0xffff, 2);
  header.writeUInt16BE(questions.length, 4);
  sections.forEach((s, i) => header.writeUInt16BE(s.length, 6 + 2 * i));
  parts.push(header);
  for (const q of questions) {
    const fixed = Buffer.alloc(4);
    fixed.writeUInt16BE(q.type, 0);
    fixed.writeUInt16BE(q.class, 2);
    parts.push(q.name, fixed);
  }
  for (const section of sections) {
    for (const r of section) {
      const fixed = Buffer.alloc(10);
      fixed.writeUInt16BE(r.type, 0);
      fixed.writeUInt16BE(r.class ?? CLASS_IN, 2);
      fixed.writeUInt32BE((r.ttl ?? 0) >>> 0, 4);
      fixed.writeUInt16BE(r.data.length, 8);
      parts.push(r.name, fixed, r.data);
    }
  }
  return Buffer.concat(parts);
}

/** A recursive query for one name and type. */
export function buildQuery(id: number, name: Buffer, type: number): Buffer {
  return buildMessage({ id, flags: FLAG_RD, questions: [{ name, type, class: CLASS_IN }] });
}

/** TXT record data from strings (each at most 255 bytes, latin1). */
export function txtData(strings: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of strings) {
    const b = Buffer.from(s, 'latin1');
    if (b.length > 255) throw new RangeError('TXT string over 255 bytes');
    parts.push(Buffer.from([b.length]), b);
  }
  return Buffer.concat(parts);
}

function answersOf(msg: Buffer, type: number): Array<[ResourceRecord, Buffer]> {
  return parseMessage(msg)
    .answers.filter((r) => r.type === type && r.class === CLASS_IN)
    .map((r) => [r, msg]);
}

/** All IPv4 addresses (4-byte A data) in the answer section, in order (dns_ip4_packet). */
export function answerIp4s(msg: Buffer): Buffer[] {
  return answersOf(msg, TYPE_A)
    .filter(([r]) => r.data.length === 4)
    .map(([r]) => Buffer.from(r.data));
}

/** All IPv6 addresses (16-byte AAAA data) in the answer section, in order. */
export function answerIp6s(msg: Buffer): Buffer[] {
  return answersOf(msg, TYPE_AAAA)
    .filter(([r]) => r.data.length === 16)
    .map(([r]) => Buffer.from(r.data));
}

/** The first PTR target in the answer section (wire form), or null (dns_name_packet). */
export function answerFirstPtr(msg: Buffer): Buffer | null {
  const first = answersOf(msg, TYPE_PTR)[0];
  return first ? readName(msg, first[0].dataOffset)[0] : null;
}

/**
 * All character-strings of all TXT records in the answer section, concatenated, as raw latin1
 * (dns_txt_packet walks each record's data as length-prefixed strings).
 */
export function answerTxt(msg: Buffer): string {
  let out = '';
  for (const [r] of answersOf(msg, TYPE_TXT)) {
    let left = 0;
    for (const b of r.data) {
      if (left === 0) left = b;
      else {
        left--;
        out += String.fromCharCode(b);
      }
    }
  }
  return out;
}

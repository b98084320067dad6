// PROXY protocol version 1: one line of text, at most 107 bytes with its CRLF,
//   PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n
//   PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n
//   PROXY UNKNOWN[ anything]\r\n
// read strictly: single spaces, addresses as inet_pton reads them (no leading zeros in IPv4, no
// zone in IPv6), ports 0-65535 without leading zeros.
import { formatIp4, formatIp6, mapIp4 } from '../dns/address';
import { Inspection, invalid, more, NOT_A_HEADER, ProxyEndpoint } from './inspection';
import { ip4FromText, ip6FromText, portFromText } from './text';
import { NO_TLVS } from './tlv';

/** "PROXY UNKNOWN\r\n" */
export const V1_MIN_LENGTH = 15;
export const V1_MAX_LENGTH = 107;

const PREFIX = 'PROXY ';
const UNKNOWN = 'UNKNOWN';

type Field = 'ip4' | 'ip6' | 'port';

const DECIMAL_BYTE = /^(0|[1-9][0-9]{0,2})$/;

/** The shortest text of each field ("0.0.0.0", "::", "0"), and whether a text can begin one. */
const FIELD: Record<Field, { min: number; begins: (text: string) => boolean }> = {
  ip4: {
    min: 7,
    begins: (t) => {
      const parts = t.split('.');
      const last = parts.pop() as string;
      return (
        parts.length <= 3 &&
        parts.every((p) => DECIMAL_BYTE.test(p) && Number(p) <= 255) &&
        (last === '' || (DECIMAL_BYTE.test(last) && Number(last) <= 255))
      );
    },
  },
  ip6: { min: 2, begins: (t) => t.length <= 45 && /^[0-9a-fA-F:.]*$/.test(t) },
  port: { min: 1, begins: (t) => t === '' || (/^(0|[1-9][0-9]{0,4})$/.test(t) && Number(t) <= 65535) },
};

interface Protocol {
  /** "TCP4 " or "TCP6 ", with the space after it */
  readonly head: string;
  readonly fields: readonly Field[];
  /** the length of its shortest line */
  readonly min: number;
}

function protocol(head: string, ip: Field): Protocol {
  const fields: Field[] = [ip, ip, 'port', 'port'];
  const min = PREFIX.length + head.length + fields.reduce((n, f) => n + FIELD[f].min, 0) + 3 + 2;
  return { head, fields, min };
}

const TCP4 = protocol('TCP4 ', 'ip4');
const TCP6 = protocol('TCP6 ', 'ip6');

const BAD_LINE = 'bad line';
const TOO_LONG = 'line too long';
const BAD_PROTOCOL = 'unknown protocol';
const BAD_ADDRESS = 'bad address';
const BAD_PORT = 'bad port';

function parseField(f: Field, text: string): Buffer | number | null {
  switch (f) {
    case 'ip4':
      return ip4FromText(text);
    case 'ip6':
      return ip6FromText(text);
    case 'port':
      return portFromText(text);
  }
}

function fieldError(f: Field): string {
  return f === 'port' ? BAD_PORT : BAD_ADDRESS;
}

/** The four fields of a TCP4/TCP6 line, or why not. */
function parseFields(p: Protocol, text: string): { source: ProxyEndpoint; destination: ProxyEndpoint } | string {
  const parts = text.split(' ');
  if (parts.length !== 4) return BAD_LINE;
  const values = parts.map((part, i) => parseField(p.fields[i], part));
  const bad = values.indexOf(null);
  if (bad >= 0) return fieldError(p.fields[bad]);
  const [src, dst, sport, dport] = values as [Buffer, Buffer, number, number];
  return { source: { ip: src, port: sport }, destination: { ip: dst, port: dport } };
}

/** A whole line, '\n' included. */
function parseLine(line: string): Inspection {
  if (!line.endsWith('\r\n') || line.indexOf('\r') !== line.length - 2) return invalid(BAD_LINE);
  if (!line.startsWith(PREFIX)) return invalid(NOT_A_HEADER);
  const body = line.slice(PREFIX.length, -2);
  const done = (addresses: { source: ProxyEndpoint; destination: ProxyEndpoint } | null): Inspection => ({
    kind: 'complete',
    length: line.length,
    header: { version: 1, addresses, local: false, tlvs: NO_TLVS },
  });
  // the spec: whatever follows UNKNOWN up to the CRLF is to be ignored
  if (body === UNKNOWN || body.startsWith(UNKNOWN + ' ')) return done(null);
  const p = [TCP4, TCP6].find((q) => body.startsWith(q.head));
  if (!p) return invalid(BAD_PROTOCOL);
  const fields = parseFields(p, body.slice(p.head.length));
  return typeof fields === 'string' ? invalid(fields) : done(fields);
}

/**
 * The length of the shortest valid line that starts with `text` (which has no '\n'), or why there
 * is none. Fields seen whole are checked whole; the one being received only for its bytes.
 */
function shortestLine(text: string): number | string {
  const cr = text.indexOf('\r');
  if (cr >= 0 && cr !== text.length - 1) return BAD_LINE;
  if (text.length <= PREFIX.length) return PREFIX.startsWith(text) ? V1_MIN_LENGTH : NOT_A_HEADER;
  if (!text.startsWith(PREFIX)) return NOT_A_HEADER;
  const rest = text.slice(PREFIX.length);
  const crlf = (): number => text.length + (cr >= 0 ? 1 : 2);
  if (rest.startsWith(UNKNOWN)) {
    const after = rest.slice(UNKNOWN.length);
    return after === '' || after[0] === '\r' || after[0] === ' ' ? crlf() : BAD_PROTOCOL;
  }
  const candidates: number[] = UNKNOWN.startsWith(rest) ? [V1_MIN_LENGTH] : [];
  for (const p of [TCP4, TCP6]) {
    if (p.head.startsWith(rest)) candidates.push(p.min);
    else if (rest.startsWith(p.head)) return shortestWithFields(text, p, rest.slice(p.head.length));
  }
  return candidates.length ? Math.min(...candidates) : BAD_PROTOCOL;
}

function shortestWithFields(text: string, p: Protocol, fields: string): number | string {
  if (fields.endsWith('\r')) {
    const whole = parseFields(p, fields.slice(0, -1));
    return typeof whole === 'string' ? whole : text.length + 1;
  }
  const parts = fields.split(' ');
  if (parts.length > p.fields.length) return BAD_LINE;
  for (let i = 0; i < parts.length - 1; i++) {
    if (parseField(p.fields[i], parts[i]) === null) return fieldError(p.fields[i]);
  }
  const at = parts.length - 1;
  const last = parts[at];
  const f = FIELD[p.fields[at]];
  if (!f.begins(last)) return fieldError(p.fields[at]);
  let n = text.length + (last === '' ? f.min : 0);
  for (let j = at + 1; j < p.fields.length; j++) n += 1 + FIELD[p.fields[j]].min;
  return n + 2;
}

/** What the bytes so far (starting with 'P') make of a version 1 line. */
export function inspectV1(bytes: Buffer): Inspection {
  const text = bytes.toString('latin1', 0, Math.min(bytes.length, V1_MAX_LENGTH));
  const lf = text.indexOf('\n');
  if (lf >= 0) return parseLine(text.slice(0, lf + 1));
  if (text.length >= V1_MAX_LENGTH) return invalid(TOO_LONG);
  const shortest = shortestLine(text);
  if (typeof shortest === 'string') return invalid(shortest);
  if (shortest > V1_MAX_LENGTH) return invalid(TOO_LONG);
  return more(shortest - text.length);
}

/** A version 1 line for a connection from `source` to `destination` (TCP6 unless both are IPv4). */
export function formatV1(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const four = source.ip.length === 4 && destination.ip.length === 4;
  const text = (ip: Buffer) => (four ? formatIp4(ip) : formatIp6(ip.length === 4 ? mapIp4(ip) : ip));
  const line = `${PREFIX}${four ? 'TCP4' : 'TCP6'} ${text(source.ip)} ${text(destination.ip)} ${source.port} ${destination.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

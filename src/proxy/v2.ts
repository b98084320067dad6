// PROXY protocol version 2: a 16-byte binary head (signature, version and command, family and
// transport, length) and a block of that length: the addresses, then TLVs.
import { mapIp4 } from '../dns/address';
import { crc32c } from './crc32c';
import { Inspection, invalid, MAX_HEADER_LENGTH, more, NOT_A_HEADER, ProxyEndpoint, ProxyHeader } from './inspection';
import { NO_TLVS, parseTlvs, ProxyTlvs } from './tlv';

export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
export const V2_MIN_LENGTH = 16;

const COMMAND_LOCAL = 0;
const COMMAND_PROXY = 1;
const FAMILY_UNSPEC = 0;
const FAMILY_INET = 1;
const FAMILY_INET6 = 2;
const FAMILY_UNIX = 3;
const TRANSPORT_UNSPEC = 0;
const TRANSPORT_STREAM = 1;
const TRANSPORT_DGRAM = 2;
/** the address block's length by family: none, IPv4, IPv6, UNIX paths */
const ADDRESS_LENGTH = [0, 12, 36, 216];

function complete(header: Buffer, h: Omit<ProxyHeader, 'version'>): Inspection {
  return { kind: 'complete', length: header.length, header: { version: 2, ...h } };
}

function endpoints(block: Buffer, family: number): { source: ProxyEndpoint; destination: ProxyEndpoint } {
  const n = family === FAMILY_INET ? 4 : 16;
  const ip = (at: number) => Buffer.from(block.subarray(at, at + n));
  return {
    source: { ip: ip(0), port: block.readUInt16BE(2 * n) },
    destination: { ip: ip(n), port: block.readUInt16BE(2 * n + 2) },
  };
}

/** The TLVs after the addresses, their checksum checked over the whole header. */
function tlvsOf(header: Buffer, from: number): ProxyTlvs | string {
  const parsed = parseTlvs(header.subarray(from));
  if (typeof parsed === 'string') return parsed;
  if (parsed.crcAt !== null) {
    const at = from + parsed.crcAt;
    const zeroed = Buffer.from(header);
    zeroed.fill(0, at, at + 4);
    if (crc32c(zeroed) !== header.readUInt32BE(at)) return 'bad checksum';
  }
  return parsed.tlvs;
}

function parseV2(header: Buffer, command: number, family: number, transport: number): Inspection {
  // the spec: a LOCAL command's block, family included, is to be ignored
  if (command === COMMAND_LOCAL) return complete(header, { addresses: null, local: true, tlvs: NO_TLVS });
  if (family === FAMILY_UNSPEC || transport === TRANSPORT_UNSPEC) {
    return complete(header, { addresses: null, local: false, tlvs: NO_TLVS });
  }
  const tlvs = tlvsOf(header, V2_MIN_LENGTH + ADDRESS_LENGTH[family]);
  if (typeof tlvs === 'string') return invalid(tlvs);
  const addresses = family === FAMILY_UNIX ? null : endpoints(header.subarray(V2_MIN_LENGTH), family);
  return complete(header, { addresses, local: false, tlvs });
}

/** What the bytes so far (starting with 0x0D) make of a version 2 header. */
export function inspectV2(bytes: Buffer): Inspection {
  const signed = Math.min(bytes.length, V2_SIGNATURE.length);
  if (!bytes.subarray(0, signed).equals(V2_SIGNATURE.subarray(0, signed))) return invalid(NOT_A_HEADER);
  const command = bytes[12] & 0x0f;
  if (bytes.length > 12) {
    if (bytes[12] >> 4 !== 2) return invalid('unsupported version');
    if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return invalid('bad command');
  }
  const family = bytes[13] >> 4;
  const transport = bytes[13] & 0x0f;
  if (bytes.length > 13) {
    if (family > FAMILY_UNIX || transport > TRANSPORT_DGRAM) return invalid('bad address family');
    if (command === COMMAND_PROXY && family !== FAMILY_UNSPEC && transport === TRANSPORT_DGRAM) {
      return invalid('datagram transport not supported');
    }
  }
  if (bytes.length < V2_MIN_LENGTH) return more(V2_MIN_LENGTH - bytes.length);
  const total = V2_MIN_LENGTH + bytes.readUInt16BE(14);
  if (total > MAX_HEADER_LENGTH) return invalid('header too long');
  const proxied = command === COMMAND_PROXY && transport === TRANSPORT_STREAM;
  if (proxied && total - V2_MIN_LENGTH < ADDRESS_LENGTH[family]) return invalid('address block too short');
  if (bytes.length < total) return more(total - bytes.length);
  return parseV2(bytes.subarray(0, total), command, family, transport);
}

function head(command: number, familyTransport: number, length: number): Buffer {
  const h = Buffer.alloc(V2_MIN_LENGTH + length);
  V2_SIGNATURE.copy(h, 0);
  h[12] = 0x20 | command;
  h[13] = familyTransport;
  h.writeUInt16BE(length, 14);
  return h;
}

/** A version 2 header for a connection from `source` to `destination` (IPv6 unless both are IPv4). */
export function formatV2(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const four = source.ip.length === 4 && destination.ip.length === 4;
  const family = four ? FAMILY_INET : FAMILY_INET6;
  const n = four ? 4 : 16;
  const h = head(COMMAND_PROXY, (family << 4) | TRANSPORT_STREAM, ADDRESS_LENGTH[family]);
  const ip = (b: Buffer) => (b.length === n ? b : mapIp4(b));
  ip(source.ip).copy(h, V2_MIN_LENGTH);
  ip(destination.ip).copy(h, V2_MIN_LENGTH + n);
  h.writeUInt16BE(source.port, V2_MIN_LENGTH + 2 * n);
  h.writeUInt16BE(destination.port, V2_MIN_LENGTH + 2 * n + 2);
  return h;
}

/** A version 2 LOCAL header: the proxy's own connection (a health check), no addresses. */
export function formatV2Local(): Buffer {
  return head(COMMAND_LOCAL, 0, 0);
}

// The PROXY header parser and writers: the spec's examples (HAProxy's proxy-protocol.txt), the
// malformed headers it must refuse, and properties over random, truncated and mutated headers: it
// never throws, never asks for a byte past the end of a valid header, and accepts exactly what an
// independent reading of the spec accepts.
import * as assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { formatIp6, parseIp4, parseIp6 } from '../src/dns/address';
import { crc32c } from '../src/proxy/crc32c';
import { inspectHeader } from '../src/proxy/header';
import { Inspection, MAX_HEADER_LENGTH, ProxyEndpoint } from '../src/proxy/inspection';
import { tlvVariables } from '../src/proxy/tlv';
import { formatV1, V1_MAX_LENGTH } from '../src/proxy/v1';
import { formatV2, formatV2Local, V2_SIGNATURE } from '../src/proxy/v2';

const SEED = process.env.UCSPI_SEED ? Number(process.env.UCSPI_SEED) : 424242;
const params = (numRuns: number) => ({ seed: SEED, numRuns });

const latin1 = (s: string) => Buffer.from(s, 'latin1');

function complete(bytes: Buffer | string): Extract<Inspection, { kind: 'complete' }> {
  const i = inspectHeader(typeof bytes === 'string' ? latin1(bytes) : bytes);
  assert.equal(i.kind, 'complete', JSON.stringify(i));
  return i as Extract<Inspection, { kind: 'complete' }>;
}

function refused(bytes: Buffer | string, reason?: string): void {
  const i = inspectHeader(typeof bytes === 'string' ? latin1(bytes) : bytes);
  assert.equal(i.kind, 'invalid', `${JSON.stringify(String(bytes))}: ${JSON.stringify(i)}`);
  if (reason !== undefined) assert.equal((i as { reason: string }).reason, reason);
}

function addressesOf(i: Extract<Inspection, { kind: 'complete' }>): string {
  const a = i.header.addresses;
  if (!a) return 'none';
  const text = (e: ProxyEndpoint) => `${e.ip.length === 4 ? [...e.ip].join('.') : formatIp6(e.ip)}:${e.port}`;
  return `${text(a.source)} > ${text(a.destination)}`;
}

function v2(command: number, familyTransport: number, block: Buffer): Buffer {
  const h = Buffer.alloc(16);
  V2_SIGNATURE.copy(h);
  h[12] = 0x20 | command;
  h[13] = familyTransport;
  h.writeUInt16BE(block.length, 14);
  return Buffer.concat([h, block]);
}

function tlv(type: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? latin1(value) : value;
  const h = Buffer.alloc(3);
  h[0] = type;
  h.writeUInt16BE(v.length, 1);
  return Buffer.concat([h, v]);
}

const INET_BLOCK = Buffer.from('c0000201c633640112670019', 'hex'); // 192.0.2.1:4711 > 198.51.100.1:25

test('v1: the spec examples and its longest lines', () => {
  const ex = complete('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n');
  assert.equal(ex.length, 47);
  assert.equal(ex.header.version, 1);
  assert.equal(addressesOf(ex), '192.168.0.1:56324 > 192.168.0.11:443');
  const max4 = 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n';
  assert.equal(complete(max4).length, 56);
  const f = 'ffff:f:f:f:f:f:f:ffff'.replace(/:f:f:f:f:f:f:/, ':ffff:ffff:ffff:ffff:ffff:ffff:');
  const max6 = `PROXY TCP6 ${f} ${f} 65535 65535\r\n`;
  assert.equal(max6.length, 104);
  assert.equal(complete(max6).length, 104);
  assert.equal(complete('PROXY UNKNOWN\r\n').header.addresses, null);
  const worst = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`;
  assert.equal(worst.length, V1_MAX_LENGTH);
  assert.equal(complete(worst).length, 107);
  assert.equal(addressesOf(complete('PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 0\r\n')), '2001:db8::1:1 > ::ffff:10.0.0.1:0');
});

test('v1: malformed lines are refused, each as soon as it is certain', () => {
  refused('PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n', 'bad line');
  refused('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n', 'bad line');
  refused('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n', 'bad line');
  refused('PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n', 'bad port');
  refused('PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n', 'bad port');
  refused('PROXY TCP4 192.168.000.1 192.168.0.11 1 2\r\n', 'bad address');
  refused('PROXY TCP4 ::1 ::1 1 2\r\n', 'bad address');
  refused('PROXY TCP6 192.168.0.1 ::1 1 2\r\n', 'bad address');
  refused('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'bad address');
  refused('PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', 'unknown protocol');
  refused('PROXY UNKNOWNX\r\n', 'unknown protocol');
  refused('proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n', 'not a PROXY header');
  refused('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n', 'bad line');
  refused(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`, 'line too long');
  // early: no need to wait for the end of the line
  refused('PROXY TCP4 1.2.3.4.5', 'bad address');
  refused('PROXY TCP4 1.2.3.4 1.2.3.4 1a', 'bad port');
  refused('HELO example.org\r\n', 'not a PROXY header');
  refused('PROXY UNKNOWN\rX', 'bad line');
  refused(`PROXY UNKNOWN ${'x'.repeat(93)}`, 'line too long');
});

test('v1: how much more a partial line needs', () => {
  const need = (s: string) => {
    const i = inspectHeader(latin1(s));
    assert.equal(i.kind, 'more', s);
    return (i as { need: number }).need;
  };
  assert.equal(need(''), 15);
  assert.equal(need('P'), 14);
  assert.equal(need('PROXY '), 9); // "UNKNOWN\r\n"
  assert.equal(need('PROXY T'), 15); // TCP6 :: :: 0 0
  assert.equal(need('PROXY TCP4 '), 21); // 0.0.0.0 0.0.0.0 0 0\r\n
  assert.equal(need('PROXY TCP4 127.'), 14); // " 0.0.0.0 0 0\r\n", the address may be whole
  assert.equal(need('PROXY TCP4 127.0.0.2 127.0.0.1 456'), 4);
  assert.equal(need('PROXY TCP4 127.0.0.2 127.0.0.1 45678 7000\r'), 1);
  assert.equal(need('PROXY UNKNOWN'), 2);
  assert.equal(need('PROXY UNKNOWN junk'), 2);
});

test('v2: the spec layout, LOCAL, UNSPEC, UNIX, and what it refuses', () => {
  // HAProxy's send-proxy-v2 for 172.19.0.1:42578 > 172.19.0.3:80, data behind it
  const haproxy = Buffer.from('0d0a0d0a000d0a515549540a2111000cac130001ac130003a6520050474554202f', 'hex');
  const i = complete(haproxy);
  assert.equal(i.length, 28);
  assert.equal(addressesOf(i), '172.19.0.1:42578 > 172.19.0.3:80');
  const six = complete(
    v2(1, 0x21, Buffer.concat([parseIp6('2001:db8::7') as Buffer, parseIp6('::1') as Buffer, Buffer.from([0, 1, 0, 2])])),
  );
  assert.equal(addressesOf(six), '2001:db8::7:1 > ::1:2');
  const local = complete(v2(0, 0x11, INET_BLOCK));
  assert.equal(local.header.local, true);
  assert.equal(local.header.addresses, null);
  assert.equal(complete(v2(0, 0x00, Buffer.alloc(0))).header.local, true);
  // LOCAL with any family and any block (even a short one): the block is ignored
  assert.equal(complete(v2(0, 0x21, Buffer.alloc(3))).header.local, true);
  assert.equal(complete(v2(1, 0x00, Buffer.alloc(5))).header.addresses, null);
  assert.equal(complete(v2(1, 0x31, Buffer.alloc(216))).header.addresses, null);
  refused(v2(1, 0x12, INET_BLOCK), 'datagram transport not supported');
  refused(v2(2, 0x11, INET_BLOCK), 'bad command');
  refused(v2(1, 0x41, INET_BLOCK), 'bad address family');
  refused(v2(1, 0x13, INET_BLOCK), 'bad address family');
  refused(v2(1, 0x21, INET_BLOCK), 'address block too short');
  refused(v2(1, 0x11, INET_BLOCK.subarray(0, 11)), 'address block too short');
  const v1head = Buffer.from(v2(1, 0x11, INET_BLOCK));
  v1head[12] = 0x11;
  refused(v1head, 'unsupported version');
  refused(Buffer.concat([v2(1, 0x11, Buffer.concat([INET_BLOCK, Buffer.from([1, 0])]))]), 'bad TLV');
  refused(v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x02, 'x').subarray(0, 3)])), 'bad TLV');
  refused(v2(1, 0x11, Buffer.concat([INET_BLOCK, Buffer.alloc(MAX_HEADER_LENGTH)])), 'header too long');
  refused(Buffer.from('0d0a0d0a000d0a5155495420', 'hex'), 'not a PROXY header');
  refused(Buffer.from('0d0b', 'hex'), 'not a PROXY header');
});

test('v2: TLVs, the CRC32C check, and the variables they give', () => {
  assert.equal(crc32c(latin1('123456789')), 0xe3069283);
  const ssl = Buffer.concat([
    Buffer.from([0x01 | 0x02, 0, 0, 0, 0]),
    tlv(0x21, 'TLSv1.3'),
    tlv(0x22, 'client.example'),
    tlv(0x23, 'TLS_AES_256_GCM_SHA384'),
    tlv(0x24, 'RSA-SHA256'),
  ]);
  const tlvs = Buffer.concat([tlv(0x02, 'mail.example'), tlv(0x20, ssl), tlv(0xea, 'vpce-0123'), tlv(0x04, '')]);
  const header = v2(1, 0x11, Buffer.concat([INET_BLOCK, tlvs]));
  const i = complete(header);
  assert.deepEqual(tlvVariables(i.header.tlvs), [
    ['SSL_TLS_SNI_SERVERNAME', 'mail.example'],
    ['SSL_PROTOCOL', 'TLSv1.3'],
    ['SSL_CIPHER', 'TLS_AES_256_GCM_SHA384'],
    ['SSL_PEER_CERT_CN', 'client.example'],
  ]);
  // an unverified certificate's CN is not exported, nor a value with a NUL, nor TLS data of a plain client
  const unverified = Buffer.from(ssl);
  unverified.writeUInt32BE(1, 1);
  assert.deepEqual(
    tlvVariables(complete(v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x20, unverified)]))).header.tlvs).map(([n]) => n),
    ['SSL_PROTOCOL', 'SSL_CIPHER'],
  );
  assert.deepEqual(tlvVariables(complete(v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x02, 'a\0b')]))).header.tlvs), []);
  const plain = Buffer.from(ssl);
  plain[0] = 0;
  assert.deepEqual(tlvVariables(complete(v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x20, plain)]))).header.tlvs), []);
  refused(v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x20, Buffer.from([1, 0, 0]))])), 'bad TLV');
  refused(v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x20, Buffer.concat([ssl, Buffer.from([0x21])]))])), 'bad TLV');
  // the checksum: over the whole header with its own value zeroed
  const withCrc = v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x02, 'mail.example'), tlv(0x03, Buffer.alloc(4))]));
  withCrc.writeUInt32BE(crc32c(withCrc), withCrc.length - 4);
  assert.equal(complete(withCrc).length, withCrc.length);
  const corrupt = Buffer.from(withCrc);
  corrupt[20] ^= 1;
  refused(corrupt, 'bad checksum');
  refused(v2(1, 0x11, Buffer.concat([INET_BLOCK, tlv(0x03, Buffer.alloc(3))])), 'bad TLV');
});

test('writers: what formatV1 and formatV2 write reads back', () => {
  const a = { ip: parseIp4('203.0.113.9') as Buffer, port: 4711 };
  const b = { ip: parseIp4('10.0.0.1') as Buffer, port: 25 };
  const c = { ip: parseIp6('2001:db8::5') as Buffer, port: 993 };
  assert.equal(formatV1(a, b).toString('latin1'), 'PROXY TCP4 203.0.113.9 10.0.0.1 4711 25\r\n');
  assert.equal(formatV1(c, b).toString('latin1'), 'PROXY TCP6 2001:db8::5 ::ffff:10.0.0.1 993 25\r\n');
  assert.equal(addressesOf(complete(formatV2(a, b))), '203.0.113.9:4711 > 10.0.0.1:25');
  assert.equal(addressesOf(complete(formatV2(c, b))), '2001:db8::5:993 > ::ffff:10.0.0.1:25');
  assert.equal(complete(formatV2Local()).header.local, true);
});

// --- properties ---

const port = fc.integer({ min: 0, max: 65535 });
const ip4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b));
const ip16 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b));
const unknownJunk = fc.string({ maxLength: V1_MAX_LENGTH - 16, unit: fc.constantFrom(...' abc:.019ZQ\t\x7f\xff'.split('')) });

/** A valid v1 line, with the addresses it carries ('none' for UNKNOWN). */
const v1Line = fc.oneof(
  fc.tuple(fc.ipV4(), fc.ipV4(), port, port).map(([s, d, sp, dp]) => ({
    bytes: latin1(`PROXY TCP4 ${s} ${d} ${sp} ${dp}\r\n`),
    addresses: `${s}:${sp} > ${d}:${dp}`,
  })),
  fc.tuple(fc.ipV6(), fc.ipV6(), port, port).map(([s, d, sp, dp]) => ({
    bytes: latin1(`PROXY TCP6 ${s} ${d} ${sp} ${dp}\r\n`),
    addresses: `${formatIp6(parseIp6(s) as Buffer)}:${sp} > ${formatIp6(parseIp6(d) as Buffer)}:${dp}`,
  })),
  unknownJunk.map((j) => ({ bytes: latin1(`PROXY UNKNOWN${j === '' ? '' : ' ' + j}\r\n`), addresses: 'none' })),
);

const tlvValue = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
const someTlv = fc.oneof(
  fc.tuple(fc.constantFrom(0x01, 0x02, 0x04, 0x05, 0x30, 0xe0, 0xea, 0xf0, 0x21), tlvValue).map(([t, v]) => tlv(t, v)),
  fc
    .tuple(
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 3 }),
      fc.array(fc.tuple(fc.integer({ min: 0x21, max: 0x25 }), tlvValue), { maxLength: 4 }),
    )
    .map(([client, verify, subs]) => {
      const head = Buffer.from([client, 0, 0, 0, verify]);
      return tlv(0x20, Buffer.concat([head, ...subs.map(([t, v]) => tlv(t, v))]));
    }),
);

/** A valid v2 header, with the addresses it carries. */
const v2Header = fc.oneof(
  fc
    .tuple(fc.boolean(), ip4, ip4, ip16, ip16, port, port, fc.array(someTlv, { maxLength: 5 }), fc.boolean())
    .map(([four, s4, d4, s16, d16, sp, dp, tlvs, withCrc]) => {
      const [s, d] = four ? [s4, d4] : [s16, d16];
      const block = Buffer.alloc(four ? 12 : 36);
      s.copy(block, 0);
      d.copy(block, s.length);
      block.writeUInt16BE(sp, 2 * s.length);
      block.writeUInt16BE(dp, 2 * s.length + 2);
      const parts = [block, ...tlvs];
      if (withCrc) parts.push(tlv(0x03, Buffer.alloc(4)));
      const h = v2(1, four ? 0x11 : 0x21, Buffer.concat(parts));
      if (withCrc) h.writeUInt32BE(crc32c(h), h.length - 4);
      const text = (ip: Buffer, p: number) => `${four ? [...ip].join('.') : formatIp6(ip)}:${p}`;
      return { bytes: h, addresses: `${text(s, sp)} > ${text(d, dp)}` };
    }),
  // LOCAL: any family and transport, any block
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 }), fc.uint8Array({ maxLength: 300 }))
    .map(([family, transport, block]) => ({
      bytes: v2(0, (family << 4) | transport, Buffer.from(block)),
      addresses: 'none',
    })),
);

const validHeader = fc.oneof(v1Line, v2Header);
const data = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));

test('property: a valid header with data behind it is read whole, and never past its end', () => {
  fc.assert(
    fc.property(validHeader, data, ({ bytes, addresses }, tail) => {
      const i = complete(Buffer.concat([bytes, tail]));
      assert.equal(i.length, bytes.length);
      assert.equal(addressesOf(i), addresses);
      for (let n = 0; n < bytes.length; n++) {
        const p = inspectHeader(bytes.subarray(0, n));
        assert.equal(p.kind, 'more', `prefix ${n} of ${JSON.stringify(bytes.toString('latin1'))}: ${JSON.stringify(p)}`);
        const need = (p as { need: number }).need;
        assert.ok(need >= 1 && n + need <= bytes.length, `prefix ${n}: need ${need} of ${bytes.length}`);
      }
    }),
    params(400),
  );
});

/** The reader's loop: ask for `need`, get what the network happened to deliver (at most that). */
function readLikeTheServer(stream: Buffer, deliveries: number[]): { consumed: number; i: Inspection } {
  let have = 0;
  for (let k = 0; ; k++) {
    const i = inspectHeader(stream.subarray(0, have));
    if (i.kind !== 'more') return { consumed: have, i };
    if (have >= stream.length) return { consumed: have, i };
    const arrived = Math.max(1, Math.min(i.need, deliveries[k % deliveries.length] || i.need, stream.length - have));
    have += arrived;
  }
}

test('property: however the bytes arrive, the reader stops exactly at the end of the header', () => {
  fc.assert(
    fc.property(
      validHeader,
      data,
      fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }),
      ({ bytes }, tail, deliveries) => {
        const r = readLikeTheServer(Buffer.concat([bytes, tail]), deliveries);
        assert.equal(r.i.kind, 'complete');
        assert.equal(r.consumed, bytes.length);
      },
    ),
    params(400),
  );
});

// an independent reading of the spec, to judge mutated headers by
const V1_ORACLE =
  /^PROXY (?:UNKNOWN(?: [^\r\n]*)?|TCP4 (\S+) (\S+) (0|[1-9]\d{0,4}) (0|[1-9]\d{0,4})|TCP6 (\S+) (\S+) (0|[1-9]\d{0,4}) (0|[1-9]\d{0,4}))\r\n/;

function v1Valid(bytes: Buffer): number | null {
  const text = bytes.toString('latin1', 0, Math.min(bytes.length, V1_MAX_LENGTH));
  const m = V1_ORACLE.exec(text);
  if (!m) return null;
  const ports = [m[3], m[4], m[7], m[8]].filter((p) => p !== undefined).map(Number);
  if (ports.some((p) => p > 65535)) return null;
  if (m[1] !== undefined && !(isIPv4(m[1]) && isIPv4(m[2]))) return null;
  if (m[5] !== undefined && !(isIPv6(m[5]) && isIPv6(m[6]) && !(m[5] + m[6]).includes('%'))) return null;
  return m[0].length;
}

function v2Valid(b: Buffer): number | null {
  if (b.length < 16 || !b.subarray(0, 12).equals(V2_SIGNATURE)) return null;
  const version = b[12] >> 4,
    command = b[12] & 15,
    family = b[13] >> 4,
    transport = b[13] & 15;
  const total = 16 + b.readUInt16BE(14);
  if (version !== 2 || command > 1 || family > 3 || transport > 2 || total > MAX_HEADER_LENGTH || b.length < total) return null;
  if (command === 0) return total;
  if (family === 0 || transport === 0) return total;
  if (transport === 2) return null;
  const addressLength = [0, 12, 36, 216][family];
  if (total - 16 < addressLength) return null;
  // TLVs: whole, SSL ones with whole sub-TLVs, a 4-byte CRC32C that matches
  const walk = (from: number, to: number, top: boolean): boolean => {
    let at = from;
    while (at < to) {
      if (to - at < 3) return false;
      const len = b.readUInt16BE(at + 1);
      const end = at + 3 + len;
      if (end > to) return false;
      if (top && b[at] === 0x20 && (len < 5 || !walk(at + 8, end, false))) return false;
      if (top && b[at] === 0x03) {
        if (len !== 4) return false;
        const z = Buffer.from(b.subarray(0, total));
        z.fill(0, at + 3, at + 7);
        if (crc32c(z) !== b.readUInt32BE(at + 3)) return false;
      }
      at = end;
    }
    return true;
  };
  return walk(16 + addressLength, total, true) ? total : null;
}

const mutated = fc
  .tuple(
    validHeader,
    data,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), {
      minLength: 1,
      maxLength: 3,
    }),
  )
  .map(([{ bytes }, tail, edits]) => {
    const b = [...Buffer.concat([bytes, tail])];
    for (const [at, value, how] of edits) {
      const k = at % (b.length + 1);
      if (how === 'set' && k < b.length) b[k] = value;
      else if (how === 'insert') b.splice(k, 0, value);
      else b.splice(k, 1);
    }
    return Buffer.from(b);
  });

test('property: random and mutated bytes: never a throw, and complete exactly when the spec says valid', () => {
  const judge = (b: Buffer) => {
    const i = inspectHeader(b);
    const expected = b.length === 0 ? null : b[0] === 0x50 ? v1Valid(b) : b[0] === 0x0d ? v2Valid(b) : null;
    if (i.kind === 'complete') {
      assert.equal(i.length, expected, `accepted ${b.toString('hex')}`);
    } else {
      assert.equal(expected, null, `refused or waiting on a valid header ${b.toString('hex')}: ${JSON.stringify(i)}`);
      if (i.kind === 'more') assert.ok(i.need >= 1);
    }
  };
  fc.assert(fc.property(mutated, judge), params(3000));
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)),
      judge,
    ),
    params(1000),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 60 }), (a) => judge(Buffer.concat([latin1('PROXY '), Buffer.from(a)]))),
    params(1000),
  );
});

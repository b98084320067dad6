// The type-length-value fields after a v2 header's addresses: the ones a program can use become
// variables under s6-networking's proxy-server names, the checksum is checked, the rest is ignored.
export interface ProxySsl {
  /** PP2_CLIENT_* bits: 1 the client used TLS, 2 it sent a certificate on this connection, 4 in its session */
  readonly client: number;
  /** 0 when the client's certificate was presented and verified */
  readonly verify: number;
  readonly version?: Buffer;
  readonly cn?: Buffer;
  readonly cipher?: Buffer;
  readonly sigAlg?: Buffer;
  readonly keyAlg?: Buffer;
}

export interface ProxyTlvs {
  readonly alpn?: Buffer;
  /** the host name the client asked for (TLS SNI or Host) */
  readonly authority?: Buffer;
  readonly uniqueId?: Buffer;
  readonly ssl?: ProxySsl;
  readonly netns?: Buffer;
}

export const NO_TLVS: ProxyTlvs = {};

export const PP2_TYPE_ALPN = 0x01;
export const PP2_TYPE_AUTHORITY = 0x02;
export const PP2_TYPE_CRC32C = 0x03;
export const PP2_TYPE_UNIQUE_ID = 0x05;
export const PP2_TYPE_SSL = 0x20;
export const PP2_SUBTYPE_SSL_VERSION = 0x21;
export const PP2_SUBTYPE_SSL_CN = 0x22;
export const PP2_SUBTYPE_SSL_CIPHER = 0x23;
export const PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
export const PP2_SUBTYPE_SSL_KEY_ALG = 0x25;
export const PP2_TYPE_NETNS = 0x30;

export const PP2_CLIENT_SSL = 0x01;
export const PP2_CLIENT_CERT_CONN = 0x02;
export const PP2_CLIENT_CERT_SESS = 0x04;

const BAD_TLV = 'bad TLV';

/** Each [type, value] of a TLV block, or null when the block is not a sequence of whole TLVs. */
function splitTlvs(block: Buffer): Array<[number, Buffer, number]> | null {
  const out: Array<[number, Buffer, number]> = [];
  let at = 0;
  while (at < block.length) {
    if (block.length - at < 3) return null;
    const len = block.readUInt16BE(at + 1);
    if (at + 3 + len > block.length) return null;
    out.push([block[at], block.subarray(at + 3, at + 3 + len), at + 3]);
    at += 3 + len;
  }
  return out;
}

function parseSsl(value: Buffer): ProxySsl | null {
  if (value.length < 5) return null;
  const subs = splitTlvs(value.subarray(5));
  if (!subs) return null;
  const ssl: { -readonly [K in keyof ProxySsl]: ProxySsl[K] } = { client: value[0], verify: value.readUInt32BE(1) };
  for (const [type, v] of subs) {
    if (type === PP2_SUBTYPE_SSL_VERSION) ssl.version = v;
    else if (type === PP2_SUBTYPE_SSL_CN) ssl.cn = v;
    else if (type === PP2_SUBTYPE_SSL_CIPHER) ssl.cipher = v;
    else if (type === PP2_SUBTYPE_SSL_SIG_ALG) ssl.sigAlg = v;
    else if (type === PP2_SUBTYPE_SSL_KEY_ALG) ssl.keyAlg = v;
  }
  return ssl;
}

/**
 * The TLVs of a block, and where in it the value of a CRC32C TLV is (for the caller to check over
 * the whole header); or why the block is malformed.
 */
export function parseTlvs(block: Buffer): { tlvs: ProxyTlvs; crcAt: number | null } | string {
  const all = splitTlvs(block);
  if (!all) return BAD_TLV;
  const tlvs: { -readonly [K in keyof ProxyTlvs]: ProxyTlvs[K] } = {};
  let crcAt: number | null = null;
  for (const [type, value, at] of all) {
    switch (type) {
      case PP2_TYPE_ALPN:
        tlvs.alpn = value;
        break;
      case PP2_TYPE_AUTHORITY:
        tlvs.authority = value;
        break;
      case PP2_TYPE_UNIQUE_ID:
        tlvs.uniqueId = value;
        break;
      case PP2_TYPE_NETNS:
        tlvs.netns = value;
        break;
      case PP2_TYPE_CRC32C:
        if (value.length !== 4) return BAD_TLV;
        crcAt = at;
        break;
      case PP2_TYPE_SSL: {
        const ssl = parseSsl(value);
        if (!ssl) return BAD_TLV;
        tlvs.ssl = ssl;
        break;
      }
    }
  }
  return { tlvs, crcAt };
}

/**
 * The variables a program gets from the TLVs, as s6-networking's proxy-server names them. The TLS
 * ones only for a client that used TLS, and the certificate's CN only when the proxy verified the
 * certificate (s6 exports it regardless). A value holding a NUL byte is not exported.
 */
export function tlvVariables(t: ProxyTlvs): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const put = (name: string, value: Buffer | undefined) => {
    if (value !== undefined && !value.includes(0)) out.push([name, value.toString('latin1')]);
  };
  put('SSL_TLS_SNI_SERVERNAME', t.authority);
  const ssl = t.ssl;
  if (ssl && ssl.client & PP2_CLIENT_SSL) {
    put('SSL_PROTOCOL', ssl.version);
    put('SSL_CIPHER', ssl.cipher);
    if (ssl.verify === 0 && ssl.client & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS)) put('SSL_PEER_CERT_CN', ssl.cn);
  }
  return out;
}

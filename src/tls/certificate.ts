// A certificate as ucspi-ssl's mod_ssl-style variables (SSL_SERVER_* or SSL_CLIENT_*), in its order:
// M_VERSION, M_SERIAL, S_DN and its parts, I_DN and its parts, A_SIG, A_KEY, V_START, V_END, CERT,
// CERT_CHAIN_n. Names are printed as OpenSSL's X509_NAME_oneline prints them (/C=DE/O=.../CN=...).
import type { X509Certificate } from 'node:crypto';
import { children, oidText, readTlv, TAG, Tlv } from './der';

/** [name, value] pairs in the order they are set; a name may repeat (the last one wins). */
export type Variables = Array<readonly [string, string]>;

// OpenSSL's short names (OBJ_nid2sn) for the attributes of distinguished names
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
};

// the parts of a name ucspi-ssl exports, in its order: SSL_x_S_DN_<part>
const NAME_PARTS: ReadonlyArray<readonly [string, string]> = [
  ['C', '2.5.4.6'],
  ['ST', '2.5.4.8'],
  ['L', '2.5.4.7'],
  ['O', '2.5.4.10'],
  ['OU', '2.5.4.11'],
  ['CN', '2.5.4.3'],
  ['T', '2.5.4.12'],
  ['I', '2.5.4.43'],
  ['G', '2.5.4.42'],
  ['S', '2.5.4.4'],
  ['D', '2.5.4.13'],
  ['UID', '2.5.4.45'],
  ['Email', '1.2.840.113549.1.9.1'],
];

// OpenSSL's long names (OBJ_nid2ln) for signature and key algorithms
const ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.1': 'rsaEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.10045.2.1': 'id-ecPublicKey',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.10040.4.1': 'dsaEncryption',
  '1.2.840.10040.4.3': 'dsaWithSHA1',
  '2.16.840.1.101.3.4.3.2': 'dsa_with_SHA256',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
};

interface NameEntry {
  readonly oid: string;
  /** the value's bytes, as latin1 */
  readonly bytes: string;
}

interface CertificateFields {
  readonly version: number;
  readonly signatureOid: string;
  readonly issuer: NameEntry[];
  readonly subject: NameEntry[];
  readonly keyOid: string;
}

function nameEntries(name: Tlv): NameEntry[] {
  const out: NameEntry[] = [];
  for (const rdn of children(name.value)) {
    for (const atv of children(rdn.value)) {
      const [type, value] = children(atv.value);
      out.push({ oid: oidText(type.value), bytes: value.value.toString('latin1') });
    }
  }
  return out;
}

function algorithmOid(identifier: Tlv): string {
  return oidText(children(identifier.value)[0].value);
}

/** The fields of a certificate's DER that Node's X509Certificate does not give. */
export function certificateFields(der: Buffer): CertificateFields {
  const cert = readTlv(der);
  const tbs = children(children(cert.value)[0].value);
  let i = 0;
  let version = 1;
  if (tbs[0].tag === TAG.CONTEXT_0) {
    version = readTlv(tbs[0].value).value.readUIntBE(0, 1) + 1;
    i = 1;
  }
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
  const [, signature, issuer, , subject, spki] = tbs.slice(i);
  return {
    version,
    signatureOid: algorithmOid(signature),
    issuer: nameEntries(issuer),
    subject: nameEntries(subject),
    keyOid: algorithmOid(children(spki.value)[0]),
  };
}

/** X509_NAME_oneline: `/SN=value` per entry, bytes outside ' '..'~' as `\xHH`. */
export function onelineName(entries: readonly NameEntry[]): string {
  let out = '';
  for (const e of entries) {
    out += `/${SHORT_NAMES[e.oid] ?? e.oid}=`;
    for (let j = 0; j < e.bytes.length; j++) {
      const b = e.bytes.charCodeAt(j);
      out += b < 0x20 || b > 0x7e ? `\\x${b.toString(16).toUpperCase().padStart(2, '0')}` : e.bytes[j];
    }
  }
  return out;
}

/** A value as a C string: cut at the first NUL, as the original's environment is. */
function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

function nameVariables(prefix: string, entries: readonly NameEntry[], vars: Variables): void {
  vars.push([prefix, onelineName(entries)]);
  for (const [part, oid] of NAME_PARTS) {
    for (const e of entries) if (e.oid === oid) vars.push([`${prefix}_${part}`, cString(e.bytes)]);
  }
}

/**
 * The variables of a certificate under `prefix` (SSL_SERVER or SSL_CLIENT), with the chain that came
 * with it (SSL_x_CERT_CHAIN_0 ...).
 */
export function certificateVariables(prefix: string, cert: X509Certificate, chain: readonly X509Certificate[] = []): Variables {
  const vars: Variables = [];
  const f = certificateFields(cert.raw);
  vars.push([`${prefix}_M_VERSION`, String(f.version)]);
  vars.push([`${prefix}_M_SERIAL`, BigInt(`0x${cert.serialNumber}`).toString()]);
  nameVariables(`${prefix}_S_DN`, f.subject, vars);
  nameVariables(`${prefix}_I_DN`, f.issuer, vars);
  vars.push([`${prefix}_A_SIG`, ALGORITHMS[f.signatureOid] ?? 'UNKNOWN']);
  vars.push([`${prefix}_A_KEY`, ALGORITHMS[f.keyOid] ?? 'UNKNOWN']);
  vars.push([`${prefix}_V_START`, cert.validFrom]);
  vars.push([`${prefix}_V_END`, cert.validTo]);
  vars.push([`${prefix}_CERT`, cert.toString()]);
  chain.forEach((c, n) => vars.push([`${prefix}_CERT_CHAIN_${n}`, c.toString()]));
  return vars;
}

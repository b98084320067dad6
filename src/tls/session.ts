// The mod_ssl-style environment of a TLS session (`sslserver -s`, `sslclient -s`), as ucspi-ssl sets
// it: the session (SSL_PROTOCOL, SSL_SESSION_ID, SSL_CIPHER, SSL_CIPHER_EXPORT/USEKEYSIZE/ALGKEYSIZE,
// SSL_VERSION_INTERFACE/LIBRARY), then this side's certificate, then the peer's with its chain; a
// server's ends with the name the client asked for by SNI.
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { certificateVariables, Variables } from './certificate';
import { children, readTlv, TAG } from './der';

/** OpenSSL's SSL_CIPHER_get_bits for a cipher name: [bits used, bits of the algorithm]. */
export function cipherBits(name: string): [number, number] {
  const n = name.toUpperCase();
  if (/(^|[-_])NULL([-_]|$)/.test(n)) return [0, 0];
  if (/DES-CBC3|3DES|DES_EDE/.test(n)) return [112, 168];
  const sized = /(?:AES|CAMELLIA|ARIA)[-_]?(128|256)/.exec(n);
  if (sized) return [Number(sized[1]), Number(sized[1])];
  if (/CHACHA20/.test(n)) return [256, 256];
  if (/RC4|IDEA|SEED/.test(n)) return [128, 128];
  return [0, 0];
}

/** The session id, from the DER of the session (SSL_SESSION_ASN1: version, ssl version, cipher, id ...). */
export function sessionIdHex(session: Buffer | undefined): string {
  if (!session) return '';
  try {
    const fields = children(readTlv(session).value);
    const id = fields[3];
    return id && id.tag === TAG.OCTET_STRING ? id.value.toString('hex') : '';
  } catch {
    return '';
  }
}

export const VERSION_INTERFACE = 'ucspi-ssl';
/** What the library says of itself: Node's own OpenSSL. */
export const VERSION_LIBRARY = `OpenSSL ${process.versions.openssl}`;

function sessionVariables(tls: TLSSocket): Variables {
  const cipher = tls.getCipher()?.name ?? '';
  const [use, alg] = cipherBits(cipher);
  return [
    ['SSL_PROTOCOL', tls.getProtocol() ?? ''],
    ['SSL_SESSION_ID', sessionIdHex(tls.getSession())],
    ['SSL_CIPHER', cipher],
    ['SSL_CIPHER_EXPORT', use < 56 ? 'true' : 'false'],
    ['SSL_CIPHER_USEKEYSIZE', String(use)],
    ['SSL_CIPHER_ALGKEYSIZE', String(alg)],
    ['SSL_VERSION_INTERFACE', VERSION_INTERFACE],
    ['SSL_VERSION_LIBRARY', VERSION_LIBRARY],
  ];
}

const peerChains = new WeakMap<TLSSocket, X509Certificate[]>();

/**
 * The peer's certificates beyond its own as Node has them (the chain it sent, completed from our
 * trust store), the self-signed root left out: a server's own chain has no root either. Read once
 * per session: on a server, Node gives the issuers only on the first asking.
 */
export function peerChain(tls: TLSSocket): X509Certificate[] {
  let chain = peerChains.get(tls);
  if (!chain) peerChains.set(tls, (chain = readPeerChain(tls)));
  return [...chain];
}

function readPeerChain(tls: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let cert = tls.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    const next = cert.issuerCertificate;
    if (!next || next === cert || next.fingerprint256 === cert.fingerprint256) break;
    chain.push(new X509Certificate(next.raw));
    cert = next;
  }
  return chain.filter((c) => c.subject !== c.issuer);
}

/**
 * The variables of a session: `self` is SERVER or CLIENT, the side `tls` is. The peer's chain
 * follows OpenSSL's view: a server sees the client's chain without its certificate, a client sees
 * the server's with it (SSL_SERVER_CERT_CHAIN_0 is the server's own certificate).
 */
export function sessionEnvironment(tls: TLSSocket, self: 'SERVER' | 'CLIENT'): Variables {
  const vars = sessionVariables(tls);
  const own = tls.getX509Certificate();
  if (own) vars.push(...certificateVariables(`SSL_${self}`, own));
  const peer = tls.getPeerX509Certificate();
  if (peer) {
    const chain = peerChain(tls);
    if (self === 'CLIENT') chain.unshift(peer);
    vars.push(...certificateVariables(`SSL_${self === 'SERVER' ? 'CLIENT' : 'SERVER'}`, peer, chain));
  }
  // the name the client asked for (SNI), as s6-networking and mod_ssl name it; not in ucspi-ssl
  const servername = (tls as TLSSocket & { servername?: string | false }).servername;
  if (self === 'SERVER' && servername) vars.push(['SSL_TLS_SNI_SERVERNAME', servername]);
  return vars;
}

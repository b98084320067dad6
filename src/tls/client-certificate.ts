// sslserver's check of a client's certificate after the handshake (-m, -z), as ucspi-ssl 0.95b makes
// it: there must be one, it must verify against CAFILE/CADIR with at most VERIFYDEPTH intermediates,
// and with -z, when the client's host name is known, one of its DNS names (its common name when it
// has none) must be that name, compared without case and without wildcards.
import type { TLSSocket } from 'node:tls';
import { clientNameMismatch, NO_CLIENT_CERTIFICATE, UNVERIFIED_CLIENT } from './messages';
import { peerChain } from './session';

/** -Z none, -m a valid client certificate, -z one that also names the client's host. */
export type ClientCertificates = 'none' | 'mail' | 'host';

export interface ClientCheck {
  readonly mode: ClientCertificates;
  /** VERIFYDEPTH: intermediate certificates allowed between the client's and a trusted one */
  readonly verifyDepth: number;
  /** CAFILE or CADIR gave something to trust (without them no client certificate verifies) */
  readonly trusting: boolean;
}

/** The DNS names of a certificate's subjectAltName as Node prints it (`DNS:a, DNS:b, IP Address:...`). */
export function dnsNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
}

/** ucspi-ssl's ssl_verify name test: any DNS name, else the (first) common name, equal but for case. */
export function certificateNamesHost(cert: { subjectaltname?: string; subject?: { CN?: string | string[] } }, host: string): boolean {
  const want = host.toLowerCase();
  const names = dnsNames(cert.subjectaltname);
  if (names.length > 0) return names.some((n) => n.toLowerCase() === want);
  const cn = cert.subject?.CN;
  const first = Array.isArray(cn) ? cn[0] : cn;
  return first !== undefined && first.toLowerCase() === want;
}

/** OpenSSL's verdict on the peer's chain (Node computes it only for sockets a tls.Server made). */
function verifyError(tls: TLSSocket): Error | null {
  const handle = (tls as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return new Error('no verdict');
  return handle.verifyError();
}

/**
 * What is wrong with the client's certificate for `check`, or null. `host`: the name its certificate
 * must carry with -z (null: no name known, so none is asked for, as in ucspi-ssl).
 */
export function clientCertificateProblem(tls: TLSSocket, check: ClientCheck, host: string | null): string | null {
  if (check.mode === 'none') return null;
  const cert = tls.getPeerCertificate();
  if (!cert || !cert.raw) return NO_CLIENT_CERTIFICATE;
  if (!check.trusting || verifyError(tls) !== null || peerChain(tls).length > check.verifyDepth) return UNVERIFIED_CLIENT;
  if (check.mode === 'host' && host !== null && !certificateNamesHost(cert, host)) return clientNameMismatch(host);
  return null;
}

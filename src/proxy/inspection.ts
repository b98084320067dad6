// What a PROXY header says, and what the bytes received so far make of one. A header is inspected
// as it arrives: either it is complete, or it cannot be the start of any valid header, or at least
// `need` more bytes are due. `need` is a lower bound over every valid header that starts with the
// bytes so far, so a reader that asks for no more than `need` bytes at a time never reads past the
// header into the data behind it.
import type { ProxyTlvs } from './tlv';

/** An address as the header gives it: 4 bytes (IPv4) or 16 (IPv6), and a port. */
export interface ProxyEndpoint {
  readonly ip: Buffer;
  readonly port: number;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * The addresses of the proxied connection, or null when the connection's own endpoints stand:
   * a v2 LOCAL command (the proxy's health checks), v1 UNKNOWN, v2 UNSPEC and UNIX families.
   */
  readonly addresses: { readonly source: ProxyEndpoint; readonly destination: ProxyEndpoint } | null;
  /** v2 LOCAL: the proxy speaking for itself. */
  readonly local: boolean;
  /** What v2 said beyond the addresses (empty for v1, LOCAL and unknown families). */
  readonly tlvs: ProxyTlvs;
}

export type Inspection =
  | { readonly kind: 'more'; readonly need: number }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'complete'; readonly length: number; readonly header: ProxyHeader };

/** The longest header accepted (a v2 header with its TLVs; v1 lines are at most 107 bytes). */
export const MAX_HEADER_LENGTH = 4096;

export function more(need: number): Inspection {
  return { kind: 'more', need };
}

export function invalid(reason: string): Inspection {
  return { kind: 'invalid', reason };
}

export const NOT_A_HEADER = 'not a PROXY header';

// The PROXY protocol header (HAProxy's proxy-protocol.txt), versions 1 (text) and 2 (binary), told
// apart by their first byte.
import { Inspection, invalid, more, NOT_A_HEADER } from './inspection';
import { inspectV1, V1_MIN_LENGTH } from './v1';
import { inspectV2, V2_MIN_LENGTH } from './v2';

const V1_FIRST = 0x50; // 'P'
const V2_FIRST = 0x0d;

/** What the bytes received so far make of a header (never throws). */
export function inspectHeader(bytes: Buffer): Inspection {
  if (bytes.length === 0) return more(Math.min(V1_MIN_LENGTH, V2_MIN_LENGTH));
  if (bytes[0] === V1_FIRST) return inspectV1(bytes);
  if (bytes[0] === V2_FIRST) return inspectV2(bytes);
  return invalid(NOT_A_HEADER);
}

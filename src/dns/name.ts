// Domain names: dotted text (latin1 byte strings) to wire form and back, as djb's
// dns_domain_fromdot and dns_domain_todot_cat do.
import { DnsError } from './error';

const MAX_LABEL = 63;
const MAX_NAME = 255;

function isOctal(c: number): boolean {
  return c >= 0x30 && c <= 0x37;
}

/**
 * Dotted text to wire form. Empty labels are skipped, `\ooo` (1–3 octal digits) and `\c` escapes
 * are understood; a label over 63 bytes or a name over 255 bytes is EPROTO, as in djb's resolver.
 */
export function nameFromDot(text: string): Buffer {
  const out = Buffer.alloc(MAX_NAME);
  let len = 0;
  let label: number[] = [];
  const closeLabel = (): void => {
    if (label.length === 0) return;
    if (len + label.length + 1 > MAX_NAME) throw new DnsError('EPROTO', 'name too long');
    out[len++] = label.length;
    for (const b of label) out[len++] = b;
    label = [];
  };
  for (let i = 0; i < text.length; ) {
    let ch = text.charCodeAt(i++) & 255;
    if (ch === 0x2e) {
      closeLabel();
      continue;
    }
    if (ch === 0x5c) {
      if (i >= text.length) break;
      ch = text.charCodeAt(i++) & 255;
      if (isOctal(ch)) {
        ch -= 0x30;
        for (let k = 0; k < 2 && i < text.length && isOctal(text.charCodeAt(i)); k++) {
          ch = ((ch << 3) + text.charCodeAt(i++) - 0x30) & 255;
        }
      }
    }
    if (label.length >= MAX_LABEL) throw new DnsError('EPROTO', 'label too long');
    label.push(ch);
  }
  closeLabel();
  if (len + 1 > MAX_NAME) throw new DnsError('EPROTO', 'name too long');
  out[len++] = 0;
  return Buffer.from(out.subarray(0, len));
}

/**
 * Wire form to dotted text: labels joined by `.`, no trailing dot, A-Z lowered, bytes other than
 * a-z 0-9 - _ as `\ooo`; the root is `.`.
 */
export function nameToDot(wire: Buffer): string {
  if (wire.length === 0 || wire[0] === 0) return '.';
  let out = '';
  let pos = 0;
  for (;;) {
    const n = wire[pos++];
    for (let k = 0; k < n; k++) {
      let c = wire[pos++];
      if (c >= 0x41 && c <= 0x5a) c += 32;
      if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) {
        out += String.fromCharCode(c);
      } else {
        out += '\\' + (c >> 6).toString() + ((c >> 3) & 7).toString() + (c & 7).toString();
      }
    }
    if (pos >= wire.length || wire[pos] === 0) return out;
    out += '.';
  }
}

function lowerByte(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

/** Wire names equal ignoring ASCII case (dns_domain_equal). */
export function namesEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (lowerByte(a[i]) !== lowerByte(b[i])) return false;
  return true;
}

// djb's scan_ulong: as many leading ASCII digits as there are, the rest ignored; no digits is 0.
// unsigned long on the C side is 64 bits and wraps silently.

const TWO32 = 2 ** 32;

/**
 * scan_ulong over `length` characters read by `at`: the value kept as two 32-bit halves, so that
 * any number of digits costs linear time (a BigInt of a million digits takes a tenth of a second,
 * of 64 million minutes).
 */
function scanDigits(length: number, at: (i: number) => number): { value: bigint; length: number } {
  let hi = 0;
  let lo = 0;
  let i = 0;
  for (; i < length; i++) {
    const d = at(i) - 48;
    if (d < 0 || d > 9) break;
    lo = lo * 10 + d;
    const carry = Math.floor(lo / TWO32);
    lo -= carry * TWO32;
    hi = (hi * 10 + carry) % TWO32;
  }
  return { value: (BigInt(hi) << 32n) | BigInt(lo), length: i };
}

/** Value of the leading decimal digits of s, modulo 2^64 like C's unsigned long. */
export function scanUlong(s: string): { value: bigint; length: number } {
  return scanDigits(s.length, (i) => s.charCodeAt(i));
}

/** scanUlong over bytes[start, end). */
export function scanUlongBytes(bytes: Uint8Array, start: number, end: number): { value: bigint; length: number } {
  return scanDigits(end - start, (i) => bytes[start + i]);
}

/** scan_ulong result as a JS number, truncated to `bits` (32 for unsigned int, 16 for ports). */
export function scanNumber(s: string, bits = 64): number {
  const { value } = scanUlong(s);
  return Number(bits >= 64 ? value : value & ((1n << BigInt(bits)) - 1n));
}

/** true if every character of s is an ASCII digit (the empty string counts, as in 0.88's port operand). */
export function allDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

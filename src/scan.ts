// djb's scan_ulong: as many leading ASCII digits as there are, the rest ignored; no digits is 0.
// unsigned long on the C side is 64 bits and wraps silently.

const TWO64 = 1n << 64n;

/** Value of the leading decimal digits of s, modulo 2^64 like C's unsigned long. */
export function scanUlong(s: string): { value: bigint; length: number } {
  let i = 0;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === 0) return { value: 0n, length: 0 };
  return { value: BigInt(s.slice(0, i)) % TWO64, length: i };
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

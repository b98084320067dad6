/** djb's cdb hash: h = 5381; h = ((h << 5) + h) ^ byte, 32-bit unsigned; over key[start, end). */
export function cdbHash(key: Uint8Array, start = 0, end = key.length): number {
  let h = 5381;
  for (let i = start; i < end; i++) h = (((h << 5) + h) ^ key[i]) >>> 0;
  return h;
}

/** cdbHash of a byte string held as a latin1 JS string (one char per byte). */
export function cdbHashLatin1(key: string): number {
  let h = 5381;
  for (let i = 0; i < key.length; i++) h = (((h << 5) + h) ^ key.charCodeAt(i)) >>> 0;
  return h;
}

/** cdbHash of every prefix of a key: element i is the hash of key[0, i), for i = 0..key.length. */
export function cdbHashPrefixes(key: Uint8Array): Uint32Array {
  const hashes = new Uint32Array(key.length + 1);
  let h = 5381;
  hashes[0] = h;
  for (let i = 0; i < key.length; i++) hashes[i + 1] = h = (((h << 5) + h) ^ key[i]) >>> 0;
  return hashes;
}

/** djb's cdb hash: h = 5381; h = ((h << 5) + h) ^ byte, 32-bit unsigned. */
export function cdbHash(key: Uint8Array): number {
  let h = 5381;
  for (let i = 0; i < key.length; i++) h = (((h << 5) + h) ^ key[i]) >>> 0;
  return h;
}

/**
 * Opaque IDs for users, groups, devices and media: a prefix and 20 base-32 characters drawn
 * from the Random port (100 bits), so they are unguessable and need no coordination.
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** `draw` returns an integer in [0, 2^32); the caller passes its Random port's. */
export function opaqueId(prefix: string, draw: () => number): string {
  let out = prefix;
  for (let i = 0; i < 4; i++) {
    let word = draw() >>> 0;
    for (let j = 0; j < 5; j++) {
      out += ALPHABET[word & 31];
      word >>>= 5;
    }
  }
  return out;
}

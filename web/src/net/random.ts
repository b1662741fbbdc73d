/**
 * The page's randomness, from crypto.getRandomValues, which (unlike crypto.randomUUID)
 * also exists when the page is served over plain http from a non-local host.
 */

/** A uniform number in [0, 1), for the client core's backoff jitter. */
export function randomUnit(): number {
  const word = new Uint32Array(1);
  crypto.getRandomValues(word);
  return word[0]! / 2 ** 32;
}

/** A version-4 UUID, for client_msg_id and device IDs. */
export function uuidV4(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

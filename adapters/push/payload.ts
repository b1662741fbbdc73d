/**
 * Fitting a notification into a provider's size limit: the preview is the only part that
 * may shrink. `encode` renders the whole payload for a given preview; fitPreview answers the
 * payload with the longest preview prefix (ending in "…") that fits `bytes_max`, the payload
 * without preview when not even "…" fits, or null when nothing fits.
 */
const ELLIPSIS = "…";

export function fitPreview(encode: (preview: string | null) => string, preview: string | null, bytes_max: number): string | null {
  const size = (text: string): number => Buffer.byteLength(text, "utf8");
  const whole = encode(preview);
  if (size(whole) <= bytes_max) return whole;
  if (preview === null || size(encode(ELLIPSIS)) > bytes_max) {
    const bare = encode(null);
    return size(bare) <= bytes_max ? bare : null;
  }
  // Binary search over code points: JSON escaping makes a character's cost depend on what it
  // is, but a longer prefix never costs less. Surrogate pairs are never split.
  const points = [...preview];
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (size(encode(points.slice(0, middle).join("") + ELLIPSIS)) <= bytes_max) low = middle;
    else high = middle - 1;
  }
  return encode(points.slice(0, low).join("") + ELLIPSIS);
}

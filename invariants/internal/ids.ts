/**
 * Message IDs are 19-digit zero-padded decimal strings, so string order is numeric order.
 * The comparison puts length first so that a malformed (shorter or longer) ID still sorts
 * numerically instead of silently comparing as text.
 */

/** Negative, zero or positive as `a` is before, equal to or after `b` in message_id order. */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The later of two IDs, treating undefined as "none yet". */
export function maxId(a: string | undefined, b: string): string {
  return a === undefined || compareIds(b, a) > 0 ? b : a;
}

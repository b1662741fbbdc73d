/**
 * Half-open time spans [start, end) and the two questions the checkers ask of a set of them:
 * was someone inside for the whole of a window, and was someone inside at any moment of it.
 * Spans are merged and sorted once, so both answers are a binary search.
 */

export type Span = { readonly start: number; readonly end: number };

/** Sorts and merges overlapping or touching spans; drops empty ones. */
export function mergeSpans(spans: readonly Span[]): Span[] {
  const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number }[] = [];
  for (const s of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else merged.push({ start: s.start, end: s.end });
  }
  return merged;
}

/** The last merged span that starts at or before `t`, or undefined. */
function lastStartingBy(merged: readonly Span[], t: number): Span | undefined {
  let low = 0;
  let high = merged.length - 1;
  let found: Span | undefined;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const span = merged[middle];
    if (span === undefined) break;
    if (span.start <= t) {
      found = span;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

/** Inside for all of [low, high] (one merged span covers it; `end` is exclusive). */
export function coversWindow(merged: readonly Span[], low: number, high: number): boolean {
  const span = lastStartingBy(merged, low);
  return span !== undefined && (span.end === Infinity || span.end > high);
}

/** Inside at some moment of [low, high]. Merged spans are disjoint, so the last one starting by `high` decides. */
export function touchesWindow(merged: readonly Span[], low: number, high: number): boolean {
  const span = lastStartingBy(merged, high);
  return span !== undefined && (span.end === Infinity || span.end > low);
}

/** When the last merged span starting by `t` ended (Infinity if still open), or undefined. */
export function lastEndBy(merged: readonly Span[], t: number): number | undefined {
  return lastStartingBy(merged, t)?.end;
}

/**
 * Sorted arrays of strings, searched by bisection: the index structure of the pending core.
 * Message IDs are 19-digit zero-padded decimals, so `<` on strings is numeric order; the
 * same functions order conversation IDs, for which any total order serves.
 * Appending at the end is the common case (IDs grow over time) and costs O(1).
 */

/** The first index whose element is >= `value` (the length if none). */
export function lowerBound(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as string) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The first index whose element is > `value` (the length if none). */
export function upperBound(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as string) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

export function sortedHas(sorted: readonly string[], value: string): boolean {
  return sorted[lowerBound(sorted, value)] === value;
}

/** Inserts `value` in order; false (and no change) when it is already there. */
export function sortedInsert(sorted: string[], value: string): boolean {
  const last = sorted[sorted.length - 1];
  if (last === undefined || last < value) {
    sorted.push(value);
    return true;
  }
  const index = lowerBound(sorted, value);
  if (sorted[index] === value) return false;
  sorted.splice(index, 0, value);
  return true;
}

/** Removes `value`; false (and no change) when it is not there. */
export function sortedDelete(sorted: string[], value: string): boolean {
  const index = lowerBound(sorted, value);
  if (sorted[index] !== value) return false;
  sorted.splice(index, 1);
  return true;
}

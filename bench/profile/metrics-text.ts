/**
 * Just enough of the Prometheus text format to read the node's /metrics: every sample line
 * as `name{labels}` → value, and a quantile from the difference of two scrapes of a
 * histogram (the upper bound of the bucket that holds it).
 */

export type Scrape = { t_us: number; values: Map<string, number> };

export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = m[2] === "+Inf" ? Number.POSITIVE_INFINITY : m[2] === "-Inf" ? Number.NEGATIVE_INFINITY : Number(m[2]);
    out.set(m[1]!, v);
  }
  return out;
}

/** The largest finite bucket bound of histogram `name`, in ms (null if it has none). */
export function largestBucketMs(s: Scrape, name: string): number | null {
  let largest: number | null = null;
  for (const key of s.values.keys()) {
    const m = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"(?:,.*)?\\}$`).exec(key);
    if (m && m[1] !== "+Inf") largest = Math.max(largest ?? 0, Number(m[1]) * 1000);
  }
  return largest;
}

/**
 * The q-quantile, in ms, of what histogram `name` observed between scrapes `a` and `b`:
 * the upper bound of the first bucket whose count reaches q of the total (so "≤ that").
 * Null when nothing was observed.
 */
export function histogramQuantileMs(a: Scrape, b: Scrape, name: string, q: number): number | null {
  const buckets: { le: number; count: number }[] = [];
  for (const [key, v] of b.values) {
    const m = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"(?:,.*)?\\}$`).exec(key);
    if (!m) continue;
    const le = m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]);
    buckets.push({ le, count: v - (a.values.get(key) ?? 0) });
  }
  buckets.sort((x, y) => x.le - y.le);
  const total = buckets[buckets.length - 1]?.count ?? 0;
  if (total <= 0) return null;
  for (const bucket of buckets) if (bucket.count >= q * total) return Number.isFinite(bucket.le) ? Number((bucket.le * 1000).toFixed(3)) : Number.POSITIVE_INFINITY;
  return null;
}

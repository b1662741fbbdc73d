/**
 * TurnCoalescer: look-ups by key that callers make in the same turn of the event loop are
 * answered by one query for all their keys (the DataLoader pattern, without a cache).
 *
 * Why. Under load the router resolves many messages' audiences at once, and each asked its
 * own question (a query per member): on a shared two-core box the pool's queue, not the
 * database, became the longest wait of a message. One query per turn for every key asked
 * meanwhile answers them all.
 *
 * Rules: nothing is cached (every turn asks the store again, so an answer is never older
 * than the turn it was asked in); at most `keys_max` keys per query (more go in further
 * queries of the same turn); a failed query rejects every caller of its keys, and each
 * retries on its own as it would have after a failed single look-up. Flushes are scheduled
 * with setImmediate, so no look-up waits for a timer.
 */
export class TurnCoalescer<V> {
  private waiting = new Map<string, { resolve: (value: V) => void; reject: (error: unknown) => void }[]>();
  private scheduled = false;

  constructor(
    /** Answers every key asked (a key missing from the map is answered with `absent`). */
    private readonly fetchMany: (keys: readonly string[]) => Promise<ReadonlyMap<string, V>>,
    private readonly absent: V,
    private readonly keys_max: number,
  ) {
    if (!Number.isInteger(keys_max) || keys_max < 1) throw new Error(`TurnCoalescer: keys_max must be a positive integer, got ${keys_max}`);
  }

  load(key: string): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const list = this.waiting.get(key);
      if (list === undefined) this.waiting.set(key, [{ resolve, reject }]);
      else list.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const waiting = this.waiting;
    this.waiting = new Map();
    const keys = [...waiting.keys()];
    for (let start = 0; start < keys.length; start += this.keys_max) {
      const chunk = keys.slice(start, start + this.keys_max);
      this.fetchMany(chunk).then(
        (found) => {
          for (const key of chunk) for (const w of waiting.get(key) ?? []) w.resolve(found.has(key) ? (found.get(key) as V) : this.absent);
        },
        (error: unknown) => {
          for (const key of chunk) for (const w of waiting.get(key) ?? []) w.reject(error);
        },
      );
    }
  }
}

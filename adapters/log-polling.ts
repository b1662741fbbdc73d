/**
 * The waiting half of an in-process log's `poll`, shared by LogMemory and LogSqlite: fetch
 * what is there; if nothing, wait for an append (or the deadline) and fetch again. Bounded
 * by `wait_ms`; a consumer that has ended makes the poll reject with the reason.
 */
import { assert } from "../core/result.js";

export async function pollWithin<T>(
  owner: string,
  max_records: number,
  wait_ms: number,
  ended: () => string | null,
  fetch: () => T[],
  changed: (remaining_ms: number) => Promise<void>,
): Promise<T[]> {
  assert(Number.isInteger(max_records) && max_records > 0, `${owner} poll: max_records must be a positive integer, got ${max_records}`);
  assert(Number.isFinite(wait_ms) && wait_ms >= 0, `${owner} poll: wait_ms must be finite and >= 0, got ${wait_ms}`);
  const deadline_ms = performance.now() + wait_ms;
  for (;;) {
    const why = ended();
    if (why !== null) throw new Error(`${owner} poll: ${why}`);
    const records = fetch();
    if (records.length > 0) return records;
    const remaining_ms = deadline_ms - performance.now();
    if (remaining_ms <= 0) return [];
    await changed(remaining_ms);
  }
}

/** Polls waiting for an append: `changed(ms)` resolves on the next `wake()` or after `ms`. */
export class AppendWaiters {
  private readonly waiting = new Set<() => void>();

  changed(wait_ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, wait_ms);
      this.waiting.add(done);
    });
  }

  wake(): void {
    for (const done of [...this.waiting]) done();
  }
}

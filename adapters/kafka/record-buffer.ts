/**
 * RecordBuffer: the bounded hand-over between kafkajs's push (`eachBatch`) and our port's
 * pull (`poll`), one per consumer. No IO and no clock beyond the wait timer, so it is tested
 * on its own (record-buffer.test.ts).
 *
 * Rules:
 * - It never holds more than `records_max` records: the producer side asks `room()` first
 *   and takes only what fits (LogKafkaConsumer pauses the partition for the rest).
 * - Each partition is a FIFO whose offsets strictly increase; `push` asserts that.
 * - `take` starts at a different partition each call, so one busy partition cannot starve
 *   the others, and keeps offset order within each partition.
 * - `wait` resolves on the first push or `wake`, or after wait_ms: never rejects.
 */
import type { ConsumedRecord } from "../../core/model.js";
import { assert } from "../../core/result.js";

export class RecordBuffer {
  readonly records_max: number;
  private readonly queues = new Map<number, ConsumedRecord[]>();
  private size = 0;
  /** The partition the last take started at; the next one starts after it. */
  private last_start = -1;
  private readonly waiters = new Set<() => void>();

  constructor(records_max: number) {
    assert(Number.isSafeInteger(records_max) && records_max > 0, `RecordBuffer: records_max must be a positive integer, got ${records_max}`);
    this.records_max = records_max;
  }

  get count(): number {
    return this.size;
  }

  room(): number {
    return this.records_max - this.size;
  }

  push(record: ConsumedRecord): void {
    assert(this.size < this.records_max, "RecordBuffer.push: the buffer is full (ask room() first)");
    let queue = this.queues.get(record.partition);
    if (queue === undefined) {
      queue = [];
      this.queues.set(record.partition, queue);
    }
    const last = queue.at(-1);
    assert(last === undefined || record.offset > last.offset, `RecordBuffer.push: offset ${record.offset} after ${last?.offset} in partition ${record.partition}`);
    queue.push(record);
    this.size++;
    this.wake();
  }

  /** Up to `max` records, a partition's in offset order, starting at another partition each call. */
  take(max: number): ConsumedRecord[] {
    assert(Number.isSafeInteger(max) && max > 0, `RecordBuffer.take: max must be a positive integer, got ${max}`);
    const partitions = [...this.queues.keys()].sort((a, b) => a - b);
    const taken: ConsumedRecord[] = [];
    if (partitions.length === 0) return taken;
    const after = partitions.findIndex((partition) => partition > this.last_start);
    const start = after === -1 ? 0 : after;
    this.last_start = partitions[start] as number;
    for (let i = 0; i < partitions.length && taken.length < max; i++) {
      const partition = partitions[(start + i) % partitions.length] as number;
      const queue = this.queues.get(partition) as ConsumedRecord[];
      const chunk = queue.splice(0, max - taken.length);
      taken.push(...chunk);
      if (queue.length === 0) this.queues.delete(partition);
    }
    this.size -= taken.length;
    assert(this.size >= 0, "RecordBuffer.take: size went negative");
    return taken;
  }

  /** Drops every record (a rebalance: kafkajs restarts each partition at its committed offset). */
  clear(): void {
    this.queues.clear();
    this.size = 0;
  }

  /** Resolves on the next push or wake, or after wait_ms. */
  wait(wait_ms: number): Promise<void> {
    if (wait_ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, wait_ms);
      this.waiters.add(done);
    });
  }

  /** Ends every wait now (a push, a rebalance, a close). */
  wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

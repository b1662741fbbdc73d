/**
 * Log: the durable, partitioned record of every send and ack (Kafka / Redpanda in
 * production, a SQLite table embedded, a simulated log in the simulator).
 *
 * Contract (adapters/contract/log.contract.ts checks it):
 * - `append` resolves only once the record is durable; the key decides the partition
 *   (same key, same partition), and offsets in a partition strictly increase.
 *   A rejected or timed-out append may still have applied.
 * - A consumer group splits the partitions among its live members. A member's `poll`
 *   returns records of its assigned partitions in offset order, starting after the group's
 *   committed offset for each partition.
 * - `commit` stores "next offset to read" per partition; a commit from a member that no
 *   longer owns the partition (or from an older generation) answers "fenced" and changes
 *   nothing. Records after the committed offset are handed out again after a rebalance or
 *   a restart: delivery is at least once.
 */
import type { ConsumedRecord, LogPosition, LogRecord } from "../model.js";

export interface Log {
  readonly partition_count: number;
  append(key: string, record: LogRecord): Promise<LogPosition>;
  /** Joins `group` as `member_id`; the returned consumer owns a share of the partitions. */
  consumer(group: string, member_id: string): Promise<LogConsumer>;
  close(): Promise<void>;
}

export type CommitOutcome = "ok" | "fenced";

export interface LogConsumer {
  readonly member_id: string;
  /** Up to `max_records` records; waits at most `wait_ms` for the first one. */
  poll(max_records: number, wait_ms: number): Promise<ConsumedRecord[]>;
  /** Commits, per partition, the next offset to read. */
  commit(offsets: readonly LogPosition[], generation: number): Promise<CommitOutcome>;
  /** Partitions this member owns now. */
  assignment(): readonly number[];
  /** Leaves the group; its partitions move to the other members. */
  close(): Promise<void>;
}

/** Which partition a key lands on: the same function for every adapter that picks one itself. */
export function partitionOf(key: string, partition_count: number): number {
  // FNV-1a 32-bit: stable across processes and languages, and cheap.
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partition_count;
}

/**
 * Who owns which partition after a rebalance (Kafka's eager protocol with a range-like rule):
 * partition `base + i` goes to the (i mod n)-th member in sorted member ID order, each
 * member's list ascending. Every log that runs its own group coordinator (the machine under
 * the memory and simulated logs, SQLite) assigns with this one function.
 */
export function assignPartitions(member_ids: readonly string[], partition_count: number, base = 0): Map<string, number[]> {
  const sorted = [...member_ids].sort();
  const owned = new Map<string, number[]>(sorted.map((id) => [id, []]));
  if (sorted.length === 0) return owned;
  for (let i = 0; i < partition_count; i++) owned.get(sorted[i % sorted.length]!)!.push(base + i);
  return owned;
}

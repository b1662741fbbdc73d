/**
 * LogMemory: a partitioned log with consumer groups, in process (tests; the embedded node
 * uses SQLite). A Promise shell over the log's one state machine (core/ports/log-machine.ts,
 * whose header states the rules: partitions, eager rebalances, generations, fencing,
 * retention), which the simulated log wraps too, so the simulator and this log behave alike.
 *
 * What this shell adds:
 * - An append is durable when it resolves (it is in memory); the record is copied first, as
 *   a serialising log would, so the caller's later changes do not reach the log.
 * - poll waits up to wait_ms for a first record, waking on any append, rebalance or close.
 * - A consumer opened with a member_id that is already live in its group replaces the old
 *   one (as Kafka's static membership does for a restarted process): the old consumer is
 *   fenced and its poll rejects; so does a closed consumer's, and every poll once the log
 *   closed. */
import { AppendWaiters, pollWithin } from "../log-polling.js";
import type { Log, LogConsumer } from "../../core/ports/log.js";
import { LogMachine, type LogGroupSnapshot } from "../../core/ports/log-machine.js";
import type { ConsumedRecord, LogPosition, LogRecord } from "../../core/model.js";
import { assert } from "../../core/result.js";

export type { LogGroupSnapshot };

export type LogMemoryOptions = {
  readonly partition_count?: number;
  readonly retained_records_per_partition_max?: number;
};

const PARTITION_COUNT_DEFAULT = 8;
const RETAINED_RECORDS_PER_PARTITION_MAX_DEFAULT = 100_000;

export class LogMemory implements Log {
  readonly partition_count: number;
  /** The log's one state machine, which the simulated log wraps too. */
  private readonly machine: LogMachine;
  /** Polls waiting for an append (see log-polling.ts). */
  private readonly waiters = new AppendWaiters();
  private closed = false;

  constructor(options: LogMemoryOptions = {}) {
    this.partition_count = options.partition_count ?? PARTITION_COUNT_DEFAULT;
    const retained = options.retained_records_per_partition_max ?? RETAINED_RECORDS_PER_PARTITION_MAX_DEFAULT;
    assert(Number.isInteger(this.partition_count) && this.partition_count > 0, "LogMemory: partition_count must be a positive integer");
    assert(Number.isInteger(retained) && retained > 0, "LogMemory: retained_records_per_partition_max must be a positive integer");
    this.machine = new LogMachine({ partition_count: this.partition_count, retained_records_per_partition_max: retained });
  }

  async append(key: string, record: LogRecord): Promise<LogPosition> {
    if (this.closed) throw new Error("LogMemory.append: the log is closed");
    // A copy, so that the log holds what was appended even if the caller's object changes,
    // as a serialising log would.
    const position = this.machine.append(key, structuredClone(record));
    this.waiters.wake();
    return position;
  }

  async consumer(group: string, member_id: string): Promise<LogConsumer> {
    if (this.closed) throw new Error("LogMemory.consumer: the log is closed");
    const join = this.machine.join(group, member_id, 0, 0);
    this.waiters.wake();
    return new LogMemoryConsumer(this, this.machine, group, member_id, join);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.machine.clear();
    this.waiters.wake();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The group as it stands, for tests and debugging. */
  groupSnapshot(group: string): LogGroupSnapshot | null {
    return this.machine.snapshot(group);
  }

  /** The offset the next append to `partition` gets, and the first one still retained. */
  partitionBounds(partition: number): { readonly first_offset: number; readonly next_offset: number } {
    return this.machine.bounds(partition);
  }

  /** Resolves on the next append, rebalance or close, or after `wait_ms`. */
  changed(wait_ms: number): Promise<void> {
    return this.waiters.changed(wait_ms);
  }

  wake(): void {
    this.waiters.wake();
  }
}

/**
 * One join's consumer. Like a Kafka client it keeps its fetch positions and rotates the
 * partition it starts a fetch at, so that one busy partition cannot starve the others. A
 * consumer whose member ID joined again (a restarted process) or that closed has ended, and
 * its poll rejects.
 */
class LogMemoryConsumer implements LogConsumer {
  private readonly positions = new Map<number, number>();
  private positions_generation = -1;
  private next_start = 0;
  private ended: "closed" | null = null;

  constructor(
    private readonly log: LogMemory,
    private readonly machine: LogMachine,
    private readonly group: string,
    readonly member_id: string,
    private readonly join: number,
  ) {}

  poll(max_records: number, wait_ms: number): Promise<ConsumedRecord[]> {
    return pollWithin("LogMemory", max_records, wait_ms, () => this.why(), () => this.fetch(max_records), (remaining_ms) => this.log.changed(remaining_ms));
  }

  async commit(offsets: readonly LogPosition[], generation: number): Promise<"ok" | "fenced"> {
    if (this.why() !== null) return "fenced";
    return this.machine.commit(this.group, this.member_id, offsets, generation, this.join);
  }

  assignment(): readonly number[] {
    if (this.why() !== null) return [];
    return [...(this.machine.member(this.group, this.member_id, this.join)?.assigned ?? [])];
  }

  async close(): Promise<void> {
    if (this.why() !== null) return;
    this.ended = "closed";
    if (this.machine.leave(this.group, this.member_id, 0, this.join)) this.log.wake();
  }

  private why(): string | null {
    const ended = this.ended ?? (this.log.isClosed ? "log_closed" : this.machine.member(this.group, this.member_id, this.join) === null ? "replaced" : null);
    return ended === null ? null : `consumer '${this.member_id}' of group '${this.group}' has ended (${ended})`;
  }

  private fetch(max_records: number): ConsumedRecord[] {
    const member = this.machine.member(this.group, this.member_id, this.join);
    if (member === null) return [];
    if (member.generation !== this.positions_generation) {
      this.positions.clear();
      this.positions_generation = member.generation;
      this.next_start = 0;
    }
    const records = this.machine.poll(this.group, this.member_id, max_records, 0, this.positions, this.positions_generation, this.join, this.next_start) ?? [];
    for (const r of records) this.positions.set(r.partition, r.offset + 1);
    if (member.assigned.length > 0) this.next_start = (this.next_start + 1) % member.assigned.length;
    return records;
  }
}

/**
 * LogMemory: a partitioned log with consumer groups, in process (tests and the simulator's
 * reference; the embedded node uses SQLite). It behaves like Kafka with the eager
 * rebalance protocol, so that hosts meet the same at-least-once redelivery here as there.
 *
 * Rules:
 * - The key picks the partition with core's `partitionOf`; offsets in a partition start at 0
 *   and grow by one per append. An append is durable when it resolves (it is in memory).
 * - A group rebalances whenever a member joins or leaves: the generation goes up by one and
 *   partition p goes to the (p mod n)-th member in sorted member_id order. Every member's
 *   fetch position restarts at the group's committed offset (0 when none) for each partition
 *   it now owns, so records after the committed offset are handed out again.
 * - poll returns records of owned partitions only, in offset order within a partition,
 *   tagged with the member's generation; it starts at a different partition each call so
 *   that one busy partition cannot starve the others. It waits up to wait_ms for a first
 *   record, waking on any append, rebalance or close.
 * - commit succeeds only for the live member of the current generation that owns every
 *   partition named; otherwise it answers "fenced" and changes nothing.
 * - A consumer opened with a member_id that is already live in its group replaces the old
 *   one (as Kafka's static membership does for a restarted process): the old consumer is
 *   fenced and its poll rejects.
 * - Each partition keeps its newest `retained_records_per_partition_max` records (up to a
 *   quarter more between trims); older ones are dropped, and a fetch position below the
 *   first retained offset jumps to it (Kafka's retention with auto.offset.reset=earliest).
 */
import { AppendWaiters, pollWithin } from "../log-polling.js";
import type { CommitOutcome, Log, LogConsumer } from "../../core/ports/log.js";
import { partitionOf } from "../../core/ports/log.js";
import type { ConsumedRecord, LogPosition, LogRecord } from "../../core/model.js";
import { assert } from "../../core/result.js";

export type LogMemoryOptions = {
  readonly partition_count?: number;
  readonly retained_records_per_partition_max?: number;
};

const PARTITION_COUNT_DEFAULT = 8;
const RETAINED_RECORDS_PER_PARTITION_MAX_DEFAULT = 100_000;

type Entry = { readonly key: string; readonly record: LogRecord };

type Partition = {
  /** Offset of entries[0]. */
  base_offset: number;
  readonly entries: Entry[];
};

type Member = {
  readonly group: string;
  readonly member_id: string;
  live: boolean;
  /** Why poll rejects once not live. */
  ended: "closed" | "replaced" | "log_closed" | null;
  generation: number;
  assignment: number[];
  /** Partition -> next offset to hand out. */
  readonly fetch_offsets: Map<number, number>;
  /** Index into `assignment` where the next poll starts. */
  next_start: number;
};

type Group = {
  generation: number;
  readonly members: Map<string, Member>;
  /** Partition -> next offset to read, as committed. */
  readonly committed: Map<number, number>;
};

export type LogGroupSnapshot = {
  readonly generation: number;
  readonly member_ids: readonly string[];
  readonly committed: ReadonlyMap<number, number>;
};

export class LogMemory implements Log {
  readonly partition_count: number;
  private readonly retained_records_per_partition_max: number;
  private readonly partitions: Partition[];
  private readonly groups = new Map<string, Group>();
  /** Polls waiting for an append (see log-polling.ts). */
  private readonly waiters = new AppendWaiters();
  private closed = false;

  constructor(options: LogMemoryOptions = {}) {
    this.partition_count = options.partition_count ?? PARTITION_COUNT_DEFAULT;
    this.retained_records_per_partition_max = options.retained_records_per_partition_max ?? RETAINED_RECORDS_PER_PARTITION_MAX_DEFAULT;
    assert(Number.isInteger(this.partition_count) && this.partition_count > 0, "LogMemory: partition_count must be a positive integer");
    assert(
      Number.isInteger(this.retained_records_per_partition_max) && this.retained_records_per_partition_max > 0,
      "LogMemory: retained_records_per_partition_max must be a positive integer",
    );
    this.partitions = Array.from({ length: this.partition_count }, () => ({ base_offset: 0, entries: [] }));
  }

  async append(key: string, record: LogRecord): Promise<LogPosition> {
    if (this.closed) throw new Error("LogMemory.append: the log is closed");
    const partition = partitionOf(key, this.partition_count);
    const stored = this.partitionAt(partition);
    const offset = stored.base_offset + stored.entries.length;
    // A copy, so that the log holds what was appended even if the caller's object changes,
    // as a serialising log would.
    stored.entries.push({ key, record: structuredClone(record) });
    this.trim(stored);
    this.wake();
    return { partition, offset };
  }

  async consumer(group: string, member_id: string): Promise<LogConsumer> {
    if (this.closed) throw new Error("LogMemory.consumer: the log is closed");
    let state = this.groups.get(group);
    if (state === undefined) {
      state = { generation: 0, members: new Map(), committed: new Map() };
      this.groups.set(group, state);
    }
    const previous = state.members.get(member_id);
    if (previous !== undefined) this.end(previous, "replaced");
    const member: Member = {
      group,
      member_id,
      live: true,
      ended: null,
      generation: 0,
      assignment: [],
      fetch_offsets: new Map(),
      next_start: 0,
    };
    state.members.set(member_id, member);
    this.rebalance(state);
    return {
      member_id,
      poll: (max_records, wait_ms) => this.poll(member, max_records, wait_ms),
      commit: async (offsets, generation) => this.commit(member, offsets, generation),
      assignment: () => [...member.assignment],
      close: async () => this.leave(member),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.groups.values()) {
      for (const member of state.members.values()) this.end(member, "log_closed");
    }
    this.groups.clear();
    this.wake();
  }

  /** The group as it stands, for tests and debugging. */
  groupSnapshot(group: string): LogGroupSnapshot | null {
    const state = this.groups.get(group);
    if (state === undefined) return null;
    return { generation: state.generation, member_ids: [...state.members.keys()].sort(), committed: new Map(state.committed) };
  }

  /** The offset the next append to `partition` gets, and the first one still retained. */
  partitionBounds(partition: number): { readonly first_offset: number; readonly next_offset: number } {
    const stored = this.partitionAt(partition);
    return { first_offset: stored.base_offset, next_offset: stored.base_offset + stored.entries.length };
  }

  private poll(member: Member, max_records: number, wait_ms: number): Promise<ConsumedRecord[]> {
    return pollWithin(
      "LogMemory",
      max_records,
      wait_ms,
      () => (member.live ? null : `consumer '${member.member_id}' of group '${member.group}' has ended (${member.ended})`),
      () => this.fetch(member, max_records),
      (remaining_ms) => this.changed(remaining_ms),
    );
  }

  private fetch(member: Member, max_records: number): ConsumedRecord[] {
    const records: ConsumedRecord[] = [];
    const count = member.assignment.length;
    for (let step = 0; step < count && records.length < max_records; step++) {
      const partition = member.assignment[(member.next_start + step) % count];
      assert(partition !== undefined, "LogMemory fetch: assignment index in range");
      const stored = this.partitionAt(partition);
      let offset = Math.max(member.fetch_offsets.get(partition) ?? 0, stored.base_offset);
      const end = stored.base_offset + stored.entries.length;
      while (offset < end && records.length < max_records) {
        const entry = stored.entries[offset - stored.base_offset];
        assert(entry !== undefined, "LogMemory fetch: offset within the retained entries");
        records.push({ partition, offset, key: entry.key, record: entry.record, generation: member.generation });
        offset++;
      }
      member.fetch_offsets.set(partition, offset);
    }
    if (count > 0) member.next_start = (member.next_start + 1) % count;
    return records;
  }

  private commit(member: Member, offsets: readonly LogPosition[], generation: number): CommitOutcome {
    const state = this.groups.get(member.group);
    if (!member.live || state === undefined || generation !== state.generation || generation !== member.generation) return "fenced";
    if (!offsets.every((position) => member.assignment.includes(position.partition))) return "fenced";
    for (const position of offsets) {
      const bounds = this.partitionBounds(position.partition);
      assert(
        Number.isInteger(position.offset) && position.offset >= 0 && position.offset <= bounds.next_offset,
        `LogMemory commit: offset ${position.offset} of partition ${position.partition} is beyond its end ${bounds.next_offset}`,
      );
    }
    for (const position of offsets) state.committed.set(position.partition, position.offset);
    return "ok";
  }

  private async leave(member: Member): Promise<void> {
    if (!member.live) return;
    const state = this.groups.get(member.group);
    this.end(member, "closed");
    if (state !== undefined && state.members.get(member.member_id) === member) {
      state.members.delete(member.member_id);
      this.rebalance(state);
    }
  }

  private end(member: Member, why: NonNullable<Member["ended"]>): void {
    member.live = false;
    member.ended = why;
    member.assignment = [];
    member.fetch_offsets.clear();
  }

  private rebalance(state: Group): void {
    state.generation++;
    const member_ids = [...state.members.keys()].sort();
    const owned = new Map<string, number[]>(member_ids.map((id) => [id, []]));
    for (let partition = 0; partition < this.partition_count; partition++) {
      if (member_ids.length === 0) break;
      owned.get(member_ids[partition % member_ids.length] as string)?.push(partition);
    }
    for (const [member_id, member] of state.members) {
      member.generation = state.generation;
      member.assignment = owned.get(member_id) ?? [];
      member.next_start = 0;
      member.fetch_offsets.clear();
      for (const partition of member.assignment) {
        member.fetch_offsets.set(partition, state.committed.get(partition) ?? 0);
      }
    }
    this.wake();
  }

  private trim(stored: Partition): void {
    const max = this.retained_records_per_partition_max;
    // Trim in batches of a quarter of the bound, so that the cost of splice is amortised.
    if (stored.entries.length <= max + Math.max(1, Math.floor(max / 4))) return;
    const dropped = stored.entries.length - max;
    stored.entries.splice(0, dropped);
    stored.base_offset += dropped;
  }

  private partitionAt(partition: number): Partition {
    const stored = this.partitions[partition];
    assert(stored !== undefined, `LogMemory: partition ${partition} is outside [0, ${this.partition_count})`);
    return stored;
  }

  private changed(wait_ms: number): Promise<void> {
    return this.waiters.changed(wait_ms);
  }

  private wake(): void {
    this.waiters.wake();
  }
}

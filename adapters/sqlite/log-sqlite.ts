/**
 * LogSqlite: the embedded node's durable log, a table in the node's SQLite file, with
 * consumer groups whose members live in this process (core/ports/log.ts is the contract).
 *
 * Owns the tables `log` (partition, offset, key, record JSON), `log_settings`,
 * `log_groups` (generation per group), `log_members` (the member registry) and
 * `log_committed` (next offset to read per group and partition).
 *
 * Rules:
 * - The key picks the partition with core's `partitionOf`; offsets in a partition start at 0
 *   and grow by one per append. An append is a batched write (write-batcher.ts) and resolves
 *   once its transaction committed, i.e. once the record is durable. The partition count is
 *   stored in the file at first use: reopening with another count would move keys between
 *   partitions and break per-conversation order, so it is refused.
 * - Groups rebalance like LogMemory (Kafka's eager protocol): every join or leave bumps the
 *   generation by one and partitions are spread by core's `assignPartitions` (the rule the
 *   log's state machine uses too); each member's fetch position restarts at the committed
 *   offset (0 when none).
 *   Joins, leaves and commits are batched writes too, applied in request order, and each
 *   changes the tables and the in-memory group state in the same step, so a commit is
 *   judged against the group as it stands when it is applied.
 * - Members are the consumers of this process. When the file is opened, the member registry
 *   left by an earlier process is cleared (those consumers died with it) while generations
 *   and committed offsets stay: consumers re-join, the generation goes on rising, and each
 *   partition is read again from its committed offset (at least once).
 * - commit succeeds only for the live member of the current generation that owns every
 *   partition named; otherwise "fenced", changing nothing. An offset beyond a partition's end
 *   is a caller bug and rejects. A consumer opened with a member_id already live in its group
 *   replaces the old one, whose poll then rejects (static membership, as in LogMemory).
 * - poll reads owned partitions in offset order, starting at a different partition each call,
 *   and waits up to wait_ms for an append, rebalance or close (an in-process notifier).
 * - Each partition keeps its newest `retained_records_per_partition_max` records (up to a
 *   quarter more between trims); a fetch position below the first kept offset moves up to it.
 *   The pending store keeps its tombstones at least that long (it keeps them for good).
 * - One LogSqlite per Database: it keeps each partition's next offset in memory.
 * - A fetch of the newest records is served from memory: each partition keeps the JSON of
 *   its last RECENT_RECORDS_MAX appends, pushed inside the batched write that inserted them
 *   (SQL first), so it holds exactly what the file holds once that write committed (no read
 *   runs between a batch's work and its COMMIT). Once a commit failed (Database.healthy is
 *   false) nothing more is served from memory. Routers read records right after they are
 *   appended, so nearly every fetch is a hit; the SELECT per poll took 10% of the node's busy
 *   time at 1,500 msg/s (make profile).
 */
import { AppendWaiters, pollWithin } from "../log-polling.js";
import { ONE_STATEMENT } from "./write-batcher.js";
import type { CommitOutcome, Log, LogConsumer } from "../../core/ports/log.js";
import { assignPartitions, partitionOf } from "../../core/ports/log.js";
import type { ConsumedRecord, LogPosition, LogRecord } from "../../core/model.js";
import { assert } from "../../core/result.js";
import type { Database, Statement } from "./database.js";

export type LogSqliteOptions = {
  readonly partition_count?: number;
  readonly retained_records_per_partition_max?: number;
};

const PARTITION_COUNT_DEFAULT = 8;
const RETAINED_RECORDS_PER_PARTITION_MAX_DEFAULT = 1_000_000;
const RECENT_RECORDS_MAX = 4_096;

/** The newest appends of one partition: offsets first_offset, first_offset + 1, ... */
type Recent = { first_offset: number; items: { key: string; json: string }[] };

type Member = {
  readonly group: string;
  readonly member_id: string;
  live: boolean;
  ended: "closed" | "replaced" | "log_closed" | null;
  generation: number;
  assignment: number[];
  /** Partition -> next offset to hand out. */
  readonly fetch_offsets: Map<number, number>;
  next_start: number;
};

type Group = {
  generation: number;
  readonly members: Map<string, Member>;
  /** Partition -> next offset to read, as committed (mirrors `log_committed`). */
  readonly committed: Map<number, number>;
};

type Bounds = { first_offset: number; next_offset: number };

type RecordRow = { offset: number; key: string; record: string };

export class LogSqlite implements Log {
  readonly partition_count: number;
  private readonly retained_records_per_partition_max: number;
  private readonly bounds: Bounds[];
  private readonly groups = new Map<string, Group>();
  private readonly waiters = new AppendWaiters();
  /** Partitions whose trim is queued behind an append (one at a time). */
  private readonly trims_queued = new Set<number>();
  private readonly recent: Recent[];
  private closed = false;

  private readonly insert_record: Statement<[number, number, string, string]>;
  private readonly select_records: Statement<[number, number, number], RecordRow>;
  private readonly trim_records: Statement<[number, number]>;
  private readonly select_group: Statement<[string], { generation: number }>;
  private readonly select_committed: Statement<[string], { partition: number; next_offset: number }>;
  private readonly upsert_group: Statement<[string, number]>;
  private readonly upsert_member: Statement<[string, string, number]>;
  private readonly delete_member: Statement<[string, string]>;
  private readonly upsert_committed: Statement<[string, number, number]>;

  constructor(
    private readonly database: Database,
    options: LogSqliteOptions = {},
  ) {
    this.partition_count = options.partition_count ?? PARTITION_COUNT_DEFAULT;
    this.retained_records_per_partition_max = options.retained_records_per_partition_max ?? RETAINED_RECORDS_PER_PARTITION_MAX_DEFAULT;
    assert(Number.isInteger(this.partition_count) && this.partition_count > 0, "LogSqlite: partition_count must be a positive integer");
    assert(
      Number.isInteger(this.retained_records_per_partition_max) && this.retained_records_per_partition_max > 0,
      "LogSqlite: retained_records_per_partition_max must be a positive integer",
    );
    const db = database;
    this.insert_record = db.prepare('INSERT INTO log ("partition", "offset", key, record) VALUES (?, ?, ?, ?)');
    this.select_records = db.prepare('SELECT "offset" AS offset, key, record FROM log WHERE "partition" = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?');
    this.trim_records = db.prepare('DELETE FROM log WHERE "partition" = ? AND "offset" < ?');
    this.select_group = db.prepare("SELECT generation FROM log_groups WHERE group_id = ?");
    this.select_committed = db.prepare('SELECT "partition" AS partition, next_offset FROM log_committed WHERE group_id = ?');
    this.upsert_group = db.prepare("INSERT INTO log_groups (group_id, generation) VALUES (?, ?) ON CONFLICT (group_id) DO UPDATE SET generation = excluded.generation");
    this.upsert_member = db.prepare(
      "INSERT INTO log_members (group_id, member_id, joined_generation) VALUES (?, ?, ?) ON CONFLICT (group_id, member_id) DO UPDATE SET joined_generation = excluded.joined_generation",
    );
    this.delete_member = db.prepare("DELETE FROM log_members WHERE group_id = ? AND member_id = ?");
    this.upsert_committed = db.prepare(
      'INSERT INTO log_committed (group_id, "partition", next_offset) VALUES (?, ?, ?) ON CONFLICT (group_id, "partition") DO UPDATE SET next_offset = excluded.next_offset',
    );

    this.recent = Array.from({ length: this.partition_count }, () => ({ first_offset: 0, items: [] }));
    this.bounds = database.writeNow(() => {
      this.checkPartitionCount();
      // The members registered by an earlier process died with it.
      db.prepare("DELETE FROM log_members").run();
      return this.loadBounds();
    });
  }

  async append(key: string, record: LogRecord): Promise<LogPosition> {
    if (this.closed) throw new Error("LogSqlite.append: the log is closed");
    const partition = partitionOf(key, this.partition_count);
    // Serialised now, so that later changes to the caller's object cannot reach the log.
    const json = JSON.stringify(record);
    // One statement, so no SAVEPOINT around it (write-batcher.ts): a savepoint and its release
    // were two of the ~20 statements a message cost. The trim, when due, is a write of its own
    // queued behind this one: were it in the same work and failed after the insert, the row
    // would stay while next_offset did not move, and every later append to the partition
    // would collide with it.
    return this.database.write(() => {
      const bounds = this.boundsOf(partition);
      const offset = bounds.next_offset;
      this.insert_record.run(partition, offset, key, json);
      bounds.next_offset = offset + 1;
      this.remember(partition, offset, key, json);
      if (this.trimDue(bounds) && !this.trims_queued.has(partition)) {
        this.trims_queued.add(partition);
        void this.database
          .write(() => this.trim(partition, bounds), ONE_STATEMENT)
          .catch(() => undefined) // a failed trim is tried again by a later append
          .finally(() => this.trims_queued.delete(partition));
      }
      this.wake();
      return { partition, offset };
    }, ONE_STATEMENT);
  }

  async consumer(group: string, member_id: string): Promise<LogConsumer> {
    if (this.closed) throw new Error("LogSqlite.consumer: the log is closed");
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
    await this.database.write(() => {
      if (this.closed) throw new Error("LogSqlite.consumer: the log closed before the member joined");
      const state = this.groupState(group);
      const generation = state.generation + 1;
      this.upsert_member.run(group, member_id, generation);
      this.upsert_group.run(group, generation);
      const previous = state.members.get(member_id);
      if (previous !== undefined) this.end(previous, "replaced");
      state.members.set(member_id, member);
      this.rebalance(state, generation);
    });
    return {
      member_id,
      poll: (max_records, wait_ms) => this.poll(member, max_records, wait_ms),
      commit: (offsets, generation) => this.commit(member, offsets, generation),
      assignment: () => [...member.assignment],
      close: () => this.leave(member),
    };
  }

  /** Ends every consumer and wakes their polls; appends already requested still commit. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.groups.values()) {
      for (const member of state.members.values()) this.end(member, "log_closed");
    }
    this.groups.clear();
    this.wake();
    await this.database.flush();
  }

  /** The group as this process sees it, for tests and debugging. */
  groupSnapshot(group: string): { readonly generation: number; readonly member_ids: readonly string[]; readonly committed: ReadonlyMap<number, number> } | null {
    const state = this.groups.get(group);
    if (state === undefined) return null;
    return { generation: state.generation, member_ids: [...state.members.keys()].sort(), committed: new Map(state.committed) };
  }

  /**
   * Records appended that no consumer of `group` has been handed yet (all partitions): the
   * queue in front of the routers. The all-in-one node admits new sends by it (admission
   * driven by the real backlog: nodes/hosts/gateway-host.ts). A partition no live member owns
   * counts from its committed offset.
   */
  backlog(group: string): number {
    const state = this.groups.get(group);
    let waiting = 0;
    for (let partition = 0; partition < this.partition_count; partition++) {
      const bounds = this.boundsOf(partition);
      let from = state?.committed.get(partition) ?? 0;
      if (state !== undefined) {
        for (const member of state.members.values()) {
          const fetched = member.fetch_offsets.get(partition);
          if (fetched !== undefined) from = Math.max(from, fetched);
        }
      }
      waiting += Math.max(0, bounds.next_offset - Math.max(from, bounds.first_offset));
    }
    return waiting;
  }

  /** The first offset still kept in `partition` and the offset its next append gets. */
  partitionBounds(partition: number): { readonly first_offset: number; readonly next_offset: number } {
    return { ...this.boundsOf(partition) };
  }

  private poll(member: Member, max_records: number, wait_ms: number): Promise<ConsumedRecord[]> {
    return pollWithin(
      "LogSqlite",
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
      assert(partition !== undefined, "LogSqlite fetch: assignment index in range");
      const bounds = this.boundsOf(partition);
      const from = Math.max(member.fetch_offsets.get(partition) ?? 0, bounds.first_offset);
      if (from >= bounds.next_offset) continue;
      const rows = this.fromMemory(partition, from, max_records - records.length) ?? this.select_records.all(partition, from, max_records - records.length);
      let next = from;
      for (const row of rows) {
        assert(row.offset >= next, "LogSqlite fetch: offsets come back ascending");
        records.push({ partition, offset: row.offset, key: row.key, record: JSON.parse(row.record) as LogRecord, generation: member.generation });
        next = row.offset + 1;
      }
      member.fetch_offsets.set(partition, next);
    }
    if (count > 0) member.next_start = (member.next_start + 1) % count;
    return records;
  }

  private commit(member: Member, offsets: readonly LogPosition[], generation: number): Promise<CommitOutcome> {
    const requested = offsets.map((position) => ({ partition: position.partition, offset: position.offset }));
    return this.database.write((): CommitOutcome => {
      const state = this.groups.get(member.group);
      if (!member.live || state === undefined || generation !== state.generation || generation !== member.generation) return "fenced";
      if (!requested.every((position) => member.assignment.includes(position.partition))) return "fenced";
      for (const position of requested) {
        const next_offset = this.boundsOf(position.partition).next_offset;
        assert(
          Number.isInteger(position.offset) && position.offset >= 0 && position.offset <= next_offset,
          `LogSqlite commit: offset ${position.offset} of partition ${position.partition} is beyond its end ${next_offset}`,
        );
      }
      for (const position of requested) this.upsert_committed.run(member.group, position.partition, position.offset);
      for (const position of requested) state.committed.set(position.partition, position.offset);
      return "ok";
    });
  }

  private async leave(member: Member): Promise<void> {
    if (!member.live) return;
    await this.database.write(() => {
      if (!member.live) return;
      const state = this.groups.get(member.group);
      if (state === undefined || state.members.get(member.member_id) !== member) {
        this.end(member, "closed");
        return;
      }
      const generation = state.generation + 1;
      this.delete_member.run(member.group, member.member_id);
      this.upsert_group.run(member.group, generation);
      this.end(member, "closed");
      state.members.delete(member.member_id);
      this.rebalance(state, generation);
    });
  }

  private end(member: Member, why: NonNullable<Member["ended"]>): void {
    member.live = false;
    member.ended = why;
    member.assignment = [];
    member.fetch_offsets.clear();
    this.wake();
  }

  private rebalance(state: Group, generation: number): void {
    assert(generation > state.generation, "LogSqlite rebalance: generations only grow");
    state.generation = generation;
    const owned = assignPartitions([...state.members.keys()], this.partition_count);
    for (const [member_id, member] of state.members) {
      member.generation = generation;
      member.assignment = owned.get(member_id) ?? [];
      member.next_start = 0;
      member.fetch_offsets.clear();
      for (const partition of member.assignment) member.fetch_offsets.set(partition, state.committed.get(partition) ?? 0);
    }
    this.wake();
  }

  /** The group's state, loaded from its tables the first time this process sees it. */
  private groupState(group: string): Group {
    let state = this.groups.get(group);
    if (state === undefined) {
      const generation = this.select_group.get(group)?.generation ?? 0;
      const committed = new Map(this.select_committed.all(group).map((row) => [row.partition, row.next_offset] as const));
      state = { generation, members: new Map(), committed };
      this.groups.set(group, state);
    }
    return state;
  }

  /** Drops the oldest records of a partition once it holds a quarter more than it keeps. */
  /** A partition holds a quarter more than it keeps: time to trim (in batches, not per append). */
  private trimDue(bounds: Bounds): boolean {
    const max = this.retained_records_per_partition_max;
    return bounds.next_offset - bounds.first_offset > max + Math.max(1, Math.floor(max / 4));
  }

  /** Drops the records before the newest `retained_records_per_partition_max` (one statement). */
  private trim(partition: number, bounds: Bounds): void {
    if (!this.trimDue(bounds)) return; // an earlier queued trim already did it
    const first_offset = bounds.next_offset - this.retained_records_per_partition_max;
    this.trim_records.run(partition, first_offset);
    bounds.first_offset = first_offset;
  }

  private checkPartitionCount(): void {
    const stored = this.database.prepare<[], { value: number }>("SELECT value FROM log_settings WHERE name = 'partition_count'").get();
    if (stored === undefined) {
      this.database.prepare<[number]>("INSERT INTO log_settings (name, value) VALUES ('partition_count', ?)").run(this.partition_count);
      return;
    }
    if (stored.value !== this.partition_count) {
      throw new Error(
        `LogSqlite: ${this.database.path} holds a log of ${stored.value} partitions; opening it with partition_count ${this.partition_count} would move keys between partitions`,
      );
    }
  }

  private loadBounds(): Bounds[] {
    const bounds: Bounds[] = Array.from({ length: this.partition_count }, () => ({ first_offset: 0, next_offset: 0 }));
    const rows = this.database
      .prepare<[], { partition: number; first_offset: number; last_offset: number }>(
        'SELECT "partition" AS partition, MIN("offset") AS first_offset, MAX("offset") AS last_offset FROM log GROUP BY "partition"',
      )
      .all();
    for (const row of rows) {
      const stored = bounds[row.partition];
      assert(stored !== undefined, `LogSqlite: the file holds records of partition ${row.partition}, outside [0, ${this.partition_count})`);
      stored.first_offset = row.first_offset;
      stored.next_offset = row.last_offset + 1;
    }
    return bounds;
  }

  private boundsOf(partition: number): Bounds {
    const bounds = this.bounds[partition];
    assert(bounds !== undefined, `LogSqlite: partition ${partition} is outside [0, ${this.partition_count})`);
    return bounds;
  }

  private remember(partition: number, offset: number, key: string, json: string): void {
    const recent = this.recent[partition]!;
    if (recent.first_offset + recent.items.length !== offset) {
      // Not contiguous with what is kept (the first append after opening the file).
      recent.first_offset = offset;
      recent.items = [];
    }
    recent.items.push({ key, json });
    if (recent.items.length > 2 * RECENT_RECORDS_MAX) {
      recent.items.splice(0, RECENT_RECORDS_MAX);
      recent.first_offset += RECENT_RECORDS_MAX;
    }
  }

  /** Rows from `from` on, if memory holds all of them (see the header); null sends the fetch to SQL. */
  private fromMemory(partition: number, from: number, limit: number): RecordRow[] | null {
    const recent = this.recent[partition]!;
    if (from < recent.first_offset || from >= recent.first_offset + recent.items.length || !this.database.healthy) return null;
    const rows: RecordRow[] = [];
    for (let offset = from; offset < recent.first_offset + recent.items.length && rows.length < limit; offset++) {
      const item = recent.items[offset - recent.first_offset]!;
      rows.push({ offset, key: item.key, record: item.json });
    }
    return rows;
  }

  private changed(wait_ms: number): Promise<void> {
    return this.waiters.changed(wait_ms);
  }

  private wake(): void {
    this.waiters.wake();
  }
}

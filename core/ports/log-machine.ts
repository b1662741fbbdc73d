/**
 * LogMachine: the one ground truth of the Log port (log.ts), a synchronous in-process state
 * machine. `adapters/memory/log-memory.ts` is a Promise shell over it, the simulator's
 * `sim/log-sim.ts` a fault-injecting shell over it (the FoundationDB pattern: one behaviour,
 * two drivers), and both run the Log contract suite. It behaves like Kafka with the eager
 * rebalance protocol.
 *
 * Rules:
 * - The key picks the partition with `partitionOf`; partitions are numbered from `base`
 *   (a region's log numbers its partitions after the previous region's, so a partition number
 *   names one partition in a whole deployment). Offsets start at 0 and grow by one per append.
 * - A group rebalances whenever a member joins or leaves (or `rebalance` is called, as a
 *   broker does after a session timeout): the generation goes up by one and partitions are
 *   spread by `assignPartitions`. Each member's fetch position restarts at the group's
 *   committed offset for each partition it now owns, so records after it are handed out again.
 * - Each join gets its own number (a broker gives each join its own member ID). A join under a
 *   live member ID replaces that member; calls naming an older join find no member (poll
 *   answers null, commit "fenced"), and closing an older join removes nothing.
 * - The fetch positions are the consumer's, as in Kafka: poll reads from the positions the
 *   consumer says it reached (for the generation it names), else from where the assignment
 *   set them. The machine does not move them on its own, so a response lost on the way back
 *   is simply fetched again.
 * - `stale_ms` > 0 keeps a member reading the partitions a rebalance took from it for that
 *   long (a consumer that has not yet heard of the rebalance); its records carry the old
 *   generation, so its commits are fenced. The simulator draws it; the memory log passes 0.
 * - commit succeeds only for the live join of the current generation that owns every
 *   partition named, and moves "next offset to read" forwards, never back: a consumer's
 *   commits reach a Kafka broker in the order it sent them (one connection), and a later
 *   one never names a lower offset, but the simulated network can reorder two commits in
 *   flight (the swarm does, at seeds 8, 13, 16), and applying the older one last would hand
 *   out again records already handled. An offset beyond a partition's end is a caller's bug
 *   and throws.
 * - A partition keeps its newest `retained_records_per_partition_max` records (up to a
 *   quarter more between trims); a position below the first retained offset jumps to it
 *   (Kafka's retention with auto.offset.reset=earliest).
 */
import type { ConsumedRecord, LogPosition, LogRecord } from "../model.js";
import { assert } from "../result.js";
import { assignPartitions, partitionOf, type CommitOutcome } from "./log.js";

export type LogMachineOptions = {
  readonly partition_count: number;
  /** The number of this log's first partition (0 unless several logs share one numbering). */
  readonly base?: number;
  /** Unbounded when absent. */
  readonly retained_records_per_partition_max?: number;
};

type Entry = { readonly key: string; readonly record: LogRecord };

type Partition = {
  /** Offset of entries[0]. */
  base_offset: number;
  readonly entries: Entry[];
};

type Member = {
  readonly member_id: string;
  assigned: number[];
  /** Where the assignment (or the consumer's last positions) put each owned partition. */
  fetch: Map<number, number>;
  /** Partitions that moved away but this member still reads until `until_ms`. */
  stale: Map<number, { fetch: number; generation: number; until_ms: number }>;
  generation: number;
  /** Which join made this member. */
  readonly join: number;
};

type Group = { generation: number; readonly members: Map<string, Member>; readonly committed: number[] };

export type LogGroupSnapshot = {
  readonly generation: number;
  readonly member_ids: readonly string[];
  /** Committed "next offset to read" of each partition past its first record. */
  readonly committed: ReadonlyMap<number, number>;
};

const NO_POSITIONS: ReadonlyMap<number, number> = new Map();

export class LogMachine {
  readonly partition_count: number;
  readonly base: number;
  private readonly retained_max: number;
  private readonly partitions: Partition[];
  readonly groups = new Map<string, Group>();
  private joins = 0;

  constructor(options: LogMachineOptions) {
    this.partition_count = options.partition_count;
    this.base = options.base ?? 0;
    this.retained_max = options.retained_records_per_partition_max ?? Number.POSITIVE_INFINITY;
    assert(Number.isInteger(this.partition_count) && this.partition_count > 0, "LogMachine: partition_count must be a positive integer");
    assert(Number.isInteger(this.base) && this.base >= 0, "LogMachine: base must be a non-negative integer");
    assert(this.retained_max > 0, "LogMachine: retained_records_per_partition_max must be positive");
    this.partitions = Array.from({ length: this.base + this.partition_count }, () => ({ base_offset: 0, entries: [] }));
  }

  append(key: string, record: LogRecord): LogPosition {
    const partition = this.base + partitionOf(key, this.partition_count);
    const stored = this.partitions[partition]!;
    const offset = stored.base_offset + stored.entries.length;
    stored.entries.push({ key, record });
    if (stored.entries.length > this.retained_max) this.trim(stored);
    return { partition, offset };
  }

  /** The offset the next append to `partition` gets, and the first one still retained. */
  bounds(partition: number): { readonly first_offset: number; readonly next_offset: number } {
    const stored = this.partitions[partition];
    assert(stored !== undefined && partition >= this.base, `LogMachine: partition ${partition} is outside [${this.base}, ${this.base + this.partition_count})`);
    return { first_offset: stored.base_offset, next_offset: stored.base_offset + stored.entries.length };
  }

  /** Joins (or replaces) `member_id`; returns the join's number, which later calls name. */
  join(group: string, member_id: string, now_ms: number, stale_ms: number): number {
    const g = this.group(group);
    const join = ++this.joins;
    g.members.set(member_id, { member_id, assigned: [], fetch: new Map(), stale: new Map(), generation: g.generation, join });
    this.rebalance(group, now_ms, stale_ms);
    return join;
  }

  /**
   * Removes the member, only if it is still the one join `join` made (any join when absent:
   * a session timeout). A host that retries a join under the same member ID closes the
   * consumer of the join that answered too late; that close must not remove the retry's
   * live member (sim seed 288). Answers whether a member left.
   */
  leave(group: string, member_id: string, now_ms: number, join?: number): boolean {
    const g = this.group(group);
    const m = g.members.get(member_id);
    if (m === undefined || (join !== undefined && m.join !== join)) return false;
    g.members.delete(member_id);
    this.rebalance(group, now_ms, 0);
    return true;
  }

  /** New generation; partitions spread over the members; fetch restarts at the commit. */
  rebalance(group: string, now_ms: number, stale_ms: number): void {
    const g = this.group(group);
    g.generation++;
    const owned = assignPartitions([...g.members.keys()], this.partition_count, this.base);
    for (const m of g.members.values()) {
      const assigned = owned.get(m.member_id) ?? [];
      if (stale_ms > 0) {
        for (const p of m.assigned) {
          if (!assigned.includes(p)) m.stale.set(p, { fetch: m.fetch.get(p) ?? g.committed[p]!, generation: m.generation, until_ms: now_ms + stale_ms });
        }
      }
      m.assigned = assigned;
      m.fetch = new Map(assigned.map((p) => [p, g.committed[p]!]));
      m.generation = g.generation;
    }
  }

  /** Forgets fetch positions: the member reads again from the committed offsets. */
  rewind(group: string, member_id: string): void {
    const g = this.group(group);
    const m = g.members.get(member_id);
    if (m !== undefined) m.fetch = new Map(m.assigned.map((p) => [p, g.committed[p]!]));
  }

  /**
   * A fetch of up to `max` records: first from partitions read stale, then from the owned
   * ones, starting at the `start`-th owned partition (a consumer that rotates it keeps one
   * busy partition from starving the others). `positions` are where the consumer got to
   * under `positions_generation`. Null when `member_id` (of join `join`, when given) is not
   * in the group.
   */
  poll(
    group: string,
    member_id: string,
    max: number,
    now_ms: number,
    positions: ReadonlyMap<number, number> = NO_POSITIONS,
    positions_generation = -1,
    join?: number,
    start = 0,
  ): ConsumedRecord[] | null {
    const g = this.group(group);
    const m = g.members.get(member_id);
    if (m === undefined || (join !== undefined && m.join !== join)) return null;
    if (positions_generation === m.generation) {
      for (const [p, offset] of positions) if (m.assigned.includes(p)) m.fetch.set(p, offset);
    }
    const out: ConsumedRecord[] = [];
    for (const [p, s] of m.stale) {
      if (now_ms >= s.until_ms) {
        m.stale.delete(p);
        continue;
      }
      const stored = this.partitions[p]!;
      if (s.fetch < stored.base_offset) s.fetch = stored.base_offset;
      const end = stored.base_offset + stored.entries.length;
      while (s.fetch < end && out.length < max) {
        const r = stored.entries[s.fetch - stored.base_offset]!;
        out.push({ partition: p, offset: s.fetch, key: r.key, record: r.record, generation: s.generation });
        s.fetch++;
      }
    }
    const count = m.assigned.length;
    for (let step = 0; step < count && out.length < max; step++) {
      const p = m.assigned[(start + step) % count]!;
      const stored = this.partitions[p]!;
      let at = m.fetch.get(p) ?? g.committed[p]!;
      if (at < stored.base_offset) at = stored.base_offset;
      const end = stored.base_offset + stored.entries.length;
      while (at < end && out.length < max) {
        const r = stored.entries[at - stored.base_offset]!;
        out.push({ partition: p, offset: at, key: r.key, record: r.record, generation: m.generation });
        at++;
      }
    }
    return out;
  }

  commit(group: string, member_id: string, offsets: readonly LogPosition[], generation: number, join?: number): CommitOutcome {
    const g = this.group(group);
    const m = g.members.get(member_id);
    if (m === undefined || (join !== undefined && m.join !== join) || generation !== g.generation) return "fenced";
    for (const o of offsets) if (!m.assigned.includes(o.partition)) return "fenced";
    for (const o of offsets) {
      const end = this.bounds(o.partition).next_offset;
      assert(Number.isInteger(o.offset) && o.offset >= 0 && o.offset <= end, `LogMachine commit: offset ${o.offset} of partition ${o.partition} is beyond its end ${end}`);
    }
    for (const o of offsets) if (o.offset > g.committed[o.partition]!) g.committed[o.partition] = o.offset;
    return "ok";
  }

  /** The member's generation and owned partitions now, or null when it (that join) is gone. */
  member(group: string, member_id: string, join?: number): { readonly generation: number; readonly assigned: readonly number[] } | null {
    const m = this.groups.get(group)?.members.get(member_id);
    return m === undefined || (join !== undefined && m.join !== join) ? null : m;
  }

  /** The group as it stands, for tests and debugging. */
  snapshot(group: string): LogGroupSnapshot | null {
    const g = this.groups.get(group);
    if (g === undefined) return null;
    return { generation: g.generation, member_ids: [...g.members.keys()].sort(), committed: new Map(g.committed.flatMap((offset, p) => (offset > 0 ? [[p, offset] as const] : []))) };
  }

  /** Removes every group (the log closed). */
  clear(): void {
    this.groups.clear();
  }

  /**
   * Records no live member of `group` has fetched yet, across partitions. Unlike the commit
   * lag, this ignores a commit the broker lost after the records were handled (harmless
   * until a rebalance, which then redelivers idempotently).
   */
  unfetched(group: string): number {
    const g = this.group(group);
    let n = 0;
    for (let p = this.base; p < this.base + this.partition_count; p++) n += this.unfetchedOf(g, p);
    return n;
  }

  /** Per partition with records no live member of `group` fetched: how many, from which offset. */
  unfetchedByPartition(group: string): { partition: number; from: number; count: number }[] {
    const g = this.group(group);
    const out: { partition: number; from: number; count: number }[] = [];
    for (let p = this.base; p < this.base + this.partition_count; p++) {
      const count = this.unfetchedOf(g, p);
      if (count > 0) out.push({ partition: p, from: this.bounds(p).next_offset - count, count });
    }
    return out;
  }

  private unfetchedOf(g: Group, p: number): number {
    let reached = g.committed[p]!;
    for (const m of g.members.values()) if (m.assigned.includes(p)) reached = Math.max(reached, m.fetch.get(p) ?? 0);
    return this.bounds(p).next_offset - reached;
  }

  /** Records not yet committed by `group`, across partitions. */
  lag(group: string): number {
    const g = this.group(group);
    let lag = 0;
    for (let p = this.base; p < this.base + this.partition_count; p++) lag += this.bounds(p).next_offset - g.committed[p]!;
    return lag;
  }

  /** Records appended, across partitions. */
  get size(): number {
    let n = 0;
    for (const stored of this.partitions) n += stored.base_offset + stored.entries.length;
    return n;
  }

  private group(name: string): Group {
    let g = this.groups.get(name);
    if (g === undefined) {
      g = { generation: 0, members: new Map(), committed: new Array<number>(this.base + this.partition_count).fill(0) };
      this.groups.set(name, g);
    }
    return g;
  }

  /** Drops the oldest records once a partition holds a quarter more than it keeps (amortised). */
  private trim(stored: Partition): void {
    const max = this.retained_max;
    if (stored.entries.length <= max + Math.max(1, Math.floor(max / 4))) return;
    const dropped = stored.entries.length - max;
    stored.entries.splice(0, dropped);
    stored.base_offset += dropped;
  }
}

/**
 * The simulated log: partitions, consumer groups with generations, committed offsets,
 * at-least-once redelivery, rebalances, and the stale member that keeps reading a partition
 * after it moved (its commits are fenced). State is plain and synchronous; the port methods
 * go through Kernel.call, where the seed's faults apply.
 */
import type { ConsumedRecord, LogPosition, LogRecord } from "../core/model.js";
import { partitionOf, type CommitOutcome, type Log, type LogConsumer } from "../core/ports/log.js";
import type { Kernel, SimNode } from "./kernel.js";
import { SyncPromise } from "./sync-promise.js";

type Member = {
  readonly member_id: string;
  /**
   * Which join made this membership. A host retries a join that timed out under the same
   * member ID and closes the consumer the late answer brings; that close must end only the
   * late consumer's membership, not the live one's (as in Kafka, where the broker gives each
   * join its own member ID). Without it, both routers of sim seed 774 were left out of the
   * group for good (found when explaining issue 13's note: a reverted input queue in the
   * router host only changed the timing that hit it).
   */
  readonly instance: number;
  assigned: number[];
  fetch: Map<number, number>;
  /** Partitions that moved away but this member still reads until `until_ms` (stale router). */
  stale: Map<number, { fetch: number; generation: number; until_ms: number }>;
  generation: number;
};

type Group = { generation: number; members: Map<string, Member>; committed: number[] };

export class LogState {
  readonly partitions: { key: string; record: LogRecord }[][];
  readonly groups = new Map<string, Group>();

  constructor(readonly partition_count: number) {
    this.partitions = Array.from({ length: partition_count }, () => []);
  }

  append(key: string, record: LogRecord): LogPosition {
    const partition = partitionOf(key, this.partition_count);
    const list = this.partitions[partition]!;
    list.push({ key, record });
    return { partition, offset: list.length - 1 };
  }

  private group(name: string): Group {
    let g = this.groups.get(name);
    if (g === undefined) {
      g = { generation: 0, members: new Map(), committed: new Array<number>(this.partition_count).fill(0) };
      this.groups.set(name, g);
    }
    return g;
  }

  private joins = 0;

  /** Answers the membership's instance, which its consumer names when it leaves. */
  join(group: string, member_id: string, now_ms: number, stale_ms: number): number {
    const g = this.group(group);
    const instance = ++this.joins;
    g.members.set(member_id, { member_id, instance, assigned: [], fetch: new Map(), stale: new Map(), generation: g.generation });
    this.rebalance(group, now_ms, stale_ms);
    return instance;
  }

  /** `instance`: only that join's membership ends (a consumer's close); none: whichever is there (a session timeout). */
  leave(group: string, member_id: string, now_ms: number, instance?: number): void {
    const g = this.group(group);
    const m = g.members.get(member_id);
    if (m === undefined || (instance !== undefined && m.instance !== instance)) return;
    g.members.delete(member_id);
    this.rebalance(group, now_ms, 0);
  }

  /** New generation; partitions spread over members in ID order; fetch restarts at the commit. */
  rebalance(group: string, now_ms: number, stale_ms: number): void {
    const g = this.group(group);
    g.generation++;
    const ids = [...g.members.keys()].sort();
    const owner = new Map<number, string>();
    for (let p = 0; p < this.partition_count; p++) if (ids.length > 0) owner.set(p, ids[p % ids.length]!);
    for (const m of g.members.values()) {
      if (stale_ms > 0) {
        for (const p of m.assigned) {
          if (owner.get(p) !== m.member_id) m.stale.set(p, { fetch: m.fetch.get(p) ?? g.committed[p]!, generation: m.generation, until_ms: now_ms + stale_ms });
        }
      }
      m.assigned = [...owner].filter(([, id]) => id === m.member_id).map(([p]) => p);
      m.fetch = new Map(m.assigned.map((p) => [p, g.committed[p]!]));
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
   * A fetch, as a Kafka consumer makes it: from the positions the consumer says it reached
   * (`positions`, learned from the records it received, for the generation it names), else
   * from the position the group's assignment set. The broker does not advance a position on
   * its own: a response lost on the way back is simply fetched again.
   */
  poll(group: string, member_id: string, max: number, now_ms: number, positions: ReadonlyMap<number, number> = new Map(), positions_generation = -1): ConsumedRecord[] | null {
    const g = this.group(group);
    const m = g.members.get(member_id);
    if (m === undefined) return null;
    if (positions_generation === m.generation) {
      for (const [p, offset] of positions) if (m.assigned.includes(p)) m.fetch.set(p, offset);
    }
    const out: ConsumedRecord[] = [];
    for (const [p, s] of m.stale) {
      if (now_ms >= s.until_ms) {
        m.stale.delete(p);
        continue;
      }
      const list = this.partitions[p]!;
      while (s.fetch < list.length && out.length < max) {
        const r = list[s.fetch]!;
        out.push({ partition: p, offset: s.fetch, key: r.key, record: r.record, generation: s.generation });
        s.fetch++;
      }
    }
    for (const p of m.assigned) {
      const list = this.partitions[p]!;
      let at = m.fetch.get(p) ?? g.committed[p]!;
      while (at < list.length && out.length < max) {
        const r = list[at]!;
        out.push({ partition: p, offset: at, key: r.key, record: r.record, generation: m.generation });
        at++;
      }
    }
    return out;
  }

  commit(group: string, member_id: string, offsets: readonly LogPosition[], generation: number): CommitOutcome {
    const g = this.group(group);
    const m = g.members.get(member_id);
    if (m === undefined || generation !== g.generation) return "fenced";
    for (const o of offsets) if (!m.assigned.includes(o.partition)) return "fenced";
    for (const o of offsets) g.committed[o.partition] = Math.max(g.committed[o.partition]!, o.offset);
    return "ok";
  }

  /**
   * Records no live member of `group` has fetched yet, across partitions. Unlike the commit
   * lag, this ignores a commit the broker lost after the records were handled (the fault
   * "log_commit_lost": harmless until a rebalance, which then redelivers idempotently).
   */
  unfetched(group: string): number {
    const g = this.group(group);
    let n = 0;
    for (let p = 0; p < this.partition_count; p++) {
      let reached = g.committed[p]!;
      for (const m of g.members.values()) if (m.assigned.includes(p)) reached = Math.max(reached, m.fetch.get(p) ?? 0);
      n += this.partitions[p]!.length - reached;
    }
    return n;
  }

  /** Per partition with records no live member of `group` fetched: how many, from which offset. */
  unfetchedByPartition(group: string): { partition: number; from: number; count: number }[] {
    const g = this.group(group);
    const out: { partition: number; from: number; count: number }[] = [];
    for (let p = 0; p < this.partition_count; p++) {
      let reached = g.committed[p]!;
      for (const m of g.members.values()) if (m.assigned.includes(p)) reached = Math.max(reached, m.fetch.get(p) ?? 0);
      const count = this.partitions[p]!.length - reached;
      if (count > 0) out.push({ partition: p, from: reached, count });
    }
    return out;
  }

  /** Records not yet committed by `group`, across partitions. */
  lag(group: string): number {
    const g = this.group(group);
    let lag = 0;
    for (let p = 0; p < this.partition_count; p++) lag += this.partitions[p]!.length - g.committed[p]!;
    return lag;
  }

  get size(): number {
    return this.partitions.reduce((n, p) => n + p.length, 0);
  }
}

export class LogSim implements Log {
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    readonly state: LogState,
    private readonly stale_ms: () => number,
  ) {}

  get partition_count(): number {
    return this.state.partition_count;
  }

  append(key: string, record: LogRecord): SyncPromise<LogPosition> {
    return this.kernel.call(this.node, "log", () => this.state.append(key, record), "append");
  }

  consumer(group: string, member_id: string): SyncPromise<LogConsumer> {
    return this.kernel.call(this.node, "log", () => {
      const instance = this.state.join(group, member_id, this.kernel.loop.now, this.stale_ms());
      return new LogConsumerSim(this.kernel, this.node, this.state, group, member_id, instance) as LogConsumer;
    });
  }

  close(): SyncPromise<void> {
    return this.kernel.call(this.node, "log", () => undefined, "read");
  }
}

/** How much longer than its wait a fetch may take before the consumer gives up on it. */
const FETCH_SLACK_MS = 400;

export class LogConsumerSim implements LogConsumer {
  /** Where this consumer got to per partition, and under which generation (client-side, as in Kafka). */
  private readonly positions = new Map<number, number>();
  private positions_generation = -1;

  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    private readonly state: LogState,
    private readonly group: string,
    readonly member_id: string,
    private readonly instance: number,
  ) {}

  /**
   * Like a Kafka client, the consumer owns its fetch timeout: a fetch that has not answered
   * within `wait_ms + FETCH_SLACK_MS` answers the caller with nothing, and a response that
   * comes later is dropped without moving the positions, so its records are fetched again.
   * (Moving positions for records the caller never took lost them: the simulator found it.)
   */
  poll(max_records: number, wait_ms: number): SyncPromise<ConsumedRecord[]> {
    const positions = new Map(this.positions);
    const generation = this.positions_generation;
    const answer = new SyncPromise<ConsumedRecord[]>();
    this.kernel.loop.after(wait_ms + FETCH_SLACK_MS, this.node.guard(() => answer.resolve([])));
    this.kernel
      .call(
        this.node,
        "log",
        () => {
          const records = this.state.poll(this.group, this.member_id, max_records, this.kernel.loop.now, positions, generation);
          if (records === null) throw new Error("not a member of the group");
          return records;
        },
        "read",
      )
      .then(
        (records) => {
          if (answer.isSettled) return; // Too late: the caller moved on; fetch these again.
          const current = this.state.groups.get(this.group)?.members.get(this.member_id)?.generation ?? -1;
          for (const r of records) {
            if (r.generation !== current) continue; // a stale partition's records (fault model)
            if (this.positions_generation !== r.generation) {
              this.positions.clear();
              this.positions_generation = r.generation;
            }
            this.positions.set(r.partition, r.offset + 1);
          }
          if (records.length > 0) {
            answer.resolve(records);
            return;
          }
          // An empty fetch waits before answering, as a real broker does.
          this.kernel.loop.after(Math.min(wait_ms, 25), this.node.guard(() => answer.resolve([])));
        },
        (error: unknown) => answer.reject(error),
      );
    return answer;
  }

  commit(offsets: readonly LogPosition[], generation: number): SyncPromise<CommitOutcome> {
    return this.kernel.call(this.node, "log", () => {
      if (this.kernel.fires("log_commit_lost", 0.05)) return "ok" as CommitOutcome;
      return this.state.commit(this.group, this.member_id, offsets, generation);
    });
  }

  assignment(): readonly number[] {
    return this.state.groups.get(this.group)?.members.get(this.member_id)?.assigned ?? [];
  }

  close(): SyncPromise<void> {
    return this.kernel.call(this.node, "log", () => this.state.leave(this.group, this.member_id, this.kernel.loop.now, this.instance));
  }
}

/**
 * The simulated log: a fault-injecting shell over the log's one state machine
 * (core/ports/log-machine.ts, which LogMemory wraps too). Every port call goes through
 * Kernel.call, where the seed's faults apply (lost requests and responses, outages, appends
 * that time out after applying, lost commits); the consumer keeps its fetch positions and
 * its fetch timeout client-side, as a Kafka client does.
 */
import type { ConsumedRecord, LogPosition, LogRecord } from "../core/model.js";
import type { CommitOutcome, Log, LogConsumer } from "../core/ports/log.js";
import { LogMachine } from "../core/ports/log-machine.js";
import type { Kernel, SimNode } from "./kernel.js";
import { SyncPromise } from "./sync-promise.js";

/**
 * The simulator's view of the log's one state machine (core/ports/log-machine.ts): the same
 * partitions, groups, generations and commits that LogMemory runs, numbered from `base` in a
 * world of several regions. The fault hooks the schedule uses (`rebalance` for a session
 * timeout, `rewind`, stale members) are the machine's own.
 */
export class LogState extends LogMachine {
  constructor(partition_count: number, base = 0) {
    super({ partition_count, base });
  }
}

export class LogSim implements Log {
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    readonly state: LogState,
    private readonly stale_ms: () => number,
    /** The region whose log this is (null in a single-region world). */
    private readonly region: number | null = null,
  ) {}

  get partition_count(): number {
    return this.state.partition_count;
  }

  append(key: string, record: LogRecord): SyncPromise<LogPosition> {
    return this.kernel.call(this.node, "log", () => this.state.append(key, record), "append", this.region);
  }

  consumer(group: string, member_id: string): SyncPromise<LogConsumer> {
    return this.kernel.call(this.node, "log", () => {
      const join = this.state.join(group, member_id, this.kernel.loop.now, this.stale_ms());
      return new LogConsumerSim(this.kernel, this.node, this.state, group, member_id, this.region, join) as LogConsumer;
    }, "write", this.region);
  }

  close(): SyncPromise<void> {
    return this.kernel.call(this.node, "log", () => undefined, "read", this.region);
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
    private readonly region: number | null = null,
    private readonly join?: number,
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
          const records = this.state.poll(this.group, this.member_id, max_records, this.kernel.loop.now, positions, generation, this.join);
          if (records === null) throw new Error("not a member of the group");
          return records;
        },
        "read",
        this.region,
      )
      .then(
        (records) => {
          if (answer.isSettled) return; // Too late: the caller moved on; fetch these again.
          const current = this.state.member(this.group, this.member_id, this.join)?.generation ?? -1;
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
      return this.state.commit(this.group, this.member_id, offsets, generation, this.join);
    }, "write", this.region);
  }

  assignment(): readonly number[] {
    return this.state.member(this.group, this.member_id, this.join)?.assigned ?? [];
  }

  close(): SyncPromise<void> {
    return this.kernel.call(this.node, "log", () => void this.state.leave(this.group, this.member_id, this.kernel.loop.now, this.join), "write", this.region);
  }
}

/** The log's one state machine: what its two shells (LogMemory, LogSim) rely on beyond the Log contract. */
import { describe, expect, it } from "vitest";
import type { LogRecord } from "../model.js";
import { LogMachine } from "./log-machine.js";
import { assignPartitions, partitionOf } from "./log.js";

const record = (n: number): LogRecord => ({ kind: "ack", user_id: "u", device_id: "d", conversation_id: "c", message_id: String(n).padStart(19, "0"), status: "delivered" }) as unknown as LogRecord;

describe("LogMachine", () => {
  it("assigns partition base+i to the (i mod n)-th member in sorted order", () => {
    expect([...assignPartitions(["b", "a"], 5, 10)]).toEqual([
      ["a", [10, 12, 14]],
      ["b", [11, 13]],
    ]);
    expect(assignPartitions([], 3).size).toBe(0);
  });

  it("never moves a committed offset backwards (two commits reordered in flight)", () => {
    const log = new LogMachine({ partition_count: 1 });
    for (let i = 0; i < 5; i++) log.append("k", record(i));
    const join = log.join("g", "m", 0, 0);
    expect(log.commit("g", "m", [{ partition: 0, offset: 4 }], 1, join)).toBe("ok");
    expect(log.commit("g", "m", [{ partition: 0, offset: 2 }], 1, join)).toBe("ok");
    expect(log.snapshot("g")?.committed.get(0)).toBe(4);
    log.rebalance("g", 0, 0);
    expect(log.poll("g", "m", 10, 0, undefined, -1, join)?.map((r) => r.offset)).toEqual([4]);
  });

  it("fences an older join of a member ID that joined again: no poll, no commit, its close removes nothing", () => {
    const log = new LogMachine({ partition_count: 2 });
    const first = log.join("g", "m", 0, 0);
    const second = log.join("g", "m", 0, 0);
    expect(log.poll("g", "m", 10, 0, undefined, -1, first)).toBeNull();
    expect(log.commit("g", "m", [], 2, first)).toBe("fenced");
    expect(log.leave("g", "m", 0, first)).toBe(false);
    expect(log.member("g", "m", second)?.assigned).toEqual([0, 1]);
  });

  it("lets a member read a partition a rebalance took from it for stale_ms, under the old generation", () => {
    const log = new LogMachine({ partition_count: 2 });
    // A key of partition 1, which moves from "a" to "b" when "b" joins.
    const key = ["k0", "k1", "k2", "k3", "k4", "k5"].find((k) => partitionOf(k, 2) === 1)!;
    log.append(key, record(0));
    const a = log.join("g", "a", 0, 0);
    log.join("g", "b", 0, 1_000);
    expect(log.member("g", "a", a)?.assigned).toEqual([0]);
    const stale = log.poll("g", "a", 10, 500, undefined, -1, a)!;
    expect(stale.map((r) => [r.partition, r.offset, r.generation])).toEqual([[1, 0, 1]]);
    expect(log.commit("g", "a", [{ partition: 1, offset: 1 }], 1, a)).toBe("fenced");
    log.append(key, record(1));
    expect(log.poll("g", "a", 10, 1_000, undefined, -1, a)).toEqual([]);
  });

  it("keeps the newest records of a partition and moves a position below them forwards", () => {
    const log = new LogMachine({ partition_count: 1, retained_records_per_partition_max: 4 });
    for (let i = 0; i < 10; i++) log.append("k", record(i));
    expect(log.bounds(0)).toEqual({ first_offset: 6, next_offset: 10 });
    const join = log.join("g", "m", 0, 0);
    expect(log.poll("g", "m", 100, 0, undefined, -1, join)?.map((r) => r.offset)).toEqual([6, 7, 8, 9]);
  });
});

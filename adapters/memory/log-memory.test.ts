import { describe, expect, it } from "vitest";
import { describeLogContract } from "../contract/log.contract.js";
import { LogMemory } from "./log-memory.js";
import type { SendRecord } from "../../core/model.js";
import { partitionOf } from "../../core/ports/log.js";

describeLogContract("LogMemory, 8 partitions", async () => {
  const log = new LogMemory();
  return { log, settle_ms: 2_000, cleanup: () => log.close() };
});

describeLogContract("LogMemory, 3 partitions", async () => {
  const log = new LogMemory({ partition_count: 3 });
  return { log, settle_ms: 2_000, cleanup: () => log.close() };
});

describeLogContract(
  "LogMemory, 1 partition",
  async () => {
    const log = new LogMemory({ partition_count: 1 });
    return { log, settle_ms: 2_000, cleanup: () => log.close() };
  },
  { single_partition: true },
);

const record = (key: string, n: number): SendRecord => ({
  kind: "send",
  conversation_id: key,
  sender_id: "u1",
  sender_device_id: "d1",
  origin: { gateway_id: "gw1", connection_id: "c1" },
  target: { kind: "direct", to: "u2" },
  content: `m${n}`,
  type: "text",
  client_msg_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  accepted_at_ms: 0,
});

describe("LogMemory", () => {
  it("places keys with core's partitionOf", async () => {
    const log = new LogMemory({ partition_count: 5 });
    for (const key of ["a", "b", "d.u1.u2", "g.x"]) {
      expect((await log.append(key, record(key, 0))).partition).toBe(partitionOf(key, 5));
    }
  });

  it("assigns partitions round-robin over sorted member ids and bumps the generation per change", async () => {
    const log = new LogMemory({ partition_count: 5 });
    const b = await log.consumer("g", "b");
    expect(log.groupSnapshot("g")?.generation).toBe(1);
    const a = await log.consumer("g", "a");
    expect(log.groupSnapshot("g")?.generation).toBe(2);
    expect(a.assignment()).toEqual([0, 2, 4]);
    expect(b.assignment()).toEqual([1, 3]);
    await a.close();
    expect(log.groupSnapshot("g")?.generation).toBe(3);
    expect(b.assignment()).toEqual([0, 1, 2, 3, 4]);
    expect(a.assignment()).toEqual([]);
  });

  it("returns an empty poll after wait_ms when nothing arrives, and at once with wait_ms 0", async () => {
    const log = new LogMemory();
    const c = await log.consumer("g", "m");
    const started = performance.now();
    expect(await c.poll(10, 0)).toEqual([]);
    expect(await c.poll(10, 50)).toEqual([]);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(45);
    expect(elapsed).toBeLessThan(1_000);
  });

  it("tags records with the generation and restarts fetch positions at the committed offset on rebalance", async () => {
    const log = new LogMemory({ partition_count: 1 });
    const a = await log.consumer("g", "a");
    for (let i = 0; i < 3; i++) await log.append("k", record("k", i));
    const first = await a.poll(10, 0);
    expect(first.map((r) => [r.offset, r.generation])).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
    expect(await a.commit([{ partition: 0, offset: 1 }], 1)).toBe("ok");
    const b = await log.consumer("g", "b");
    // Partition 0 goes to "a" (sorted first); its position restarts at the committed offset 1.
    expect(a.assignment()).toEqual([0]);
    expect(b.assignment()).toEqual([]);
    expect((await a.poll(10, 0)).map((r) => [r.offset, r.generation])).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect(await a.commit([{ partition: 0, offset: 3 }], 1)).toBe("fenced");
    expect(log.groupSnapshot("g")?.committed.get(0)).toBe(1);
    expect(await a.commit([{ partition: 0, offset: 3 }], 2)).toBe("ok");
    expect(log.groupSnapshot("g")?.committed.get(0)).toBe(3);
  });

  it("replaces a live member that joins again with the same member_id, fencing the old consumer", async () => {
    const log = new LogMemory({ partition_count: 2 });
    const old = await log.consumer("g", "m");
    const fresh = await log.consumer("g", "m");
    expect(log.groupSnapshot("g")?.member_ids).toEqual(["m"]);
    expect(fresh.assignment()).toEqual([0, 1]);
    expect(old.assignment()).toEqual([]);
    expect(await old.commit([{ partition: 0, offset: 0 }], 2)).toBe("fenced");
    await expect(old.poll(1, 0)).rejects.toThrow(/replaced/);
    // Closing the replaced consumer must not remove its successor.
    await old.close();
    expect(log.groupSnapshot("g")?.member_ids).toEqual(["m"]);
  });

  it("rejects commits beyond the end of a partition as a caller bug", async () => {
    const log = new LogMemory({ partition_count: 1 });
    const c = await log.consumer("g", "m");
    await log.append("k", record("k", 0));
    await expect(c.commit([{ partition: 0, offset: 5 }], 1)).rejects.toThrow(/beyond its end/);
  });

  it("retains a bounded number of records per partition and skips a lagging consumer forward", async () => {
    const log = new LogMemory({ partition_count: 1, retained_records_per_partition_max: 4 });
    const c = await log.consumer("g", "m");
    for (let i = 0; i < 20; i++) await log.append("k", record("k", i));
    const bounds = log.partitionBounds(0);
    expect(bounds.next_offset).toBe(20);
    expect(bounds.next_offset - bounds.first_offset).toBeLessThanOrEqual(5);
    expect(bounds.next_offset - bounds.first_offset).toBeGreaterThanOrEqual(4);
    const got = await c.poll(100, 0);
    expect(got[0]?.offset).toBe(bounds.first_offset);
    expect(got.at(-1)?.offset).toBe(19);
  });

  it("wakes waiting polls on close and rejects appends and new consumers afterwards", async () => {
    const log = new LogMemory();
    const c = await log.consumer("g", "m");
    const waiting = c.poll(10, 10_000);
    const started = performance.now();
    await log.close();
    await expect(waiting).rejects.toThrow(/log_closed/);
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(log.append("k", record("k", 0))).rejects.toThrow(/closed/);
    await expect(log.consumer("g", "n")).rejects.toThrow(/closed/);
  });

  it("copies appended records so later changes by the caller do not reach the log", async () => {
    const log = new LogMemory({ partition_count: 1 });
    const value = { ...record("k", 0) };
    await log.append("k", value);
    (value as { content: string }).content = "changed";
    const c = await log.consumer("g", "m");
    expect((await c.poll(1, 0))[0]?.record).toMatchObject({ content: "m0" });
  });
});

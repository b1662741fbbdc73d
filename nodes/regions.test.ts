/**
 * The production region wrappers (nodes/regions.ts) over in-memory stores: where a send is
 * appended (its conversation's ordering region), how a partition is numbered across regions,
 * and how the router's pending writes split between this region's store and its outbox.
 */
import { describe, expect, it } from "vitest";
import { LogMemory } from "../adapters/memory/log-memory.js";
import { PendingStoreMemory } from "../adapters/memory/pending-store-memory.js";
import { directConversationId, groupConversationId } from "../core/ids/conversation.js";
import type { LogRecord, PendingEntry } from "../core/model.js";
import type { RelayOp } from "../core/region/relay.js";
import { HomeRegions, PartitionShiftedLog, RegionalLog, RegionalPending, type HomeLookup } from "./regions.js";

function directory(homes: Record<string, string | null>, creators: Record<string, string> = {}) {
  const calls = { homes: 0, groups: 0 };
  const lookup: HomeLookup = {
    async homeRegions(ids) {
      calls.homes++;
      return new Map(ids.filter((u) => u in homes).map((u) => [u, homes[u]!]));
    },
    async group(group_id) {
      calls.groups++;
      return group_id in creators ? { creator_id: creators[group_id]! } : null;
    },
  };
  return { lookup, calls };
}

const send = (conversation_id: string): LogRecord => ({
  kind: "send",
  conversation_id,
  sender_id: "u_b",
  sender_device_id: "d",
  origin: { gateway_id: "gw", connection_id: "c" },
  target: { kind: "direct", to: "u_a" },
  content: "hi",
  type: "text",
  client_msg_id: "00000000-0000-4000-8000-000000000000",
  accepted_at_ms: 1,
});

const entry = (user_id: string, n: number): PendingEntry => ({
  user_id,
  device_id: "d1",
  message: { message_id: String(n).padStart(19, "0"), conversation_id: "c", sender_id: "s", sender_device_id: "ds", group_id: null, content: "x", type: "text", client_msg_id: "c", sent_at_ms: n, prev_message_id: null },
});

describe("HomeRegions", () => {
  it("orders a direct chat in its lower user's home and a group in its creator's, asking the directory once per user", async () => {
    const d = directory({ u_a: "us", u_b: "eu", u_c: null, u_d: "mars" }, { g1: "u_b" });
    const homes = new HomeRegions(d.lookup, new Set(["eu", "us"]), "eu");
    expect(await homes.orderingRegionOf(directConversationId("u_b", "u_a"))).toBe("us");
    expect(await homes.orderingRegionOf(directConversationId("u_a", "u_b"))).toBe("us");
    expect(await homes.orderingRegionOf(groupConversationId("g1"))).toBe("eu");
    // No home recorded, a home outside REGIONS, an unknown group: the default region.
    expect(await homes.orderingRegionOf(directConversationId("u_c", "u_z"))).toBe("eu");
    expect((await homes.homeOf(["u_d"])).get("u_d")).toBe("eu");
    expect(await homes.orderingRegionOf(groupConversationId("g_unknown"))).toBe("eu");
    const before = { ...d.calls };
    await homes.orderingRegionOf(directConversationId("u_b", "u_a"));
    await homes.orderingRegionOf(groupConversationId("g1"));
    expect(d.calls).toEqual(before);
  });
});

describe("PartitionShiftedLog", () => {
  it("numbers a region's partitions from its base in appends, polls, commits and assignments", async () => {
    const log = new PartitionShiftedLog(new LogMemory({ partition_count: 4 }), 16);
    const at = await log.append("k", send("d.u_a.u_b"));
    expect(at.partition).toBeGreaterThanOrEqual(16);
    expect(at.partition).toBeLessThan(20);
    const consumer = await log.consumer("g", "m1");
    expect(consumer.assignment()).toEqual([16, 17, 18, 19]);
    const [record] = await consumer.poll(10, 100);
    expect(record!.partition).toBe(at.partition);
    expect(await consumer.commit([{ partition: at.partition, offset: at.offset + 1 }], record!.generation)).toBe("ok");
    // A partition below the base is not this log's: fenced, never committed elsewhere.
    expect(await consumer.commit([{ partition: 3, offset: 1 }], record!.generation)).toBe("fenced");
    await consumer.close();
    const again = await log.consumer("g", "m2");
    expect(await again.poll(10, 50)).toEqual([]);
  });
});

describe("RegionalLog", () => {
  it("appends each record to its conversation's ordering region's log, and consumes only its own", async () => {
    const eu = new LogMemory({ partition_count: 2 });
    const us = new LogMemory({ partition_count: 2 });
    const homes = new HomeRegions(directory({ u_a: "us", u_b: "eu" }).lookup, new Set(["eu", "us"]), "eu");
    const log = new RegionalLog(new Map([["eu", new PartitionShiftedLog(eu, 0)], ["us", new PartitionShiftedLog(us, 2)]]), "eu", homes);
    const at = await log.append("d.u_a.u_b", send(directConversationId("u_a", "u_b")));
    expect(at.partition).toBeGreaterThanOrEqual(2);
    const us_consumer = await us.consumer("g", "m");
    expect((await us_consumer.poll(10, 100)).map((r) => r.record.conversation_id)).toEqual([directConversationId("u_a", "u_b")]);
    const eu_consumer = await log.consumer("g", "m");
    expect(await eu_consumer.poll(10, 50)).toEqual([]);
  });
});

describe("RegionalPending", () => {
  it("writes local members' entries here and remote members' puts and removals to the outbox, in one call", async () => {
    const local = new PendingStoreMemory();
    const appended: [string, RelayOp[]][] = [];
    const outbox = { append: async (dest: string, ops: readonly RelayOp[]) => void appended.push([dest, [...ops]]) };
    const homes = new HomeRegions(directory({ u_eu: "eu", u_us: "us", u_ap: "ap" }).lookup, new Set(["eu", "us", "ap"]), "eu");
    const pending = new RegionalPending(local, outbox, "eu", homes);
    await pending.put([entry("u_eu", 1), entry("u_us", 1), entry("u_ap", 1), entry("u_us", 2)]);
    expect((await pending.list("u_eu", "d1", null, 10)).length).toBe(1);
    expect(await local.count("u_us", "d1")).toBe(0);
    expect(appended.map(([dest, ops]) => [dest, ops.map((o) => (o.kind === "put" ? o.entries.map((e) => `${e.user_id}:${e.message.sent_at_ms}`) : o.kind))])).toEqual([
      ["us", [["u_us:1", "u_us:2"]]],
      ["ap", [["u_ap:1"]]],
    ]);
    await pending.remove("u_us", "d1", "c", entry("u_us", 1).message.message_id);
    await pending.remove("u_eu", "d1", "c", entry("u_eu", 1).message.message_id);
    expect(appended.at(-1)).toEqual(["us", [{ kind: "remove", user_id: "u_us", device_id: "d1", conversation_id: "c", message_id: entry("u_us", 1).message.message_id }]]);
    expect(await local.count("u_eu", "d1")).toBe(0);
  });

  it("fails the put when the outbox write fails, although the local write landed (the router retries the whole step)", async () => {
    const homes = new HomeRegions(directory({ u_eu: "eu", u_us: "us" }).lookup, new Set(["eu", "us"]), "eu");
    const pending = new RegionalPending(new PendingStoreMemory(), { append: async () => Promise.reject(new Error("outbox down")) }, "eu", homes);
    await expect(pending.put([entry("u_eu", 1), entry("u_us", 1)])).rejects.toThrow("outbox down");
  });
});

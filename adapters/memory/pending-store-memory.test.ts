/** PendingStoreMemory: the PendingStore contract, then what is particular to it (tombstone trim, close). */
import { describe, expect, it } from "vitest";
import type { PendingEntry } from "../../core/model.js";
import { describePendingStoreContract } from "../contract/pending-store.contract.js";
import { PendingStoreMemory } from "./pending-store-memory.js";

describePendingStoreContract("PendingStoreMemory", () => {
  const store = new PendingStoreMemory();
  return { store, cleanup: () => store.close() };
});

const id = (n: number): string => String(n).padStart(19, "0");

function entry(n: number): PendingEntry {
  return {
    user_id: "alice",
    device_id: "d1",
    message: {
      message_id: id(n),
      conversation_id: "c1",
      sender_id: "bob",
      sender_device_id: "b1",
      group_id: null,
      content: `m${n}`,
      type: "text",
      client_msg_id: `k${n}`,
      sent_at_ms: n,
      prev_message_id: null,
    },
  };
}

describe("PendingStoreMemory", () => {
  it("forgets old tombstones on request, after which an old put is taken again", async () => {
    const store = new PendingStoreMemory();
    await store.put([entry(1), entry(2)]);
    await store.remove("alice", "d1", "c1", id(1));
    await store.remove("alice", "d1", "c1", id(2));
    expect(store.forgetTombstonesBefore(id(2))).toBe(1);
    await store.put([entry(1), entry(2)]);
    expect((await store.list("alice", "d1", null, 10)).map((e) => e.message.message_id)).toEqual([id(1)]);
    await store.close();
  });

  it("refuses calls after close", async () => {
    const store = new PendingStoreMemory();
    await store.close();
    await expect(store.put([entry(1)])).rejects.toThrow(/after close/);
    await expect(store.count("alice", "d1")).rejects.toThrow(/after close/);
  });
});

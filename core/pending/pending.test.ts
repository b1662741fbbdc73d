/** The pending core by hand: puts, removes, reads and tombstone trims, with the state they leave. */
import { describe, expect, it } from "vitest";
import type { PendingEntry } from "../model.js";
import {
  pendingClone,
  pendingCount,
  pendingForgetTombstonesBefore,
  pendingInit,
  pendingList,
  pendingListConversation,
  pendingPut,
  pendingRemove,
} from "./index.js";

const id = (n: number): string => String(n).padStart(19, "0");

function entry(n: number, conversation_id = "c1", user_id = "alice", device_id = "d1", content = `m${n}`): PendingEntry {
  return {
    user_id,
    device_id,
    message: {
      message_id: id(n),
      conversation_id,
      sender_id: "bob",
      sender_device_id: "b1",
      group_id: null,
      content,
      type: "text",
      client_msg_id: `k${n}`,
      sent_at_ms: n,
      prev_message_id: null,
    },
  };
}

const ids = (entries: readonly PendingEntry[]): string[] => entries.map((e) => `${e.message.conversation_id}/${Number(e.message.message_id)}`);

describe("pending: put and list", () => {
  it("lists a device's entries by conversation, then by message ID, whatever the put order", () => {
    const state = pendingInit();
    expect(pendingPut(state, [entry(30, "c2"), entry(10, "c1"), entry(20, "c2"), entry(5, "c1"), entry(15, "c1")])).toBe(5);
    expect(ids(pendingList(state, "alice", "d1", null, 100))).toEqual(["c1/5", "c1/10", "c1/15", "c2/20", "c2/30"]);
    expect(pendingCount(state, "alice", "d1")).toBe(5);
  });

  it("orders 19-digit IDs numerically (9 before 10 before 100)", () => {
    const state = pendingInit();
    pendingPut(state, [entry(100), entry(9), entry(10)]);
    expect(ids(pendingList(state, "alice", "d1", null, 10))).toEqual(["c1/9", "c1/10", "c1/100"]);
  });

  it("is idempotent: a second put of the same entry adds nothing, and the first one's content stays", () => {
    const state = pendingInit();
    expect(pendingPut(state, [entry(1, "c1", "alice", "d1", "first")])).toBe(1);
    expect(pendingPut(state, [entry(1, "c1", "alice", "d1", "second"), entry(1)])).toBe(0);
    expect(pendingCount(state, "alice", "d1")).toBe(1);
    expect(pendingList(state, "alice", "d1", null, 10)[0]?.message.content).toBe("first");
  });

  it("reads strictly after the cursor, at most limit entries", () => {
    const state = pendingInit();
    pendingPut(state, [entry(1, "c1"), entry(2, "c1"), entry(3, "c2"), entry(4, "c2"), entry(5, "c3")]);
    expect(ids(pendingList(state, "alice", "d1", { conversation_id: "c1", message_id: id(1) }, 2))).toEqual(["c1/2", "c2/3"]);
    expect(ids(pendingList(state, "alice", "d1", { conversation_id: "c2", message_id: id(4) }, 10))).toEqual(["c3/5"]);
    // A cursor past the end of its conversation, or in a conversation with no entries, moves on.
    expect(ids(pendingList(state, "alice", "d1", { conversation_id: "c1", message_id: id(99) }, 1))).toEqual(["c2/3"]);
    expect(ids(pendingList(state, "alice", "d1", { conversation_id: "c15", message_id: id(0) }, 10))).toEqual(["c2/3", "c2/4", "c3/5"]);
    expect(pendingList(state, "alice", "d1", { conversation_id: "c9", message_id: id(0) }, 10)).toEqual([]);
    expect(pendingList(state, "alice", "d1", null, 0)).toEqual([]);
  });

  it("pages through everything with the last entry of each page as the next cursor", () => {
    const state = pendingInit();
    const all = [1, 2, 3, 4, 5, 6, 7].map((n) => entry(n, `c${n % 3}`));
    pendingPut(state, all);
    const seen: string[] = [];
    let page = pendingList(state, "alice", "d1", null, 3);
    while (page.length > 0) {
      seen.push(...ids(page));
      const last = page[page.length - 1] as PendingEntry;
      page = pendingList(state, "alice", "d1", { conversation_id: last.message.conversation_id, message_id: last.message.message_id }, 3);
    }
    expect(seen).toEqual(ids(pendingList(state, "alice", "d1", null, 100)));
    expect(seen).toHaveLength(7);
  });

  it("lists one conversation after a message ID, at most limit entries", () => {
    const state = pendingInit();
    pendingPut(state, [entry(1, "c1"), entry(2, "c2"), entry(3, "c1"), entry(4, "c1")]);
    expect(ids(pendingListConversation(state, "alice", "d1", "c1", null, 10))).toEqual(["c1/1", "c1/3", "c1/4"]);
    expect(ids(pendingListConversation(state, "alice", "d1", "c1", id(1), 1))).toEqual(["c1/3"]);
    expect(ids(pendingListConversation(state, "alice", "d1", "c1", id(2), 10))).toEqual(["c1/3", "c1/4"]);
    expect(pendingListConversation(state, "alice", "d1", "c9", null, 10)).toEqual([]);
    expect(pendingListConversation(state, "alice", "d1", "c1", null, 0)).toEqual([]);
  });

  it("keeps users and devices apart", () => {
    const state = pendingInit();
    pendingPut(state, [entry(1, "c1", "alice", "d1"), entry(2, "c1", "alice", "d2"), entry(3, "c1", "bob", "d1")]);
    expect(ids(pendingList(state, "alice", "d1", null, 10))).toEqual(["c1/1"]);
    expect(ids(pendingList(state, "alice", "d2", null, 10))).toEqual(["c1/2"]);
    expect(ids(pendingList(state, "bob", "d1", null, 10))).toEqual(["c1/3"]);
    expect(pendingCount(state, "carol", "d1")).toBe(0);
    expect(pendingList(state, "carol", "d1", null, 10)).toEqual([]);
  });
});

describe("pending: remove, a two-phase set", () => {
  it("removes an entry, and a later put of it is a no-op", () => {
    const state = pendingInit();
    pendingPut(state, [entry(1), entry(2)]);
    expect(pendingRemove(state, "alice", "d1", "c1", id(1))).toBe(true);
    expect(ids(pendingList(state, "alice", "d1", null, 10))).toEqual(["c1/2"]);
    expect(pendingPut(state, [entry(1)])).toBe(0);
    expect(ids(pendingList(state, "alice", "d1", null, 10))).toEqual(["c1/2"]);
    expect(pendingCount(state, "alice", "d1")).toBe(1);
    expect(pendingRemove(state, "alice", "d1", "c1", id(1))).toBe(false);
  });

  it("a remove that overtakes the put still wins (an ack before a stale router's write)", () => {
    const state = pendingInit();
    expect(pendingRemove(state, "alice", "d1", "c1", id(7))).toBe(false);
    expect(pendingPut(state, [entry(7)])).toBe(0);
    expect(pendingCount(state, "alice", "d1")).toBe(0);
  });

  it("drops a conversation from the device's walk when its last entry goes", () => {
    const state = pendingInit();
    pendingPut(state, [entry(1, "c1"), entry(2, "c2")]);
    pendingRemove(state, "alice", "d1", "c1", id(1));
    expect(state.users.get("alice")?.get("d1")?.live_conversation_ids).toEqual(["c2"]);
    expect(ids(pendingList(state, "alice", "d1", null, 10))).toEqual(["c2/2"]);
  });

  it("forgets old tombstones on request, and then takes an old put again", () => {
    const state = pendingInit();
    pendingPut(state, [entry(1), entry(2), entry(3)]);
    for (const n of [1, 2, 3]) pendingRemove(state, "alice", "d1", "c1", id(n));
    expect(pendingForgetTombstonesBefore(state, id(3))).toBe(2);
    expect(state.users.get("alice")?.get("d1")?.conversations.get("c1")?.tombstones).toEqual([id(3)]);
    expect(pendingPut(state, [entry(1), entry(3)])).toBe(1);
    expect(ids(pendingList(state, "alice", "d1", null, 10))).toEqual(["c1/1"]);
    pendingRemove(state, "alice", "d1", "c1", id(1));
    pendingForgetTombstonesBefore(state, id(100));
    expect(state.users.size).toBe(0);
  });
});

describe("pending: state handling", () => {
  it("reads never change the state; writes change it in place; pendingClone is independent", () => {
    const state = pendingInit();
    pendingPut(state, [entry(1), entry(2, "c2")]);
    const copy = pendingClone(state);
    pendingList(state, "alice", "d1", { conversation_id: "c1", message_id: id(0) }, 10);
    pendingListConversation(state, "alice", "d1", "c2", null, 10);
    pendingCount(state, "alice", "d1");
    expect(state).toEqual(copy);
    pendingRemove(state, "alice", "d1", "c1", id(1));
    expect(state).not.toEqual(copy);
    expect(pendingCount(copy, "alice", "d1")).toBe(2);
  });

  it("fails an assertion on a malformed message ID or limit, which only our own code could pass", () => {
    const state = pendingInit();
    expect(() => pendingPut(state, [{ ...entry(1), message: { ...entry(1).message, message_id: "12" } }])).toThrow(/message_id "12"/);
    expect(() => pendingRemove(state, "alice", "d1", "c1", "x".repeat(19))).toThrow(/pendingRemove/);
    expect(() => pendingList(state, "alice", "d1", null, -1)).toThrow(/limit -1/);
    expect(() => pendingListConversation(state, "alice", "d1", "c1", null, 1.5)).toThrow(/limit 1.5/);
    expect(() => pendingList(state, "alice", "d1", { conversation_id: "c1", message_id: "1" }, 1)).toThrow(/pendingList/);
  });
});

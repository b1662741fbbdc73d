/**
 * PendingStoreSqlite: the PendingStore contract suite against a fresh database file per test,
 * then what only this adapter has (survival across a reopen, tombstone trimming, the query
 * plans) and a few orderings the suite leaves to each adapter (a cursor between
 * conversations, a remove and a put of one tick).
 */
import { describe, expect, it } from "vitest";
import { describePendingStoreContract } from "../contract/pending-store.contract.js";
import { Database } from "./database.js";
import { MIGRATIONS } from "./migrations.js";
import { PendingStoreSqlite } from "./pending-store-sqlite.js";
import { tempDatabase, type TempDatabase } from "./test-support.js";
import type { PendingEntry, StoredMessage } from "../../core/model.js";

const id = (n: number): string => String(1_000_000_000_000_000_000n + BigInt(n) * 10n).padStart(19, "0");

const message = (conversation_id: string, n: number): StoredMessage => ({
  message_id: id(n),
  conversation_id,
  sender_id: "s",
  sender_device_id: "s-dev",
  group_id: null,
  content: `message ${n}`,
  type: "text",
  client_msg_id: `client-${conversation_id}-${n}`,
  sent_at_ms: n,
  prev_message_id: n === 0 ? null : id(n - 1),
});

const entry = (conversation_id: string, n: number, user_id = "u", device_id = "d"): PendingEntry => ({ user_id, device_id, message: message(conversation_id, n) });
const keys = (entries: readonly PendingEntry[]): string[] => entries.map((e) => `${e.message.conversation_id}/${e.message.message_id}`);
const key = (conversation_id: string, n: number): string => `${conversation_id}/${id(n)}`;

async function withStore(test: (store: PendingStoreSqlite, temp: TempDatabase) => Promise<void>): Promise<void> {
  const temp = tempDatabase();
  const store = new PendingStoreSqlite(temp.database);
  try {
    await test(store, temp);
  } finally {
    await store.close();
    await temp.cleanup();
  }
}

describePendingStoreContract("PendingStoreSqlite", () => {
  const temp = tempDatabase();
  const store = new PendingStoreSqlite(temp.database);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await temp.cleanup();
    },
  };
});

describe("PendingStoreSqlite", () => {
  it("lists by (conversation_id, message_id), strictly after the cursor, at most limit", () =>
    withStore(async (store) => {
      // Put out of order, across conversations: the store orders, not the arrival.
      await store.put([entry("c2", 5), entry("c1", 3), entry("c3", 1), entry("c1", 1), entry("c2", 2)]);
      const all = [key("c1", 1), key("c1", 3), key("c2", 2), key("c2", 5), key("c3", 1)];
      expect(keys(await store.list("u", "d", null, 10))).toEqual(all);
      expect(keys(await store.list("u", "d", null, 2))).toEqual(all.slice(0, 2));
      expect(keys(await store.list("u", "d", { conversation_id: "c1", message_id: id(3) }, 2))).toEqual(all.slice(2, 4));
      expect(keys(await store.list("u", "d", { conversation_id: "c2", message_id: id(5) }, 10))).toEqual(all.slice(4));
      expect(keys(await store.list("u", "d", { conversation_id: "c3", message_id: id(1) }, 10))).toEqual([]);
      // A cursor that is not a stored entry: between IDs, and between conversations.
      expect(keys(await store.list("u", "d", { conversation_id: "c1", message_id: id(2) }, 10))).toEqual(all.slice(1));
      expect(keys(await store.list("u", "d", { conversation_id: "c1~", message_id: id(0) }, 10))).toEqual(all.slice(2));
      expect(await store.list("u", "d", null, 0)).toEqual([]);
    }));

  it("pages through a device's entries without gaps or repeats", () =>
    withStore(async (store) => {
      const puts: PendingEntry[] = [];
      for (let c = 0; c < 5; c++) for (let n = 0; n < 7; n++) puts.push(entry(`c${c}`, n));
      await store.put(puts);
      const seen: string[] = [];
      let cursor: { conversation_id: string; message_id: string } | null = null;
      for (let page = 0; page < 100; page++) {
        const got: PendingEntry[] = await store.list("u", "d", cursor, 3);
        if (got.length === 0) break;
        seen.push(...keys(got));
        const last = got.at(-1) as PendingEntry;
        cursor = { conversation_id: last.message.conversation_id, message_id: last.message.message_id };
      }
      expect(seen).toEqual(keys(puts));
    }));

  it("never brings a removed entry back, even when it is put again (two-phase set)", () =>
    withStore(async (store) => {
      await store.put([entry("c1", 1), entry("c1", 2)]);
      await store.remove("u", "d", "c1", id(1));
      await store.put([entry("c1", 1)]);
      expect(keys(await store.list("u", "d", null, 10))).toEqual([key("c1", 2)]);
      expect(await store.count("u", "d")).toBe(1);
      // A remove that arrives before its put wins too; removing twice is harmless.
      await store.remove("u", "d", "c1", id(3));
      await store.remove("u", "d", "c1", id(3));
      await store.put([entry("c1", 3), entry("c1", 4)]);
      expect(keys(await store.list("u", "d", null, 10))).toEqual([key("c1", 2), key("c1", 4)]);
      // A remove and a put of one tick apply in request order.
      await Promise.all([store.remove("u", "d", "c1", id(5)), store.put([entry("c1", 5)])]);
      expect(keys(await store.listConversation("u", "d", "c1", id(4), 10))).toEqual([]);
    }));

  it("keeps entries and tombstones across a close and a reopen of the file", async () => {
    const temp = tempDatabase();
    try {
      const store = new PendingStoreSqlite(temp.database);
      await store.put([entry("c1", 1), entry("c1", 2)]);
      await store.remove("u", "d", "c1", id(1));
      await store.close();
      await temp.database.close();
      const reopened = Database.open(temp.path);
      try {
        const again = new PendingStoreSqlite(reopened);
        await again.put([entry("c1", 1)]);
        expect(await again.list("u", "d", null, 10)).toEqual([entry("c1", 2)]);
        await again.close();
      } finally {
        await reopened.close();
      }
    } finally {
      await temp.cleanup();
    }
  });

  it("forgets tombstones below a message ID on request, and only those", () =>
    withStore(async (store) => {
      await store.remove("u", "d", "c1", id(1));
      await store.remove("u", "d", "c1", id(5));
      expect(await store.forgetTombstonesBefore(id(3))).toBe(1);
      await store.put([entry("c1", 1), entry("c1", 5)]);
      expect(keys(await store.list("u", "d", null, 10))).toEqual([key("c1", 1)]);
    }));

  it("walks the devices that hold entries in key order, a page after a cursor, one primary-key seek per device", () =>
    withStore(async (store, temp) => {
      await store.put([entry("c1", 1, "u2", "b"), entry("c1", 1, "u1", "z"), entry("c1", 2, "u1", "z"), entry("c2", 3, "u1", "z"), entry("c1", 1, "u1", "a"), entry("c1", 1, "u3", "a")]);
      expect(await store.devicesWithEntries(null, 10)).toEqual([
        { user_id: "u1", device_id: "a" },
        { user_id: "u1", device_id: "z" },
        { user_id: "u2", device_id: "b" },
        { user_id: "u3", device_id: "a" },
      ]);
      expect(await store.devicesWithEntries(null, 2)).toEqual([
        { user_id: "u1", device_id: "a" },
        { user_id: "u1", device_id: "z" },
      ]);
      expect(await store.devicesWithEntries({ user_id: "u1", device_id: "z" }, 10)).toEqual([
        { user_id: "u2", device_id: "b" },
        { user_id: "u3", device_id: "a" },
      ]);
      await store.removeDevice("u3", "a");
      expect(await store.devicesWithEntries({ user_id: "u2", device_id: "b" }, 10)).toEqual([]);
      const plan = temp.database
        .prepare<unknown[], { detail: string }>("EXPLAIN QUERY PLAN SELECT user_id, device_id FROM pending WHERE (user_id, device_id) > (?, ?) ORDER BY user_id, device_id LIMIT 1")
        .all("u", "d")
        .map((row) => row.detail)
        .join(" | ");
      expect(plan).toMatch(/SEARCH pending USING PRIMARY KEY \(\(user_id,device_id\)>\(\?,\?\)\)/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    }));

  it("reads pages and counts through the primary key, never a full scan or a sort", () =>
    withStore(async (_store, temp) => {
      const plan = (sql: string, ...params: unknown[]): string =>
        temp.database
          .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...params)
          .map((row) => row.detail)
          .join(" | ");
      const list = plan(
        "SELECT user_id, device_id, message FROM pending WHERE user_id = ? AND device_id = ? AND (conversation_id, message_id) > (?, ?) ORDER BY conversation_id, message_id LIMIT ?",
        "u",
        "d",
        "c",
        id(1),
        10,
      );
      expect(list).toMatch(/SEARCH pending USING PRIMARY KEY \(user_id=\? AND device_id=\? AND \(conversation_id,message_id\)>\(\?,\?\)\)/);
      const count = plan("SELECT COUNT(*) AS count FROM pending WHERE user_id = ? AND device_id = ?", "u", "d");
      expect(count).toMatch(/SEARCH pending USING PRIMARY KEY \(user_id=\? AND device_id=\?\)/);
      for (const p of [list, count]) expect(p).not.toMatch(/TEMP B-TREE|SCAN/);
    }));

  it("keeps tombstones across migration 2, which keys them by message ID first; put and trim search that key", async () => {
    const temp = tempDatabase({ migrations: MIGRATIONS.slice(0, 1) });
    try {
      const old = new PendingStoreSqlite(temp.database);
      await old.put([entry("c1", 1), entry("c1", 2)]);
      await old.remove("u", "d", "c1", id(1));
      await old.remove("u", "d", "c1", id(7));
      // Before migration 9 the store deleted the entry itself (today a trigger does).
      temp.database.prepare("DELETE FROM pending WHERE message_id = ?").run(id(1));
      await old.close();
      await temp.database.close();
      const db = Database.open(temp.path);
      try {
        const store = new PendingStoreSqlite(db);
        // The removed entries stay removed: a stale put cannot bring them back.
        await store.put([entry("c1", 1), entry("c1", 7), entry("c1", 3)]);
        expect(keys(await store.list("u", "d", null, 10))).toEqual([key("c1", 2), key("c1", 3)]);
        const plan = (sql: string, ...params: unknown[]): string =>
          db
            .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
            .all(...params)
            .map((row) => row.detail)
            .join(" | ");
        expect(plan("SELECT 1 FROM pending_tombstones WHERE user_id = ? AND device_id = ? AND conversation_id = ? AND message_id = ?", "u", "d", "c", id(1))).toMatch(
          /SEARCH pending_tombstones USING PRIMARY KEY \(message_id=\? AND user_id=\? AND device_id=\? AND conversation_id=\?\)/,
        );
        expect(plan("DELETE FROM pending_tombstones WHERE message_id < ?", id(3))).toMatch(/SEARCH pending_tombstones USING PRIMARY KEY \(message_id<\?\)/);
        // One B-tree: the old second index is gone.
        expect(db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE tbl_name = 'pending_tombstones' AND type = 'index'").all()).toEqual([]);
        expect(await store.forgetTombstonesBefore(id(3))).toBe(1);
        await store.close();
      } finally {
        await db.close();
      }
    } finally {
      await temp.cleanup();
    }
  });

  it("rejects a negative limit and every call once closed", async () => {
    const temp = tempDatabase();
    try {
      const store = new PendingStoreSqlite(temp.database);
      await expect(store.list("u", "d", null, -1)).rejects.toThrow(/limit/);
      await store.close();
      await expect(store.count("u", "d")).rejects.toThrow(/closed/);
      await expect(store.put([entry("c1", 1)])).rejects.toThrow(/closed/);
    } finally {
      await temp.cleanup();
    }
  });
});

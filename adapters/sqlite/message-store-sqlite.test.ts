import { describe, expect, it } from "vitest";
import { describeMessageStoreContract } from "../contract/message-store.contract.js";
import { Database } from "./database.js";
import { MessageStoreSqlite } from "./message-store-sqlite.js";
import { MIGRATIONS } from "./migrations.js";
import { tempDatabase } from "./test-support.js";
import type { DedupClaim, SendClaim, StoredMessage } from "../../core/model.js";

describeMessageStoreContract("MessageStoreSqlite", async () => {
  const temp = tempDatabase();
  const store = new MessageStoreSqlite(temp.database);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await temp.cleanup();
    },
  };
});

const message = (message_id: string, content: string, sender_id = "a"): StoredMessage => ({
  message_id,
  conversation_id: "d.a.b",
  sender_id,
  sender_device_id: `${sender_id}-dev`,
  group_id: null,
  content,
  type: "text",
  client_msg_id: `client-${message_id}`,
  sent_at_ms: 1,
  prev_message_id: null,
});

const id = (n: number): string => String(n).padStart(19, "0");

/** The plan SQLite picks for `sql`, as one string of its details. */
function plan(database: Database, sql: string, ...params: unknown[]): string {
  return database
    .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
    .all(...params)
    .map((row) => row.detail)
    .join(" | ");
}

describe("MessageStoreSqlite", () => {
  it("answers getMessage for a just-written message as the file does, and a second put changes neither", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      await store.putMessage(message("0000000000000000001", "first"));
      await store.putMessage(message("0000000000000000001", "second"));
      const got = await store.getMessage("d.a.b", "0000000000000000001");
      expect(got?.content).toBe("first");
      // The caller's copy is its own.
      (got as { content: string }).content = "changed";
      expect((await store.getMessage("d.a.b", "0000000000000000001"))?.content).toBe("first");
      expect(await new MessageStoreSqlite(temp.database).getMessage("d.a.b", "0000000000000000001")).toEqual(await store.getMessage("d.a.b", "0000000000000000001"));
      expect(await store.getMessage("d.a.b", "0000000000000000002")).toBeNull();
    } finally {
      await temp.cleanup();
    }
  });

  it("keeps the first write of a message when a second one differs", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      await store.putMessage(message(id(1), "first"));
      await store.putMessage(message(id(1), "second"));
      expect((await store.getMessage("d.a.b", id(1)))?.content).toBe("first");
    } finally {
      await temp.cleanup();
    }
  });

  it("lets exactly one of many concurrent claims win, and answers every caller the winner", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      const claims: DedupClaim[] = Array.from({ length: 20 }, (_, i) => ({
        sender_id: "s",
        client_msg_id: "c",
        message_id: id(i + 1),
        conversation_id: "d.a.b",
        prev_message_id: null,
        position: { partition: 0, offset: i },
      }));
      const answers = await Promise.all(claims.map((claim) => store.claim(claim)));
      // Requests of one tick commit in request order, so the first one asked wins.
      for (const answer of answers) expect(answer).toEqual(claims[0]);
      expect(await store.getClaim("s", "c")).toEqual(claims[0]);
    } finally {
      await temp.cleanup();
    }
  });

  it("keeps the dedup records written before migration 8 (no audience) and stores a group's audience after it", async () => {
    const temp = tempDatabase({ migrations: MIGRATIONS.slice(0, 6) });
    try {
      temp.database
        .prepare(
          'INSERT INTO send_claims (sender_id, conversation_id, client_msg_id, message_id, prev_message_id, "partition", "offset", digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run("s", "g.g1", "old", id(1), null, 0, 7, "0123456789abcdef");
      await temp.database.close();
      const db = Database.open(temp.path);
      try {
        const store = new MessageStoreSqlite(db);
        expect(await store.findSendClaim("s", "g.g1", "old")).toEqual({
          sender_id: "s",
          client_msg_id: "old",
          message_id: id(1),
          conversation_id: "g.g1",
          prev_message_id: null,
          position: { partition: 0, offset: 7 },
          digest: "0123456789abcdef",
          members: null,
        });
        const claim: SendClaim = {
          sender_id: "s",
          client_msg_id: "new",
          message_id: id(2),
          conversation_id: "g.g1",
          prev_message_id: id(1),
          position: { partition: 0, offset: 8 },
          digest: "fedcba9876543210",
          members: ["s", "t"],
        };
        await store.putSendClaim(claim);
        expect(await store.findSendClaim("s", "g.g1", "new")).toEqual(claim);
        await store.close();
      } finally {
        await db.close();
      }
    } finally {
      await temp.cleanup();
    }
  });

  it("keeps everything across a close and a reopen of the file", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      await store.putMessage(message(id(1), "one"));
      await store.advanceReceipt(id(1), "b", "delivered");
      await store.markRead("b", "d.a.b", id(1));
      await store.touchInbox({
        user_id: "b",
        conversation_id: "d.a.b",
        kind: "direct",
        other_user_id: "a",
        group_id: null,
        last_message_id: id(1),
        last_message_at_ms: 1,
        last_message_preview: "one",
      });
      await store.close();
      await temp.database.close();

      const reopened = Database.open(temp.path);
      try {
        const again = new MessageStoreSqlite(reopened);
        expect(await again.getMessage("d.a.b", id(1))).toEqual(message(id(1), "one"));
        expect(await again.receipts(id(1))).toEqual([{ user_id: "b", status: "delivered" }]);
        expect(await again.readUpTo("b", "d.a.b")).toBe(id(1));
        expect((await again.inbox("b", null, 10)).map((e) => e.conversation_id)).toEqual(["d.a.b"]);
      } finally {
        await reopened.close();
      }
    } finally {
      await temp.cleanup();
    }
  });

  it("serves history and countAfter from the primary key, and an inbox page from one user's rows, never a full scan", async () => {
    const temp = tempDatabase();
    try {
      const db = temp.database;
      const history = plan(db, "SELECT * FROM messages WHERE conversation_id = ? AND message_id < ? ORDER BY message_id DESC LIMIT ?", "c", id(5), 10);
      expect(history).toMatch(/SEARCH messages USING PRIMARY KEY \(conversation_id=\? AND message_id<\?\)/);
      const count = plan(
        db,
        "SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND message_id > ? AND sender_id <> ?",
        "c",
        id(1),
        "a",
      );
      // No sender index (migration 5): the rows after the read mark, a range of the key.
      expect(count).toMatch(/SEARCH messages USING PRIMARY KEY \(conversation_id=\? AND message_id>\?\)/);
      const inbox = plan(
        db,
        "SELECT * FROM inbox WHERE user_id = ? AND last_message_id < ? ORDER BY last_message_id DESC, conversation_id DESC LIMIT ?",
        "u",
        id(5),
        10,
      );
      // No recency index (migration 4): the user's rows, a range of the primary key, sorted
      // in a temporary B-tree; the Cassandra store reads and sorts them the same way.
      expect(inbox).toMatch(/SEARCH inbox USING PRIMARY KEY \(user_id=\?\)/);
      for (const p of [history, count]) expect(p).not.toMatch(/TEMP B-TREE|SCAN/);
      expect(inbox).not.toMatch(/SCAN/);
    } finally {
      await temp.cleanup();
    }
  });

  it("answers an empty page for limit 0, rejects a negative limit, and rejects every call once closed", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      await store.putMessage(message(id(1), "first"));
      expect(await store.history("d.a.b", null, 0)).toEqual([]);
      await expect(store.history("d.a.b", null, -1)).rejects.toThrow(/limit/);
      await store.close();
      await expect(store.lastMessageId("d.a.b")).rejects.toThrow(/closed/);
      await expect(store.putMessage(message(id(2), "late"))).rejects.toThrow(/closed/);
    } finally {
      await temp.cleanup();
    }
  });
});

import BetterSqlite3 from "better-sqlite3";
import { existsSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Database } from "./database.js";
import { MIGRATIONS, type Migration } from "./migrations.js";
import { MessageStoreSqlite } from "./message-store-sqlite.js";
import { ONE_STATEMENT, WriteError } from "./write-batcher.js";
import { tempDatabase } from "./test-support.js";
import type { StoredMessage } from "../../core/model.js";

const message = (n: number): StoredMessage => ({
  message_id: String(n).padStart(19, "0"),
  conversation_id: "d.a.b",
  sender_id: "a",
  sender_device_id: "a-dev",
  group_id: null,
  content: `message ${n}`,
  type: "text",
  client_msg_id: `client-${n}`,
  sent_at_ms: n,
  prev_message_id: null,
});

const count = (database: Database, table: string): number =>
  database.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).get()?.n ?? -1;

describe("Database", () => {
  it("opens in WAL mode with synchronous NORMAL by default, FULL on request", async () => {
    for (const [synchronous, level] of [
      [undefined, 1],
      ["full", 2],
    ] as const) {
      const temp = tempDatabase(synchronous === undefined ? {} : { synchronous });
      try {
        expect(temp.database.prepare<[], { journal_mode: string }>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
        expect(temp.database.prepare<[], { synchronous: number }>("PRAGMA synchronous").get()?.synchronous).toBe(level);
      } finally {
        await temp.cleanup();
      }
    }
  });

  it("applies each migration step once, however often the file is opened", async () => {
    const temp = tempDatabase();
    try {
      expect(temp.database.schemaVersion()).toBe(MIGRATIONS.length);
      await temp.database.close();
      for (let i = 0; i < 3; i++) {
        const again = Database.open(temp.path);
        expect(again.schemaVersion()).toBe(MIGRATIONS.length);
        expect(count(again, "schema_migrations")).toBe(MIGRATIONS.length);
        await again.close();
      }
    } finally {
      await temp.cleanup();
    }
  });

  it("applies only the new steps to an older file, and refuses a file newer than the code", async () => {
    const step = (version: number, sql: string): Migration => ({ version, name: `step ${version}`, sql });
    const temp = tempDatabase({ migrations: [step(1, "CREATE TABLE a (x INTEGER)")] });
    try {
      await temp.database.close();
      const grown = Database.open(temp.path, { migrations: [step(1, "CREATE TABLE a (x INTEGER)"), step(2, "CREATE TABLE b (y INTEGER)")] });
      expect(grown.schemaVersion()).toBe(2);
      expect(count(grown, "b")).toBe(0);
      await grown.close();
      expect(() => Database.open(temp.path, { migrations: [step(1, "CREATE TABLE a (x INTEGER)")] })).toThrow(/schema version 2, newer/);
    } finally {
      await temp.cleanup();
    }
  });

  it("rolls back a failing migration step whole, leaving the file as it was", async () => {
    const temp = tempDatabase({ migrations: [] });
    try {
      await temp.database.close();
      const broken: Migration = { version: 1, name: "broken", sql: "CREATE TABLE a (x INTEGER); CREATE TABLE a (x INTEGER);" };
      expect(() => Database.open(temp.path, { migrations: [broken] })).toThrow(/already exists/);
      const reopened = Database.open(temp.path, { migrations: [] });
      expect(reopened.schemaVersion()).toBe(0);
      expect(reopened.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE name = 'a'").get()).toBeUndefined();
      await reopened.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("commits 1,000 concurrent putMessage calls in a handful of transactions, not 1,000", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      const before = temp.database.stats();
      await Promise.all(Array.from({ length: 1_000 }, (_, n) => store.putMessage(message(n))));
      const after = temp.database.stats();
      const transactions = after.transactions_committed - before.transactions_committed;
      expect(transactions).toBeGreaterThanOrEqual(1);
      expect(transactions).toBeLessThanOrEqual(5);
      expect(after.writes_committed - before.writes_committed).toBe(1_000);
      expect(count(temp.database, "messages")).toBe(1_000);
    } finally {
      await temp.cleanup();
    }
  });

  it("puts at most batch_writes_max writes in one transaction", async () => {
    const temp = tempDatabase({ batch_writes_max: 100 });
    try {
      const store = new MessageStoreSqlite(temp.database);
      await Promise.all(Array.from({ length: 1_000 }, (_, n) => store.putMessage(message(n))));
      const stats = temp.database.stats();
      expect(stats.batch_writes_largest).toBe(100);
      expect(stats.transactions_committed).toBe(10);
      expect(count(temp.database, "messages")).toBe(1_000);
    } finally {
      await temp.cleanup();
    }
  });

  it("commits at once when idle, and at most once per commit_window_ms while writes keep coming", async () => {
    const temp = tempDatabase({ commit_window_ms: 60 });
    try {
      const store = new MessageStoreSqlite(temp.database);
      const t0 = performance.now();
      await store.putMessage(message(0)); // idle: the first commit does not wait for a window
      const first_ms = performance.now() - t0;
      expect(first_ms).toBeLessThan(60);
      // Ten writes on ten later loop turns, all inside the window that the first commit opened:
      // they wait for it and share one transaction (committing every turn would make ten).
      const writes: Promise<void>[] = [];
      for (let n = 1; n <= 10; n++) {
        writes.push(store.putMessage(message(n)));
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(writes);
      const waited_ms = performance.now() - t0;
      expect(waited_ms).toBeGreaterThanOrEqual(55);
      const stats = temp.database.stats();
      expect(stats.transactions_committed).toBe(2);
      expect(count(temp.database, "messages")).toBe(11);
    } finally {
      await temp.cleanup();
    }
  });

  it("flushes a full batch without waiting for the window", async () => {
    const temp = tempDatabase({ commit_window_ms: 10_000, batch_writes_max: 50 });
    try {
      const store = new MessageStoreSqlite(temp.database);
      await store.putMessage(message(0));
      const t0 = performance.now();
      await Promise.all(Array.from({ length: 100 }, (_, n) => store.putMessage(message(n + 1))));
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(count(temp.database, "messages")).toBe(101);
    } finally {
      await temp.cleanup();
    }
  });

  it("resolves a write only once another connection can read it", async () => {
    const temp = tempDatabase();
    const other = new BetterSqlite3(temp.path, { readonly: true });
    try {
      const store = new MessageStoreSqlite(temp.database);
      const seen = other.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM messages WHERE message_id = ?");
      const writes = Array.from({ length: 50 }, (_, n) =>
        store.putMessage(message(n)).then(() => seen.get(message(n).message_id)?.n),
      );
      // Nothing has committed yet: the batch runs on the next turn of the event loop.
      expect(seen.get(message(0).message_id)?.n).toBe(0);
      expect(await Promise.all(writes)).toEqual(Array.from({ length: 50 }, () => 1));
    } finally {
      other.close();
      await temp.cleanup();
    }
  });

  it("rolls back a throwing write alone, and commits the others of its batch", async () => {
    const temp = tempDatabase();
    try {
      const db = temp.database;
      db.writeNow(() => db.prepare("CREATE TABLE t (x INTEGER PRIMARY KEY)").run());
      const insert = db.prepare<[number]>("INSERT INTO t (x) VALUES (?)");
      const results = await Promise.allSettled([
        db.write(() => insert.run(1)),
        db.write(() => {
          insert.run(2);
          throw new Error("boom");
        }),
        db.write(() => insert.run(1)),
        db.write(() => insert.run(3).changes),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
      expect(results[1]?.status === "rejected" && String(results[1].reason)).toMatch(/boom/);
      expect(results[2]?.status === "rejected" && String(results[2].reason)).toMatch(/UNIQUE/);
      expect(results[3]?.status === "fulfilled" && results[3].value).toBe(1);
      expect(db.prepare<[], { x: number }>("SELECT x FROM t ORDER BY x").all()).toEqual([{ x: 1 }, { x: 3 }]);
      expect(db.stats().transactions_committed).toBe(1);
    } finally {
      await temp.cleanup();
    }
  });

  it("runs a one_statement write without a savepoint: its failed statement is undone alone, the batch commits", async () => {
    const temp = tempDatabase();
    try {
      const db = temp.database;
      db.writeNow(() => db.prepare("CREATE TABLE t (x INTEGER PRIMARY KEY, y INTEGER CHECK (y < 10))").run());
      const insert = db.prepare<[number, number]>("INSERT INTO t (x, y) VALUES (?, ?)");
      // A multi-row INSERT that fails on its third row: SQLite's statement journal must undo
      // its first two rows too, though no SAVEPOINT surrounds it.
      const many = db.prepare<[]>("INSERT INTO t (x, y) VALUES (10, 1), (11, 1), (12, 99)");
      const results = await Promise.allSettled([
        db.write(() => insert.run(1, 1).changes, ONE_STATEMENT),
        db.write(() => many.run(), ONE_STATEMENT),
        db.write(() => insert.run(1, 1), ONE_STATEMENT),
        db.write(() => insert.run(2, 1).changes, ONE_STATEMENT),
        db.write(() => insert.run(3, 1).changes),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled", "fulfilled"]);
      expect(results[1]?.status === "rejected" && String(results[1].reason)).toMatch(/CHECK/);
      expect(results[2]?.status === "rejected" && String(results[2].reason)).toMatch(/UNIQUE/);
      expect(db.prepare<[], { x: number }>("SELECT x FROM t ORDER BY x").all()).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
      expect(db.stats().transactions_committed).toBe(1);
    } finally {
      await temp.cleanup();
    }
  });

  it("rejects a write that returns a promise, rolling back what it did", async () => {
    const temp = tempDatabase();
    try {
      const db = temp.database;
      db.writeNow(() => db.prepare("CREATE TABLE t (x INTEGER)").run());
      const insert = db.prepare<[number]>("INSERT INTO t (x) VALUES (?)");
      const asynchronous = db.write(async () => insert.run(1));
      await expect(asynchronous).rejects.toMatchObject({ code: "write_not_synchronous" });
      expect(count(db, "t")).toBe(0);
    } finally {
      await temp.cleanup();
    }
  });

  it("refuses writes beyond queued_writes_max with write_queue_full", async () => {
    const temp = tempDatabase({ queued_writes_max: 3 });
    try {
      const writes = Array.from({ length: 5 }, () => temp.database.write(() => 1));
      const results = await Promise.allSettled(writes);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected", "rejected"]);
      const refused = results[3];
      expect(refused?.status === "rejected" && refused.reason instanceof WriteError && refused.reason.code).toBe("write_queue_full");
    } finally {
      await temp.cleanup();
    }
  });

  it("stops for good when a COMMIT fails, rejecting that batch and every later write", async () => {
    const temp = tempDatabase();
    try {
      const db = temp.database;
      // A deferred foreign key fails at COMMIT, not at the statement: a stand-in for a disk error.
      db.writeNow(() => {
        db.prepare("CREATE TABLE parent (id INTEGER PRIMARY KEY)").run();
        db.prepare("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)").run();
      });
      db.prepare("PRAGMA foreign_keys = ON").run();
      const good = db.write(() => db.prepare("INSERT INTO parent (id) VALUES (1)").run());
      const bad = db.write(() => db.prepare("INSERT INTO child (parent_id) VALUES (99)").run());
      await expect(good).rejects.toMatchObject({ code: "database_failed" });
      await expect(bad).rejects.toMatchObject({ code: "database_failed" });
      await expect(db.write(() => 1)).rejects.toMatchObject({ code: "database_failed" });
      expect(count(db, "parent")).toBe(0);
    } finally {
      await temp.cleanup();
    }
  });

  it("lets queued writes commit on close, then refuses more", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      const writes = Array.from({ length: 10 }, (_, n) => store.putMessage(message(n)));
      await temp.database.close();
      await Promise.all(writes);
      expect(temp.database.isOpen).toBe(false);
      const reopened = Database.open(temp.path);
      expect(count(reopened, "messages")).toBe(10);
      await reopened.close();
      await expect(temp.database.write(() => 1)).rejects.toMatchObject({ code: "database_closed" });
    } finally {
      await temp.cleanup();
    }
  });

  it("binds values as values: a quote in a value is data, not SQL", async () => {
    const temp = tempDatabase();
    try {
      const store = new MessageStoreSqlite(temp.database);
      const evil = { ...message(1), content: "'); DROP TABLE messages; --", conversation_id: "d.'a'.\"b\"" };
      await store.putMessage(evil);
      expect(await store.getMessage(evil.conversation_id, evil.message_id)).toEqual(evil);
      expect(count(temp.database, "messages")).toBe(1);
    } finally {
      await temp.cleanup();
    }
  });
});

describe("Database with checkpoints on a thread", () => {
  it("checkpoints off the event loop, and the WAL restarts under steady writes", async () => {
    const temp = tempDatabase({ checkpoint: { interval_ms: 10, wal_restart_bytes: 1024 * 1024 }, commit_window_ms: 0 });
    try {
      const store = new MessageStoreSqlite(temp.database);
      const walBytes = (): number => (existsSync(`${temp.path}-wal`) ? statSync(`${temp.path}-wal`).size : 0);
      // Steady writes, never a pause in which a checkpoint on another connection could find
      // the WAL fully copied by itself, until the node's connection restarted it (bounded).
      let n = 0;
      const until = performance.now() + 20_000;
      while (performance.now() < until) {
        await Promise.all(Array.from({ length: 20 }, () => store.putMessage({ ...message(n++), content: "x".repeat(4_000) })));
        if ((await temp.database.checkpointStats())!.wal_restarts > 0 && n >= 2_000) break;
      }
      const stats = (await temp.database.checkpointStats())!;
      expect(stats.checkpoints).toBeGreaterThan(0);
      expect(stats.frames_copied).toBeGreaterThan(0);
      expect(stats.wal_restarts).toBeGreaterThan(0);
      // The node's connection never checkpoints by itself (autocheckpoint is off) ...
      expect(temp.database.prepare<[], { wal_autocheckpoint: number }>("PRAGMA wal_autocheckpoint").get()?.wal_autocheckpoint).toBe(0);
      // ... and yet the next write finds the WAL restarted and truncated to the limit: over
      // 8 MB went through it, and without a restart the file would hold all of it.
      await store.putMessage(message(n++));
      expect(walBytes()).toBeLessThanOrEqual(4 * 1024 * 1024);
      expect(count(temp.database, "messages")).toBe(n);
    } finally {
      await temp.cleanup();
    }
  }, 30_000);

  it("keeps every committed write when the file is reopened after close", async () => {
    const temp = tempDatabase({ checkpoint: { interval_ms: 5 } });
    try {
      const store = new MessageStoreSqlite(temp.database);
      await Promise.all(Array.from({ length: 500 }, (_, n) => store.putMessage(message(n))));
      await temp.database.close();
      const again = Database.open(temp.path);
      try {
        expect(count(again, "messages")).toBe(500);
      } finally {
        await again.close();
      }
    } finally {
      await temp.cleanup();
    }
  });
});

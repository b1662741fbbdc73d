import { describe, expect, it } from "vitest";
import { describeLogContract } from "../contract/log.contract.js";
import { Database } from "./database.js";
import { LogSqlite } from "./log-sqlite.js";
import { tempDatabase } from "./test-support.js";
import type { SendRecord } from "../../core/model.js";
import { partitionOf } from "../../core/ports/log.js";

for (const partition_count of [8, 3]) {
  describeLogContract(`LogSqlite, ${partition_count} partitions`, async () => {
    const temp = tempDatabase();
    const log = new LogSqlite(temp.database, { partition_count });
    return {
      log,
      settle_ms: 2_000,
      cleanup: async () => {
        await log.close();
        await temp.cleanup();
      },
    };
  });
}

describeLogContract(
  "LogSqlite, 1 partition",
  async () => {
    const temp = tempDatabase();
    const log = new LogSqlite(temp.database, { partition_count: 1 });
    return {
      log,
      settle_ms: 2_000,
      cleanup: async () => {
        await log.close();
        await temp.cleanup();
      },
    };
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

const rowsOf = (database: Database, sql: string): unknown[] => database.prepare<[]>(sql).all();

describe("LogSqlite", () => {
  it("hands out records written before a reopen (from the file) and after it (from memory) in one order", async () => {
    const temp = tempDatabase();
    try {
      const first = new LogSqlite(temp.database, { partition_count: 1 });
      await Promise.all(Array.from({ length: 10 }, (_, n) => first.append("k", record("k", n))));
      await first.close();
      await temp.database.close();
      const db = Database.open(temp.path);
      try {
        const log = new LogSqlite(db, { partition_count: 1 });
        const consumer = await log.consumer("g", "m");
        const got: string[] = [];
        // Before anything new is appended: memory holds nothing of the file yet.
        for (const r of await consumer.poll(4, 0)) got.push(r.record.kind === "send" ? r.record.content : "?");
        expect(got).toEqual(["m0", "m1", "m2", "m3"]);
        await Promise.all(Array.from({ length: 5 }, (_, n) => log.append("k", record("k", 10 + n))));
        for (let i = 0; i < 20 && got.length < 15; i++) {
          for (const r of await consumer.poll(4, 0)) got.push(r.record.kind === "send" ? r.record.content : "?");
        }
        expect(got).toEqual(Array.from({ length: 15 }, (_, n) => `m${n}`));
        await log.close();
      } finally {
        await db.close();
      }
    } finally {
      await temp.cleanup();
    }
  });

  it("serves nothing from memory once a commit failed", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 1 });
      await log.append("k", record("k", 0));
      const consumer = await log.consumer("g", "m");
      expect((await consumer.poll(10, 0)).length).toBe(1);
      // A COMMIT that fails: the batcher stops, and the record of that batch may not be in
      // the file, so it must not be handed out from memory either.
      const raw = (temp.database as unknown as { batcher: { commit: { run(): void } } }).batcher;
      raw.commit = { run: () => { throw new Error("disk I/O error"); } };
      await expect(log.append("k", record("k", 1))).rejects.toThrow(/COMMIT failed/);
      expect(await consumer.poll(10, 0)).toEqual([]);
    } finally {
      await temp.cleanup();
    }
  });

  it("counts as backlog the records appended that no consumer of the group has been handed", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 4 });
      expect(log.backlog("routers")).toBe(0);
      await Promise.all(Array.from({ length: 40 }, (_, n) => log.append(`k${n % 7}`, record(`k${n % 7}`, n))));
      // No group yet: everything waits.
      expect(log.backlog("routers")).toBe(40);
      const consumer = await log.consumer("routers", "m1");
      expect(log.backlog("routers")).toBe(40);
      const got = await consumer.poll(15, 0);
      expect(got.length).toBe(15);
      expect(log.backlog("routers")).toBe(25);
      // Handed records stay handed while uncommitted; another group still has them all.
      expect(log.backlog("others")).toBe(40);
      let rest = 0;
      for (let i = 0; i < 10 && rest < 25; i++) rest += (await consumer.poll(100, 0)).length;
      expect(rest).toBe(25);
      expect(log.backlog("routers")).toBe(0);
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("places keys with core's partitionOf and gives offsets 0, 1, 2, ... per partition", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 5 });
      for (const key of ["a", "b", "d.u1.u2", "g.x"]) {
        expect((await log.append(key, record(key, 0))).partition).toBe(partitionOf(key, 5));
      }
      const base = log.partitionBounds(partitionOf("k", 5)).next_offset;
      // Appends of one tick share a transaction and take offsets in request order.
      const positions = await Promise.all([0, 1, 2, 3].map((n) => log.append("k", record("k", n))));
      expect(positions.map((p) => p.offset)).toEqual([0, 1, 2, 3].map((n) => base + n));
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("assigns partitions round-robin over sorted member ids, bumping and storing the generation", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 5 });
      const b = await log.consumer("g", "b");
      const a = await log.consumer("g", "a");
      expect(log.groupSnapshot("g")?.generation).toBe(2);
      expect(a.assignment()).toEqual([0, 2, 4]);
      expect(b.assignment()).toEqual([1, 3]);
      expect(rowsOf(temp.database, "SELECT group_id, member_id FROM log_members ORDER BY member_id")).toEqual([
        { group_id: "g", member_id: "a" },
        { group_id: "g", member_id: "b" },
      ]);
      await a.close();
      expect(log.groupSnapshot("g")?.generation).toBe(3);
      expect(b.assignment()).toEqual([0, 1, 2, 3, 4]);
      expect(rowsOf(temp.database, "SELECT group_id, generation FROM log_groups")).toEqual([{ group_id: "g", generation: 3 }]);
      expect(rowsOf(temp.database, "SELECT member_id FROM log_members")).toEqual([{ member_id: "b" }]);
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("after a restart, keeps records and committed offsets, clears dead members and raises generations on", async () => {
    const temp = tempDatabase();
    try {
      const first = new LogSqlite(temp.database, { partition_count: 1 });
      for (let n = 0; n < 5; n++) await first.append("k", record("k", n));
      const a = await first.consumer("g", "a");
      const got = await a.poll(10, 0);
      expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
      expect(await a.commit([{ partition: 0, offset: 3 }], got[0]?.generation ?? -1)).toBe("ok");
      // The process dies without closing anything: only what committed is in the file.
      await temp.database.flush();
      const old_generation = got[0]?.generation ?? -1;
      await temp.database.close();

      const reopened = Database.open(temp.path);
      try {
        expect(rowsOf(reopened, "SELECT member_id FROM log_members")).toEqual([{ member_id: "a" }]);
        const second = new LogSqlite(reopened, { partition_count: 1 });
        expect(rowsOf(reopened, "SELECT member_id FROM log_members")).toEqual([]);
        expect(second.partitionBounds(0)).toEqual({ first_offset: 0, next_offset: 5 });
        expect((await second.append("k", record("k", 5))).offset).toBe(5);
        const again = await second.consumer("g", "a");
        const resumed = await again.poll(10, 0);
        expect(resumed.map((r) => r.offset)).toEqual([3, 4, 5]);
        expect(resumed.map((r) => r.record)).toEqual([3, 4, 5].map((n) => record("k", n)));
        expect(resumed[0]?.generation).toBeGreaterThan(old_generation);
        expect(await again.commit([{ partition: 0, offset: 6 }], old_generation)).toBe("fenced");
        expect(await again.commit([{ partition: 0, offset: 6 }], resumed[0]?.generation ?? -1)).toBe("ok");
        await second.close();
      } finally {
        await reopened.close();
      }
    } finally {
      await temp.cleanup();
    }
  });

  it("refuses to open a file with another partition count", async () => {
    const temp = tempDatabase();
    try {
      new LogSqlite(temp.database, { partition_count: 4 });
      expect(() => new LogSqlite(temp.database, { partition_count: 8 })).toThrow(/4 partitions/);
    } finally {
      await temp.cleanup();
    }
  });

  it("tags records with the generation and restarts fetch positions at the committed offset on rebalance", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 1 });
      const a = await log.consumer("g", "a");
      for (let i = 0; i < 3; i++) await log.append("k", record("k", i));
      expect((await a.poll(10, 0)).map((r) => [r.offset, r.generation])).toEqual([
        [0, 1],
        [1, 1],
        [2, 1],
      ]);
      expect(await a.commit([{ partition: 0, offset: 1 }], 1)).toBe("ok");
      const b = await log.consumer("g", "b");
      expect(a.assignment()).toEqual([0]);
      expect(b.assignment()).toEqual([]);
      expect((await a.poll(10, 0)).map((r) => [r.offset, r.generation])).toEqual([
        [1, 2],
        [2, 2],
      ]);
      expect(await a.commit([{ partition: 0, offset: 3 }], 1)).toBe("fenced");
      expect(rowsOf(temp.database, 'SELECT next_offset FROM log_committed WHERE group_id = \'g\'')).toEqual([{ next_offset: 1 }]);
      expect(await a.commit([{ partition: 0, offset: 3 }], 2)).toBe("ok");
      expect(rowsOf(temp.database, 'SELECT next_offset FROM log_committed WHERE group_id = \'g\'')).toEqual([{ next_offset: 3 }]);
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("fences a commit requested before a rebalance that is applied after it", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 2 });
      const a = await log.consumer("g", "a");
      await log.append("k", record("k", 0));
      const generation = (await a.poll(10, 0))[0]?.generation ?? -1;
      // Same tick: the commit and b's join go into one batch, commit first, so it still wins...
      const [early] = await Promise.all([a.commit([{ partition: 0, offset: 0 }, { partition: 1, offset: 0 }], generation), log.consumer("g", "b")]);
      expect(early).toBe("ok");
      // ...while a commit under the old generation after the join is fenced.
      expect(await a.commit([{ partition: 0, offset: 0 }], generation)).toBe("fenced");
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("replaces a live member that joins again with the same member_id, fencing the old consumer", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 2 });
      const old = await log.consumer("g", "m");
      const fresh = await log.consumer("g", "m");
      expect(log.groupSnapshot("g")?.member_ids).toEqual(["m"]);
      expect(fresh.assignment()).toEqual([0, 1]);
      expect(old.assignment()).toEqual([]);
      expect(await old.commit([{ partition: 0, offset: 0 }], 2)).toBe("fenced");
      await expect(old.poll(1, 0)).rejects.toThrow(/replaced/);
      await old.close();
      expect(log.groupSnapshot("g")?.member_ids).toEqual(["m"]);
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("rejects commits beyond the end of a partition as a caller bug", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 1 });
      const c = await log.consumer("g", "m");
      await log.append("k", record("k", 0));
      await expect(c.commit([{ partition: 0, offset: 5 }], 1)).rejects.toThrow(/beyond its end/);
      expect(rowsOf(temp.database, "SELECT * FROM log_committed")).toEqual([]);
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("retains a bounded number of records per partition and skips a lagging consumer forward", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 1, retained_records_per_partition_max: 4 });
      const c = await log.consumer("g", "m");
      for (let i = 0; i < 20; i++) await log.append("k", record("k", i));
      // A due trim is its own write, queued behind the append that made it due.
      await temp.database.flush();
      const bounds = log.partitionBounds(0);
      expect(bounds.next_offset).toBe(20);
      expect(bounds.next_offset - bounds.first_offset).toBeLessThanOrEqual(5);
      expect(bounds.next_offset - bounds.first_offset).toBeGreaterThanOrEqual(4);
      expect(rowsOf(temp.database, "SELECT COUNT(*) AS n FROM log")).toEqual([{ n: bounds.next_offset - bounds.first_offset }]);
      const got = await c.poll(100, 0);
      expect(got[0]?.offset).toBe(bounds.first_offset);
      expect(got.at(-1)?.offset).toBe(19);
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });

  it("returns an empty poll after wait_ms, wakes on close, and rejects appends and consumers afterwards", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database);
      const c = await log.consumer("g", "m");
      const started = performance.now();
      expect(await c.poll(10, 50)).toEqual([]);
      expect(performance.now() - started).toBeGreaterThanOrEqual(45);
      const waiting = c.poll(10, 10_000);
      const closing = performance.now();
      await log.close();
      await expect(waiting).rejects.toThrow(/log_closed/);
      expect(performance.now() - closing).toBeLessThan(1_000);
      await expect(log.append("k", record("k", 0))).rejects.toThrow(/closed/);
      await expect(log.consumer("g", "n")).rejects.toThrow(/closed/);
    } finally {
      await temp.cleanup();
    }
  });

  it("stores what was appended, not later changes to the caller's object", async () => {
    const temp = tempDatabase();
    try {
      const log = new LogSqlite(temp.database, { partition_count: 1 });
      const value = { ...record("k", 0) };
      const appending = log.append("k", value);
      (value as { content: string }).content = "changed";
      await appending;
      const c = await log.consumer("g", "m");
      expect((await c.poll(1, 0))[0]?.record).toMatchObject({ content: "m0" });
      await log.close();
    } finally {
      await temp.cleanup();
    }
  });
});

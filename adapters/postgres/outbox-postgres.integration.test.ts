/**
 * The regions' outbox (OutboxPostgres) and the users' home regions against a real PostgreSQL
 * (127.0.0.1:5432, started by deploy/services.sh if the port is closed), in a schema of this
 * file's own: appends from many connections at once (as several routers) land in one lane
 * without gaps and in the order each caller made them; the head is read in seq order; a trim
 * deletes through a number and a repeated one deletes nothing more; lanes are apart per
 * source and destination; a row that is not a relay operation is refused by name.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PendingEntry } from "../../core/model.js";
import type { RelayOp } from "../../core/region/relay.js";
import { DirectoryPostgres } from "./directory-postgres.js";
import { migratePostgres } from "./migrations.js";
import { OutboxPostgres } from "./outbox-postgres.js";
import { POSTGRES_PORT, ensureService, freshSchema, type TestSchema } from "./test-support.js";

let schema: TestSchema | null = null;
const db = (): TestSchema => {
  if (schema === null) throw new Error("the test schema was not created (see beforeAll)");
  return schema;
};

beforeAll(async () => {
  await ensureService("postgres", POSTGRES_PORT);
  schema = await freshSchema();
  await migratePostgres(schema.pool);
}, 150_000);

afterAll(async () => {
  await schema?.drop();
});

function put(user_id: string, n: number): RelayOp {
  const entry: PendingEntry = {
    user_id,
    device_id: "d1",
    message: { message_id: String(n).padStart(19, "0"), conversation_id: `d.${user_id}.x`, sender_id: "x", sender_device_id: "dx", group_id: null, content: `m${n}`, type: "text", client_msg_id: randomUUID(), sent_at_ms: n, prev_message_id: null },
  };
  return { kind: "put", entries: [entry] };
}

describe("OutboxPostgres", () => {
  it("numbers concurrent appends of one lane without gaps, each caller's in its order", async () => {
    const pools = [db().pool, db().openPool(4), db().openPool(4)];
    const writers = pools.map((pool) => new OutboxPostgres(pool, "eu"));
    // Three "routers", each appending its own conversation's operations one after the other.
    await Promise.all(writers.map(async (w, k) => {
      for (let i = 0; i < 40; i++) await w.append("us", i % 5 === 0 ? [put(`u${k}`, i), put(`u${k}`, i + 1000)] : [put(`u${k}`, i)]);
    }));
    const head = await writers[0]!.head("us", 1_000);
    expect(head.map((i) => i.seq)).toEqual(Array.from({ length: head.length }, (_, i) => i + 1));
    expect(head.length).toBe(3 * 48);
    for (let k = 0; k < 3; k++) {
      const mine = head.flatMap((i) => (i.op.kind === "put" && i.op.entries[0]!.user_id === `u${k}` ? [i.op.entries[0]!.message.sent_at_ms] : []));
      const expected = Array.from({ length: 40 }, (_, i) => (i % 5 === 0 ? [i, i + 1000] : [i])).flat();
      expect(mine).toEqual(expected);
    }
  });

  it("reads the head in seq order, trims through a number, and a repeated trim deletes nothing more", async () => {
    const w = new OutboxPostgres(db().pool, "ap");
    await w.append("eu", [put("a", 1), put("a", 2), { kind: "remove", user_id: "a", device_id: "d1", conversation_id: "d.a.x", message_id: "0000000000000000001" }]);
    await w.append("us", [put("b", 1)]);
    const head = await w.head("eu", 2);
    expect(head.map((i) => [i.seq, i.op.kind])).toEqual([[1, "put"], [2, "put"]]);
    await w.trim("eu", 2);
    await w.trim("eu", 1);
    expect((await w.head("eu", 10)).map((i) => [i.seq, i.op.kind])).toEqual([[3, "remove"]]);
    await w.append("eu", [put("a", 3)]);
    // Numbers go on from the lane row, never back to ones already trimmed.
    expect((await w.head("eu", 10)).map((i) => i.seq)).toEqual([3, 4]);
    expect((await w.head("us", 10)).map((i) => i.seq)).toEqual([1]);
    expect(await new OutboxPostgres(db().pool, "eu").head("ap", 10)).toEqual([]);
    expect(await w.size()).toBe(3);
  });

  it("refuses a row that is not a relay operation, naming the lane and the row", async () => {
    const w = new OutboxPostgres(db().pool, "zz");
    await w.append("eu", [put("a", 1)]);
    await db().pool.query(`UPDATE region_outbox SET op = '{"kind":"put","entries":[]}' WHERE src = 'zz'`);
    await expect(w.head("eu", 10)).rejects.toThrow(/outbox zz->eu: row 1 is not a relay operation/);
  });
});

describe("DirectoryPostgres home regions", () => {
  it("stores the home region chosen at sign-up; none recorded reads as null, unknown users are absent", async () => {
    const d = new DirectoryPostgres(db().pool);
    const tag = randomUUID().slice(0, 8);
    await d.createUser({ user_id: `u_eu_${tag}`, username: `eu_${tag}`, password_hash: "h", created_at_ms: 1, home_region: "eu" });
    await d.createUser({ user_id: `u_none_${tag}`, username: `none_${tag}`, password_hash: "h", created_at_ms: 1 });
    const homes = await d.homeRegions([`u_eu_${tag}`, `u_none_${tag}`, `u_nobody_${tag}`]);
    expect([...homes].sort()).toEqual([[`u_eu_${tag}`, "eu"], [`u_none_${tag}`, null]]);
  });
});

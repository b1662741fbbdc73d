/**
 * DirectoryPostgres against a real PostgreSQL (127.0.0.1:5432, started by deploy/services.sh if
 * the port is closed), in a schema of this file's own that is dropped afterwards: the Directory
 * contract, then what only a real server shows: addMembers racing from many connections (and
 * two pools, as two nodes), the group_members(user_id) index, referential integrity.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeDirectoryContract } from "../contract/directory.contract.js";
import { DIRECTORY_SQL, DirectoryPostgres } from "./directory-postgres.js";
import { migratePostgres } from "./migrations.js";
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

describeDirectoryContract("DirectoryPostgres", async () => {
  const directory = new DirectoryPostgres(db().pool);
  return { directory, cleanup: () => directory.close() };
});

describe("DirectoryPostgres", () => {
  const run = randomUUID().slice(0, 8);
  let counter = 0;
  const unique = (prefix: string): string => `${prefix}_${run}_${++counter}`;

  async function users(directory: DirectoryPostgres, count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, () => unique("usr"));
    await Promise.all(
      ids.map(async (user_id) =>
        expect(await directory.createUser({ user_id, username: `name.${user_id}`, password_hash: "h", created_at_ms: 1_750_000_000_000 })).toBe("ok"),
      ),
    );
    return ids;
  }

  it("never lets concurrent addMembers take a group past members_max", async () => {
    const first = new DirectoryPostgres(db().pool);
    const second = new DirectoryPostgres(db().openPool(10));
    const [creator, ...candidates] = await users(first, 61);
    for (let round = 0; round < 3; round++) {
      const group_id = unique("grp");
      await first.createGroup({ group_id, name: "race", creator_id: creator as string, created_at_ms: 1 }, []);
      // 30 calls of 2 newcomers each (overlapping: each shares one user with the next), from
      // up to 20 connections on two pools, against a limit of 11 (the creator plus 10).
      const calls = Array.from({ length: 30 }, (_, i) => [candidates[i * 2] as string, candidates[(i * 2 + 2) % 60] as string]);
      const answers = await Promise.all(calls.map((ids, i) => (i % 2 === 0 ? first : second).addMembers(group_id, ids, 11)));
      const members = await first.members(group_id);
      expect(members.length).toBeLessThanOrEqual(11);
      expect(new Set(members).size).toBe(members.length);
      expect(answers.filter((answer) => answer === "ok").length).toBeGreaterThanOrEqual(5);
      expect(answers.every((answer) => answer === "ok" || answer === "too_large")).toBe(true);
      // Every "ok" call's users are in, and no "too_large" call left a trace of its own.
      const admitted = new Set(calls.filter((_, i) => answers[i] === "ok").flat());
      expect(new Set(members)).toEqual(new Set([creator as string, ...admitted]));
    }
  });

  it("fills a group exactly to members_max when racing calls each add one user", async () => {
    const directory = new DirectoryPostgres(db().pool);
    const [creator, ...candidates] = await users(directory, 41);
    const group_id = unique("grp");
    await directory.createGroup({ group_id, name: "exact", creator_id: creator as string, created_at_ms: 1 }, []);
    const answers = await Promise.all(candidates.map((user_id) => directory.addMembers(group_id, [user_id], 25)));
    expect(answers.filter((answer) => answer === "ok")).toHaveLength(24);
    expect(await directory.members(group_id)).toHaveLength(25);
  });

  it("has the B-tree index on group_members(user_id), and groupsOf uses it", async () => {
    const { rows } = await db().pool.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'group_members'",
      [db().schema],
    );
    const by_user = rows.find((row) => row.indexname === "group_members_by_user");
    expect(by_user?.indexdef).toMatch(/USING btree \(user_id\)$/);
    expect(rows.map((row) => row.indexname).sort()).toEqual(["group_members_by_user", "group_members_pkey"]);
    const client = await db().pool.connect();
    try {
      await client.query("BEGIN");
      // Tiny tables make a sequential scan cheapest; forbid it to see the index is usable.
      await client.query("SET LOCAL enable_seqscan = off");
      const plan = await client.query<{ "QUERY PLAN": string }>("EXPLAIN SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY added", ["x"]);
      expect(plan.rows.map((row) => row["QUERY PLAN"]).join("\n")).toContain("group_members_by_user");
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  });

  it("pages the expired-device sweep through an index on (created_at, added), not a scan and a sort of every device", async () => {
    const { rows } = await db().pool.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'devices'",
      [db().schema],
    );
    expect(rows.find((row) => row.indexname === "devices_by_created")?.indexdef).toMatch(/USING btree \(created_at, added\)$/);
    const client = await db().pool.connect();
    try {
      await client.query("BEGIN");
      // Tiny tables make a sequential scan cheapest; forbid it to see the index is usable.
      await client.query("SET LOCAL enable_seqscan = off");
      const plan = await client.query<{ "QUERY PLAN": string }>(`EXPLAIN ${DIRECTORY_SQL.devicesBefore}`, [1_750_000_000_000, 10]);
      const text = plan.rows.map((row) => row["QUERY PLAN"]).join("\n");
      expect(text).toContain("devices_by_created");
      expect(text).not.toMatch(/Sort/);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  });

  it("answers username_taken to all but one of racing creates with the same name", async () => {
    const directory = new DirectoryPostgres(db().pool);
    const username = unique("name");
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => directory.createUser({ user_id: unique("usr"), username, password_hash: "h", created_at_ms: 5 })),
    );
    expect(answers.filter((answer) => answer === "ok")).toHaveLength(1);
  });

  it("keeps created_at to the millisecond, and refuses members, devices and groups of unknown users", async () => {
    const directory = new DirectoryPostgres(db().pool);
    const user_id = unique("usr");
    const created_at_ms = 1_767_225_599_999;
    await directory.createUser({ user_id, username: `name.${user_id}`, password_hash: "h", created_at_ms });
    expect((await directory.userById(user_id))?.created_at_ms).toBe(created_at_ms);
    const group_id = unique("grp");
    await expect(directory.createGroup({ group_id, name: "g", creator_id: user_id, created_at_ms: 1 }, [unique("usr_ghost")])).rejects.toThrow(/foreign key/);
    expect(await directory.group(group_id)).toBeNull();
    await expect(directory.addDevice(unique("usr_ghost"), "d", 1)).rejects.toThrow(/foreign key/);
    await expect(directory.createGroup({ group_id, name: "g", creator_id: unique("usr_ghost"), created_at_ms: 1 }, [])).rejects.toThrow(/foreign key/);
  });

  it("keeps members and groups of a user in insertion order", async () => {
    const directory = new DirectoryPostgres(db().pool);
    const [creator, a, b, c] = await users(directory, 4);
    const group_id = unique("grp");
    await directory.createGroup({ group_id, name: "order", creator_id: creator as string, created_at_ms: 1 }, [c as string, a as string]);
    expect(await directory.addMembers(group_id, [b as string, a as string], 10)).toBe("ok");
    expect(await directory.members(group_id)).toEqual([creator, c, a, b]);
    const later = unique("grp");
    await directory.createGroup({ group_id: later, name: "later", creator_id: a as string, created_at_ms: 2 }, []);
    expect(await directory.groupsOf(a as string)).toEqual([group_id, later]);
  });

  it("refuses calls after close", async () => {
    const directory = new DirectoryPostgres(db().pool);
    await directory.close();
    await expect(directory.userById("x")).rejects.toThrow(/closed/);
  });
});

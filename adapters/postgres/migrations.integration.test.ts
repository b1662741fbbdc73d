/**
 * migratePostgres against a real PostgreSQL, each test in a fresh schema of its own: steps are
 * recorded, a second run applies nothing, racing migrators apply each step once, and a failing
 * step leaves neither its changes nor its record.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { POSTGRES_MIGRATIONS, migratePostgres, type PostgresMigration } from "./migrations.js";
import { POSTGRES_PORT, ensureService, freshSchema, type TestSchema } from "./test-support.js";

beforeAll(async () => {
  await ensureService("postgres", POSTGRES_PORT);
}, 150_000);

const schemas: TestSchema[] = [];
afterEach(async () => {
  await Promise.all(schemas.splice(0).map((schema) => schema.drop()));
});

async function schema(): Promise<TestSchema> {
  const created = await freshSchema();
  schemas.push(created);
  return created;
}

async function tables(s: TestSchema): Promise<string[]> {
  const { rows } = await s.pool.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", [s.schema]);
  return rows.map((row) => row.tablename);
}

describe("migratePostgres", () => {
  it("applies every step once, records it, and applies nothing the second time", async () => {
    const s = await schema();
    const latest = POSTGRES_MIGRATIONS.length;
    expect(await migratePostgres(s.pool)).toEqual({ applied: POSTGRES_MIGRATIONS.map((m) => m.version), version: latest });
    expect(await migratePostgres(s.pool)).toEqual({ applied: [], version: latest });
    expect(await tables(s)).toEqual(["devices", "group_members", "groups", "push_registrations", "region_outbox", "region_outbox_lanes", "schema_migrations", "users"]);
    const { rows } = await s.pool.query<{ version: number; name: string }>("SELECT version, name FROM schema_migrations ORDER BY version");
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
  });

  it("applies each step once when several nodes migrate at the same moment", async () => {
    const s = await schema();
    const pools = [s.pool, s.openPool(2), s.openPool(2), s.openPool(2)];
    const reports = await Promise.all(pools.map((pool) => migratePostgres(pool)));
    expect(reports.flatMap((report) => report.applied).sort()).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
    expect(reports.every((report) => report.version === POSTGRES_MIGRATIONS.length)).toBe(true);
  });

  it("rolls a failing step back whole, keeping the steps before it", async () => {
    const s = await schema();
    const steps: PostgresMigration[] = [
      { version: 1, name: "one", sql: "CREATE TABLE one (id integer PRIMARY KEY)" },
      { version: 2, name: "broken", sql: "CREATE TABLE two (id integer PRIMARY KEY); INSERT INTO nowhere VALUES (1)" },
    ];
    await expect(migratePostgres(s.pool, steps)).rejects.toThrow(/step 2 \(broken\) failed: .*nowhere/);
    expect(await tables(s)).toEqual(["one", "schema_migrations"]);
    const { rows } = await s.pool.query<{ version: number }>("SELECT version FROM schema_migrations");
    expect(rows).toEqual([{ version: 1 }]);
  });

  it("refuses steps whose versions do not run 1, 2, 3", async () => {
    const s = await schema();
    await expect(migratePostgres(s.pool, [{ version: 2, name: "gap", sql: "SELECT 1" }])).rejects.toThrow(/without gaps/);
  });
});

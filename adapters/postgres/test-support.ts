/**
 * Test support for the PostgreSQL adapters: makes sure PostgreSQL answers on 127.0.0.1:5432 before a
 * suite starts, starting it with deploy/services.sh when the port is closed, and failing (never
 * skipping) with the script's output when that does not work; and a schema of its own per test
 * file. Not used by production code.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import { connectPostgres, databaseUrlFromEnv } from "./pool.js";

export { ensureService, portOpen } from "../contract/services.js";

export const POSTGRES_PORT = 5432;

export type TestSchema = {
  readonly schema: string;
  /** A pool whose search_path is the schema; ended by `drop`. */
  readonly pool: Pool;
  /** Opens another pool on the same schema (a second "node"); `drop` ends it too. */
  openPool(connections_max?: number): Pool;
  /** Ends the pools and drops the schema with everything in it. */
  drop(): Promise<void>;
};

/** A schema of its own (chat_test_<random>), for one test file; nothing is migrated yet. */
export async function freshSchema(): Promise<TestSchema> {
  const url = databaseUrlFromEnv();
  const schema = `chat_test_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = connectPostgres(url, { connections_max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pools: Pool[] = [];
  const openPool = (connections_max = 10): Pool => {
    const pool = connectPostgres(url, { schema, connections_max });
    pools.push(pool);
    return pool;
  };
  return {
    schema,
    pool: openPool(),
    openPool,
    drop: async () => {
      await Promise.all(pools.map((pool) => pool.end()));
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

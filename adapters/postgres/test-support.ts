/**
 * Test support for the PostgreSQL adapters: makes sure PostgreSQL answers on 127.0.0.1:5432 before a
 * suite starts, starting it with deploy/services.sh when the port is closed, and failing (never
 * skipping) with the script's output when that does not work; and a schema of its own per test
 * file. Not used by production code. (ensureService has a twin in adapters/redis/test-support.ts.)
 */
import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { Pool } from "pg";
import { connectPostgres, databaseUrlFromEnv } from "./pool.js";

const SERVICES_SCRIPT = fileURLToPath(new URL("../../deploy/services.sh", import.meta.url));
const SERVICES_UP_TIMEOUT_MS = 120_000;
const PORT_PROBE_TIMEOUT_MS = 1_000;

/** Whether something accepts TCP connections on host:port within a second. */
export function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(PORT_PROBE_TIMEOUT_MS, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Runs `deploy/services.sh up <service>` if nothing listens on `port`; throws with the script's
 * output if it fails or the port is still closed afterwards.
 */
export async function ensureService(service: "redis" | "postgres", port: number): Promise<void> {
  if (await portOpen(port)) return;
  try {
    execFileSync(SERVICES_SCRIPT, ["up", service], { encoding: "utf8", timeout: SERVICES_UP_TIMEOUT_MS, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `deploy/services.sh up ${service} failed (${failure.message.split("\n")[0]}):\n${failure.stdout ?? ""}${failure.stderr ?? ""}`,
    );
  }
  if (!(await portOpen(port))) throw new Error(`deploy/services.sh up ${service} returned, but nothing listens on 127.0.0.1:${port}`);
}

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

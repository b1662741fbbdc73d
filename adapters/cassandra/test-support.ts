/**
 * Test support for the Cassandra adapters: a real Cassandra on 127.0.0.1:9042 (started with
 * `deploy/services.sh up cassandra` when the port is closed), and a fresh keyspace per test
 * file, migrated, and dropped again afterwards. Not used by production code.
 *
 * Rules: a test that needs Cassandra never skips; if the server cannot be started, setup
 * fails with the script's own output, which says what it waited for and shows the server log.
 */
import { randomBytes } from "node:crypto";
import type { Client } from "cassandra-driver";
import { ensureService } from "../contract/services.js";
import { cassandraClient, cassandraConfigFromEnv } from "./client.js";
import { migrateCassandra } from "./migrations.js";

const HOST = "127.0.0.1";
const PORT = 9042;
/** The script's own readiness wait is 180 s; a first run also fetches the jars from Maven Central. */
const SERVICES_UP_TIMEOUT_MS = 360_000;
/** How long a fresh node may refuse CQL sessions after its port opened. */
const CONNECT_RETRY_MS = 60_000;
/** What a beforeAll that calls openTestKeyspace should allow itself. */
export const CASSANDRA_SETUP_TIMEOUT_MS = SERVICES_UP_TIMEOUT_MS + CONNECT_RETRY_MS + 60_000;
/** Per-test timeout for suites against the real server. */
export const CASSANDRA_TEST_TIMEOUT_MS = 60_000;

/** Makes sure Cassandra listens on 127.0.0.1:9042, starting it if not; throws with the script's output. */
export function ensureCassandra(): Promise<void> {
  return ensureService("cassandra", PORT, SERVICES_UP_TIMEOUT_MS);
}

export type TestKeyspace = {
  readonly client: Client;
  readonly keyspace: string;
  /** Drops the keyspace and shuts the client down. */
  drop(): Promise<void>;
};

/** A connected client and a fresh, migrated keyspace `chat_test_<random>`. */
export async function openTestKeyspace(): Promise<TestKeyspace> {
  await ensureCassandra();
  const config = { ...cassandraConfigFromEnv({}), contact_points: [`${HOST}:${PORT}`], request_timeout_ms: 30_000 };
  const client = await connectWithRetry(() => cassandraClient(config));
  const keyspace = `chat_test_${randomBytes(6).toString("hex")}`;
  try {
    await migrateCassandra(client, keyspace, { replication_factor: 1 });
  } catch (error) {
    await client.shutdown();
    throw error;
  }
  return {
    client,
    keyspace,
    drop: async () => {
      try {
        await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      } finally {
        await client.shutdown();
      }
    },
  };
}

async function connectWithRetry(open: () => Client): Promise<Client> {
  const deadline = Date.now() + CONNECT_RETRY_MS;
  for (;;) {
    const client = open();
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.shutdown().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`could not open a CQL session to ${HOST}:${PORT} within ${CONNECT_RETRY_MS} ms: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

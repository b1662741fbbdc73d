/**
 * Opening a PostgreSQL pool the way the Postgres adapters expect it: a bounded pool, bounded
 * connect and statement times, and optionally a schema of its own (first on the search_path),
 * which is how tests keep their tables apart. Whoever opens a pool ends it; the adapters never do.
 */
import pg from "pg";

export type PostgresConnectOptions = {
  /** The schema the tables live in (and are created in by migratePostgres). Default: the server's search_path. */
  readonly schema?: string;
  /** Connections in the pool; default 10. */
  readonly connections_max?: number;
  /** Per-statement limit, so a stuck query fails instead of hanging a request; default 10 s. */
  readonly statement_timeout_ms?: number;
};

const CONNECTIONS_MAX_DEFAULT = 10;
const STATEMENT_TIMEOUT_MS_DEFAULT = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function connectPostgres(url: string, options: PostgresConnectOptions = {}): pg.Pool {
  const settings = [`-c statement_timeout=${options.statement_timeout_ms ?? STATEMENT_TIMEOUT_MS_DEFAULT}`];
  if (options.schema !== undefined) {
    if (!SCHEMA_NAME.test(options.schema)) throw new Error(`connectPostgres: schema '${options.schema}' must match ${SCHEMA_NAME}`);
    settings.push(`-c search_path=${options.schema}`);
  }
  return new pg.Pool({
    connectionString: url,
    max: options.connections_max ?? CONNECTIONS_MAX_DEFAULT,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    options: settings.join(" "),
  });
}

/** DATABASE_URL from the environment (deploy/services.sh env), or the local test server. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATABASE_URL ?? "postgres://chat:chat@127.0.0.1:5432/chat";
}

/**
 * The PostgreSQL schema of the directory (users, devices, push registrations, groups and
 * members), as numbered migration steps, and `migratePostgres`, which applies the missing ones.
 *
 * Rules:
 * - A step is never edited once released: a change is a new step at the end.
 * - `schema_migrations` holds one row per applied step. Each step runs in its own transaction
 *   together with its row, so a failure leaves it neither applied nor recorded (PostgreSQL DDL
 *   is transactional). Running `migratePostgres` again applies nothing: that, not IF NOT
 *   EXISTS in the steps, is what makes it idempotent, and a table that exists without its row
 *   fails loudly instead of being taken as ours.
 * - Migrators that race (two nodes starting) take a transaction-scoped advisory lock named
 *   after the schema, then read which steps are applied; the second finds nothing to do.
 * - Everything lands in the first schema of the connection's search_path (the tests give each
 *   file a schema of its own this way).
 * - IDs are text: the protocol's IDs are prefixed strings (`usr_...`, `grp_...`), not UUIDs.
 *   Times are timestamptz, at the millisecond the ports speak in.
 * - Referential integrity is the database's: devices, push registrations, groups and members
 *   point at existing users (callers check `missingUsers` first; a dangling ID is a bug and the
 *   insert fails). `added` (an identity column) keeps insertion order where readers want it.
 * - `group_members_by_user` is the B-tree on group_members(user_id) the seed design names, for
 *   "which groups am I in"; the primary key (group_id, user_id) serves members of a group.
 *   `devices_by_created` serves the expired-device sweep (step 2).
 */
import type { Pool, PoolClient } from "pg";

export type PostgresMigration = { readonly version: number; readonly name: string; readonly sql: string };

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: "directory: users, devices, push registrations, groups, group members",
    sql: `
      CREATE TABLE users (
        user_id text PRIMARY KEY,
        username text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL
      );
      CREATE TABLE devices (
        user_id text NOT NULL REFERENCES users (user_id),
        device_id text NOT NULL,
        created_at timestamptz NOT NULL,
        added bigint GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (user_id, device_id)
      );
      CREATE TABLE push_registrations (
        user_id text NOT NULL REFERENCES users (user_id),
        platform text NOT NULL CHECK (platform IN ('apns', 'fcm', 'webpush', 'webhook')),
        token text NOT NULL,
        added bigint GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (user_id, platform, token)
      );
      CREATE TABLE groups (
        group_id text PRIMARY KEY,
        name text NOT NULL,
        creator_id text NOT NULL REFERENCES users (user_id),
        created_at timestamptz NOT NULL
      );
      CREATE TABLE group_members (
        group_id text NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
        user_id text NOT NULL REFERENCES users (user_id),
        joined_at timestamptz NOT NULL DEFAULT now(),
        added bigint GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (group_id, user_id)
      );
      CREATE INDEX group_members_by_user ON group_members (user_id);
    `,
  },
  {
    version: 2,
    name: "devices by creation time, for the expired-device sweep",
    // The sweep (api nodes) pages the devices created before now minus the token TTL, oldest
    // first: without this index each page was a sequential scan of all devices and a sort.
    // (created_at, added) is the sweep's ORDER BY, so a page is a range read that stops at its
    // limit.
    sql: `
      CREATE INDEX devices_by_created ON devices (created_at, added);
    `,
  },
  {
    version: 3,
    name: "regions: a user's home region, and each region's outbox towards the others",
    // Issue 12 (docs/OPERATIONS.md, "Regions"). home_region: chosen at sign-up and never changed
    // (nodes cache it); NULL for users created before regions, who live in HOME_REGION_DEFAULT.
    // The outbox: a region's router appends the pending puts and removals of members homed in
    // another region here, in the persist step of the message; that region's relay drains each
    // lane (src, dest) in seq order and deletes through the last seq the destination
    // acknowledged. seq comes from the lane's row, updated in the same statement as the insert:
    // its row lock serializes the appends of one lane until they commit, so seq order is commit
    // order and a lane has no gaps a reader could skip past (a sequence would not: a lower
    // number can commit after a higher one was read and trimmed).
    sql: `
      ALTER TABLE users ADD COLUMN home_region text;
      CREATE TABLE region_outbox_lanes (
        src text NOT NULL,
        dest text NOT NULL,
        last_seq bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (src, dest)
      );
      CREATE TABLE region_outbox (
        src text NOT NULL,
        dest text NOT NULL,
        seq bigint NOT NULL,
        op jsonb NOT NULL,
        PRIMARY KEY (src, dest, seq)
      );
    `,
  },
];

export type MigrationReport = {
  /** Versions this call applied, in order. */
  readonly applied: number[];
  /** The highest version recorded once it is done. */
  readonly version: number;
};

const CREATE_RECORDS = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;
const LOCK = "SELECT pg_advisory_xact_lock(hashtext('chat.schema_migrations:' || current_schema()))";

/** Applies the steps of `migrations` not yet recorded, each in a transaction of its own. */
export async function migratePostgres(pool: Pool, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<MigrationReport> {
  checkOrder(migrations);
  const client = await pool.connect();
  let broken = false;
  try {
    const applied: number[] = [];
    for (const migration of migrations) {
      if (await applyIfMissing(client, migration)) applied.push(migration.version);
    }
    const { rows } = await client.query<{ version: number | null }>("SELECT max(version) AS version FROM schema_migrations");
    return { applied, version: rows[0]?.version ?? 0 };
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    client.release(broken);
  }
}

/** One step in one transaction, under the schema's migration lock; answers whether it ran. */
async function applyIfMissing(client: PoolClient, migration: PostgresMigration): Promise<boolean> {
  await client.query("BEGIN");
  try {
    await client.query(LOCK);
    await client.query(CREATE_RECORDS);
    const found = await client.query("SELECT 1 FROM schema_migrations WHERE version = $1", [migration.version]);
    if (found.rowCount !== 0) {
      await client.query("COMMIT");
      return false;
    }
    await client.query(migration.sql);
    await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [migration.version, migration.name]);
    await client.query("COMMIT");
    return true;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new Error(`migratePostgres: step ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, { cause: error });
  }
}

function checkOrder(migrations: readonly PostgresMigration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migratePostgres: step ${index + 1} has version ${migration.version}; versions must run 1, 2, 3, ... without gaps`);
    }
  });
}

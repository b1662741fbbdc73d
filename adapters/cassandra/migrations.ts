/**
 * The schema of the Cassandra / ScyllaDB adapters, as numbered, idempotent CQL steps, and
 * `migrateCassandra`, which applies the missing ones and records each in
 * `<keyspace>.schema_migrations`.
 *
 * Rules:
 * - A step is never edited once released: a change is a new step with the next number.
 * - Every statement is idempotent on its own (IF NOT EXISTS, or an ALTER that sets a value),
 *   so a migration that died between running a step and recording it can simply run again.
 *   A new column is an `add_column` statement, which the runner skips when
 *   system_schema.columns already lists it (ALTER TABLE ... ADD IF NOT EXISTS is Cassandra
 *   5.0 only; ScyllaDB does not speak it).
 * - The bootstrap (the keyspace and the record table) runs on every call; it is what creates
 *   the keyspace. Its replication is set only when the keyspace is created: changing it later
 *   is an operator's ALTER KEYSPACE followed by a repair, not a migration.
 * - Run migrations from one process at a time (the `migrate` command): concurrent schema
 *   changes from several coordinators can disagree on a table's ID in Cassandra before 5.1.
 * - Only CQL that ScyllaDB also speaks (no SAI, no Cassandra-only table options).
 *
 * The tables, and why they look the way they do (the stores' headers say how they are used):
 * - messages: partition conversation_id, clustering message_id DESC: a history page and
 *   lastMessageId are one slice of one partition, newest first, as the seed designs it.
 * - dedup_claims: partition (sender_id, client_msg_id), written only by INSERT ... IF NOT
 *   EXISTS (a lightweight transaction): the first writer wins. No longer written by the
 *   router (send_claims, step 8, replaced it); kept for the rows written before.
 * - send_claims: partition (sender_id, conversation_id, client_msg_id), plain writes (the
 *   partition's order makes the first record of a key its only writer). `members` (step 9)
 *   is a group send's audience at ordering time, a JSON array in one text cell, written with
 *   the row and read whole (not a frozen list: an empty one reads back as null).
 * - receipts: partition message_id, clustering user_id; one boolean per status reached, so a
 *   receipt is a grow-only set that every replica merges the same way in any order.
 * - inbox: partition user_id, clustering (conversation_id, last_message_id DESC). A touch
 *   inserts its row and range-deletes the conversation's lower rows, both at one fixed write
 *   timestamp; a deletion wins a timestamp tie, so the rows converge on the greatest
 *   last_message_id per conversation whatever order concurrent touches land in.
 * - read_marks: the same max-register shape as inbox, for the read watermark.
 * - pending: partition (user_id, device_id), clustering (conversation_id, message_id), a TTL
 *   per entry; puts carry write timestamp 1 and removals timestamp 2, so a removal shadows
 *   every put of its entry, earlier or later. gc_grace_seconds is 30 days: tombstones (the
 *   removed half of the two-phase set) live at least that long, which must cover how long
 *   the log keeps records it could redeliver.
 */
import type { Client } from "cassandra-driver";
import { assert } from "../../core/result.js";
import { callOptions, checkKeyspace, consistencyCode, CONSISTENCY_DEFAULT, type CassandraConsistency } from "./cql.js";

/** A CQL statement, or a column to add unless the table already has it. */
export type CassandraStatement = string | { readonly add_column: { readonly table: string; readonly column: string; readonly type: string } };

export type CassandraMigration = {
  readonly step: number;
  readonly name: string;
  /** The statements of the step, for a keyspace name that checkKeyspace accepted. */
  readonly statements: (keyspace: string) => readonly CassandraStatement[];
};

/** How long a pending tombstone is kept at least (gc_grace_seconds of `pending`): 30 days. */
export const PENDING_TOMBSTONE_SECONDS = 30 * 24 * 60 * 60;

export const CASSANDRA_MIGRATIONS: readonly CassandraMigration[] = [
  {
    step: 1,
    name: "messages",
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.messages (
        conversation_id text,
        message_id text,
        sender_id text,
        sender_device_id text,
        group_id text,
        content text,
        message_type text,
        client_msg_id text,
        sent_at_ms bigint,
        prev_message_id text,
        PRIMARY KEY ((conversation_id), message_id)
      ) WITH CLUSTERING ORDER BY (message_id DESC)`,
    ],
  },
  {
    step: 2,
    name: "dedup_claims",
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.dedup_claims (
        sender_id text,
        client_msg_id text,
        message_id text,
        conversation_id text,
        prev_message_id text,
        log_partition int,
        log_offset bigint,
        PRIMARY KEY ((sender_id, client_msg_id))
      )`,
    ],
  },
  {
    step: 3,
    name: "receipts",
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.receipts (
        message_id text,
        user_id text,
        reached_sent boolean,
        reached_delivered boolean,
        reached_read boolean,
        PRIMARY KEY ((message_id), user_id)
      )`,
    ],
  },
  {
    step: 4,
    name: "inbox",
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.inbox (
        user_id text,
        conversation_id text,
        last_message_id text,
        kind text,
        other_user_id text,
        group_id text,
        last_message_at_ms bigint,
        last_message_preview text,
        PRIMARY KEY ((user_id), conversation_id, last_message_id)
      ) WITH CLUSTERING ORDER BY (conversation_id ASC, last_message_id DESC)`,
    ],
  },
  {
    step: 5,
    name: "read_marks",
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.read_marks (
        user_id text,
        conversation_id text,
        message_id text,
        PRIMARY KEY ((user_id), conversation_id, message_id)
      ) WITH CLUSTERING ORDER BY (conversation_id ASC, message_id DESC)`,
    ],
  },
  {
    step: 6,
    name: "pending",
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.pending (
        user_id text,
        device_id text,
        conversation_id text,
        message_id text,
        sender_id text,
        sender_device_id text,
        group_id text,
        content text,
        message_type text,
        client_msg_id text,
        sent_at_ms bigint,
        prev_message_id text,
        PRIMARY KEY ((user_id, device_id), conversation_id, message_id)
      ) WITH gc_grace_seconds = ${PENDING_TOMBSTONE_SECONDS}`,
    ],
  },
  {
    step: 7,
    name: "media_links",
    // Which conversations a media was sent in: one partition per media, a row per
    // conversation, written by the router beside the message (GET /api/v1/media/{id}).
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.media_links (
        media_id text,
        conversation_id text,
        PRIMARY KEY ((media_id), conversation_id)
      )`,
    ],
  },
  {
    step: 8,
    name: "send_claims and id_checkpoints",
    // Dedup per (sender, conversation, client_msg_id) with a plain write instead of the
    // per-message Paxos round on dedup_claims (kept for rows written before), and where each
    // log partition's ID chain stood at each committed offset (core/router/ordering.ts). A
    // checkpoint is read once, by the router that next starts its partition at that offset,
    // so it lives a day: the chain's clock runs ahead of the gateways' only by their skew
    // (or past 4,096 sends in one millisecond), so past a day a missing checkpoint and the
    // initial chain number the next record alike. Each checkpoint is its own partition;
    // time-window compaction drops expired ones a whole file at a time.
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.send_claims (
        sender_id text,
        conversation_id text,
        client_msg_id text,
        message_id text,
        prev_message_id text,
        log_partition int,
        log_offset bigint,
        digest text,
        PRIMARY KEY ((sender_id, conversation_id, client_msg_id))
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.id_checkpoints (
        log_partition int,
        log_offset bigint,
        last_ms bigint,
        sequence int,
        PRIMARY KEY ((log_partition, log_offset))
      ) WITH default_time_to_live = 86400
        AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': 6}`,
    ],
  },
  {
    step: 9,
    name: "send_claims.members",
    // A redelivered group send must reach the members it was ordered for, not the group as
    // it is now, and a non-member's refusal must stay the answer for every record of the
    // send (core/router/step.ts, rule 5): the send's dedup record keeps the group's members
    // at ordering time. Null for direct messages and for records written before this step.
    // A JSON array in a text cell, not a frozen<list<text>>: Cassandra reads an empty
    // collection back as null, and a refusal by a group with no members left is an empty
    // audience that must stay apart from "none recorded".
    statements: () => [{ add_column: { table: "send_claims", column: "members", type: "text" } }],
  },
];

export type MigrateCassandraOptions = {
  /** SimpleStrategy replication factor, used only when the keyspace is created. Default 1. */
  readonly replication_factor?: number;
  /**
   * NetworkTopologyStrategy replicas per data center (e.g. `{ dc1: 3 }`), instead of
   * SimpleStrategy; used only when the keyspace is created.
   */
  readonly replication_per_datacenter?: Readonly<Record<string, number>>;
  /** Consistency of the reads and writes of the record table. Default LOCAL_QUORUM. */
  readonly consistency?: CassandraConsistency;
};

export type MigrateCassandraResult = {
  /** Steps run by this call, in order. */
  readonly applied: readonly number[];
  /** Steps found already recorded. */
  readonly already_applied: readonly number[];
};

const OWNER = "migrateCassandra";
const DATACENTER_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Creates the keyspace if it is missing, then runs and records every step not yet recorded. */
export async function migrateCassandra(client: Client, keyspace: string, options: MigrateCassandraOptions = {}): Promise<MigrateCassandraResult> {
  const ks = checkKeyspace(OWNER, keyspace);
  const consistency = consistencyCode(options.consistency ?? CONSISTENCY_DEFAULT);
  assertMigrationsInOrder();

  await client.execute(`CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replicationOf(options)}`);
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.schema_migrations (step int PRIMARY KEY, name text, applied_at timestamp)`,
  );

  const recorded = await client.execute(`SELECT step FROM ${ks}.schema_migrations`, [], callOptions(consistency));
  const done = new Set<number>(recorded.rows.map((row) => Number(row["step"])));
  const applied: number[] = [];
  const already_applied: number[] = [];
  for (const migration of CASSANDRA_MIGRATIONS) {
    if (done.has(migration.step)) {
      already_applied.push(migration.step);
      continue;
    }
    for (const statement of migration.statements(ks)) await run(client, ks, statement);
    await client.execute(
      `INSERT INTO ${ks}.schema_migrations (step, name, applied_at) VALUES (?, ?, ?)`,
      [migration.step, migration.name, new Date()],
      callOptions(consistency),
    );
    applied.push(migration.step);
  }
  return { applied, already_applied };
}

async function run(client: Client, ks: string, statement: CassandraStatement): Promise<void> {
  if (typeof statement === "string") {
    await client.execute(statement);
    return;
  }
  const { table, column, type } = statement.add_column;
  const existing = await client.execute(
    "SELECT type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
    [ks, table, column],
    { prepare: true },
  );
  if (existing.rowLength > 0) return; // Added by a run that died before recording its step.
  await client.execute(`ALTER TABLE ${ks}.${table} ADD ${column} ${type}`);
}

function replicationOf(options: MigrateCassandraOptions): string {
  const per_dc = options.replication_per_datacenter;
  if (per_dc !== undefined) {
    if (options.replication_factor !== undefined) throw new Error(`${OWNER}: give replication_factor or replication_per_datacenter, not both`);
    const entries = Object.entries(per_dc);
    if (entries.length === 0) throw new Error(`${OWNER}: replication_per_datacenter names no data center`);
    const parts = entries.map(([dc, factor]) => {
      if (!DATACENTER_PATTERN.test(dc)) throw new Error(`${OWNER}: data center name '${dc}' must match ${String(DATACENTER_PATTERN)}`);
      return `'${dc}': ${checkedFactor(factor, `replication_per_datacenter.${dc}`)}`;
    });
    return `{'class': 'NetworkTopologyStrategy', ${parts.join(", ")}}`;
  }
  return `{'class': 'SimpleStrategy', 'replication_factor': ${checkedFactor(options.replication_factor ?? 1, "replication_factor")}}`;
}

function checkedFactor(factor: number, what: string): number {
  if (!Number.isInteger(factor) || factor < 1 || factor > 32) throw new Error(`${OWNER}: ${what} must be an integer from 1 to 32, got ${factor}`);
  return factor;
}

function assertMigrationsInOrder(): void {
  CASSANDRA_MIGRATIONS.forEach((migration, i) => {
    assert(migration.step === i + 1, `${OWNER}: migration '${migration.name}' has step ${migration.step}, expected ${i + 1}`);
  });
}

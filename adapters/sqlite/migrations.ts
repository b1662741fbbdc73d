/**
 * The schema of the embedded node's one SQLite file, as numbered migration steps.
 *
 * Rules:
 * - A step is never edited once released: a schema change is a new step at the end. The
 *   records of core/model.ts that are stored as JSON (log records, pending messages) are
 *   part of the schema too, so a change there needs a step that rewrites them.
 * - `schema_migrations` holds one row per applied step; a step and its row commit in one
 *   transaction, so a crash leaves a step either applied and recorded or neither.
 * - Table and index names say which adapter owns them: `log*` LogSqlite, `messages`,
 *   `dedup_claims`, `receipts`, `inbox` and `read_marks` MessageStoreSqlite, `pending*`
 *   PendingStoreSqlite, `users`, `devices`, `push_registrations`, `groups` and
 *   `group_members` DirectorySqlite.
 * - Tables whose rows are only ever read through their primary key order are
 *   WITHOUT ROWID (the primary key is the table). Tables whose readers want insertion order
 *   (devices, members) keep their rowid for it.
 */

export type Migration = { readonly version: number; readonly name: string; readonly sql: string };

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "log, message store, pending store, directory",
    sql: `
      CREATE TABLE log (
        "partition" INTEGER NOT NULL,
        "offset" INTEGER NOT NULL,
        key TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY ("partition", "offset")
      ) WITHOUT ROWID;
      CREATE TABLE log_settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE log_groups (group_id TEXT PRIMARY KEY, generation INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE log_members (
        group_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        joined_generation INTEGER NOT NULL,
        PRIMARY KEY (group_id, member_id)
      ) WITHOUT ROWID;
      CREATE TABLE log_committed (
        group_id TEXT NOT NULL,
        "partition" INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        PRIMARY KEY (group_id, "partition")
      ) WITHOUT ROWID;

      CREATE TABLE messages (
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sender_id TEXT NOT NULL,
        sender_device_id TEXT NOT NULL,
        group_id TEXT,
        content TEXT NOT NULL,
        type TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL,
        prev_message_id TEXT,
        PRIMARY KEY (conversation_id, message_id)
      ) WITHOUT ROWID;
      -- countAfter scans this narrow index instead of the rows (which carry the content).
      CREATE INDEX messages_by_sender ON messages (conversation_id, message_id, sender_id);
      CREATE TABLE dedup_claims (
        sender_id TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        prev_message_id TEXT,
        "partition" INTEGER NOT NULL,
        "offset" INTEGER NOT NULL,
        PRIMARY KEY (sender_id, client_msg_id)
      ) WITHOUT ROWID;
      CREATE TABLE receipts (
        message_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        status_rank INTEGER NOT NULL,
        PRIMARY KEY (message_id, user_id)
      ) WITHOUT ROWID;
      CREATE TABLE inbox (
        user_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        other_user_id TEXT,
        group_id TEXT,
        last_message_id TEXT NOT NULL,
        last_message_at_ms INTEGER NOT NULL,
        last_message_preview TEXT NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
      ) WITHOUT ROWID;
      CREATE INDEX inbox_by_recency ON inbox (user_id, last_message_id, conversation_id);
      CREATE TABLE read_marks (
        user_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
      ) WITHOUT ROWID;

      CREATE TABLE pending (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id, conversation_id, message_id)
      ) WITHOUT ROWID;
      CREATE TABLE pending_tombstones (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id, conversation_id, message_id)
      ) WITHOUT ROWID;
      -- forgetTombstonesBefore trims by message ID (Snowflake IDs grow with time).
      CREATE INDEX pending_tombstones_by_message ON pending_tombstones (message_id);

      CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
      );
      CREATE TABLE devices (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, device_id)
      );
      CREATE TABLE push_registrations (
        user_id TEXT NOT NULL,
        platform TEXT NOT NULL,
        token TEXT NOT NULL,
        PRIMARY KEY (user_id, platform, token)
      );
      CREATE TABLE groups (
        group_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        creator_id TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
      );
      CREATE TABLE group_members (
        group_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (group_id, user_id)
      );
      CREATE INDEX group_members_by_user ON group_members (user_id);
    `,
  },
  {
    version: 2,
    name: "pending tombstones keyed by message ID first",
    // Every ack writes a tombstone. Keyed (user, device, conversation, message) with a second
    // index by message ID, each ack dirtied two B-tree pages, one of them at a random place
    // (a page per user); keyed by message ID first (Snowflake IDs grow with time), tombstones
    // append at the tail of one B-tree, and the trim by message ID is a range of that key.
    sql: `
      CREATE TABLE pending_tombstones_by_id (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (message_id, user_id, device_id, conversation_id)
      ) WITHOUT ROWID;
      INSERT INTO pending_tombstones_by_id (user_id, device_id, conversation_id, message_id)
        SELECT user_id, device_id, conversation_id, message_id FROM pending_tombstones;
      DROP TABLE pending_tombstones;
      ALTER TABLE pending_tombstones_by_id RENAME TO pending_tombstones;
    `,
  },
  {
    version: 3,
    name: "media links: which conversations a media was sent in",
    // GET /api/v1/media/{id} is allowed to every member of a conversation in which a message
    // carried the media. The router records the link when it persists such a message, so the
    // check is one key lookup, with no window of recent history to scan.
    sql: `
      CREATE TABLE media_links (
        media_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        PRIMARY KEY (media_id, conversation_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: "inbox without its recency index",
    // Every message upserts one inbox row per member, and moving the row's last_message_id
    // moved its entry in inbox_by_recency too: a second B-tree page dirtied per member per
    // message (measured: 10.4 -> 9.5 WAL frames per 1:1 message, and in a 500-member group
    // 500 index updates per message). The index only served GET /inbox, which reads one
    // user's rows (a range of the primary key) and can sort them itself, as the Cassandra
    // store does.
    sql: `
      DROP INDEX inbox_by_recency;
    `,
  },
  {
    version: 5,
    name: "messages without the sender index",
    // messages_by_sender let countAfter (the inbox's unread counts) scan narrow index entries
    // instead of rows, but every message paid for it with one more B-tree insert at its
    // conversation's place: 1.2 of the ~9.5 WAL frames a 1:1 message writes. Unread counts are
    // read once per conversation of an inbox page; messages are written all the time. The
    // count now walks the rows after the read mark (a range of the primary key), which for a
    // conversation's unread tail is a few pages.
    sql: `
      DROP INDEX messages_by_sender;
    `,
  },
  {
    version: 6,
    name: "dedup per conversation, and the log partitions' ID checkpoints",
    // The router deduplicates per (sender, conversation, client_msg_id) with a plain write,
    // and numbers each log partition's sends from a chain whose state it checkpoints at every
    // commit (core/router/ordering.ts). dedup_claims stays for data written before.
    sql: `
      CREATE TABLE send_claims (
        sender_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        prev_message_id TEXT,
        "partition" INTEGER NOT NULL,
        "offset" INTEGER NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (sender_id, conversation_id, client_msg_id)
      ) WITHOUT ROWID;
      CREATE TABLE id_checkpoints (
        "partition" INTEGER NOT NULL,
        "offset" INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        sequence INTEGER NOT NULL,
        PRIMARY KEY ("partition", "offset")
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    name: "devices by creation time, for the expired-device sweep",
    // The sweep pages the devices created before now minus the token TTL, oldest first. Without
    // an index every page was a scan of all devices and a sort (EXPLAIN QUERY PLAN: "SCAN
    // devices; USE TEMP B-TREE FOR ORDER BY"), on the node's one writer thread, every sweep;
    // with it, a range read that stops at the page's limit. The index carries the rowid, so it
    // serves the ORDER BY created_at_ms, rowid too. Devices are written once per sign-in, so
    // the extra B-tree costs nothing on the message path.
    sql: `
      CREATE INDEX devices_by_created ON devices (created_at_ms);
    `,
  },
  {
    version: 8,
    name: "a group send's audience in its dedup record",
    // A redelivered group send must reach the members it was ordered for, not the group as
    // it is now, and a non-member's refusal must stay the answer for every record of the
    // send (core/router/step.ts, rule 5): the send's dedup record now keeps the group's
    // members at ordering time. A JSON array of user IDs; NULL for direct messages and for
    // the records written before this step (those fall back to the group as it is now).
    sql: `
      ALTER TABLE send_claims ADD COLUMN members TEXT;
    `,
  },
  {
    version: 9,
    name: "an ack's tombstone removes its pending entry in the same statement",
    // PendingStore.remove was two statements (the tombstone, then the delete) in a write
    // wrapped in SAVEPOINT and RELEASE: four statements per ack on the hot path. The trigger
    // makes it one INSERT, atomic as one statement is. It fires only when the tombstone is
    // new; an entry never exists beside its tombstone (put inserts only where no tombstone
    // is), so an ignored INSERT has nothing to delete.
    sql: `
      CREATE TRIGGER pending_tombstone_removes_entry AFTER INSERT ON pending_tombstones
      BEGIN
        DELETE FROM pending
        WHERE user_id = NEW.user_id AND device_id = NEW.device_id
          AND conversation_id = NEW.conversation_id AND message_id = NEW.message_id;
      END;
    `,
  },
];

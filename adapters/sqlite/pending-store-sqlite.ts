/**
 * PendingStoreSqlite: the offline store per device, in the embedded node's SQLite file
 * (core/ports/pending-store.ts is the contract; core/pending holds the same semantics as a
 * pure core).
 *
 * Owns the tables `pending` (user_id, device_id, conversation_id, message_id, message JSON)
 * and `pending_tombstones` (the same key, without the message).
 *
 * Rules:
 * - A two-phase set per (user, device, conversation, message_id): remove writes a tombstone
 *   and deletes the entry in one transaction, and put inserts only where no tombstone is
 *   (one INSERT ... WHERE NOT EXISTS), so an acked entry never comes back, even when a stale
 *   router puts it again, and a remove that arrives before its put still wins.
 * - put is idempotent (INSERT OR IGNORE keeps the first write); the entries of one put
 *   commit together, in one batched write (write-batcher.ts).
 * - Tombstones stay until `forgetTombstonesBefore` (beyond the port, as in
 *   PendingStoreMemory) drops those below a message ID: the owner calls it with the oldest
 *   message ID its log can still redeliver, so tombstones live at least as long as the log
 *   keeps records. Without a call they are kept for good (four short strings per ack).
 * - The primary key (user_id, device_id, conversation_id, message_id) is the read order: a
 *   list is a range scan after the cursor, a count a scan of one device's range. Tombstones
 *   are keyed by message_id first (migration 2): they append at the tail of their B-tree,
 *   one shared page per batch instead of a page per user.
 * - Entries come back as stored: the message is parsed from the JSON written by put.
 * - close() stops this adapter after its queued writes commit; the Database is the opener's.
 */
import type { PendingCursor, PendingStore } from "../../core/ports/pending-store.js";
import type { PendingEntry, StoredMessage } from "../../core/model.js";
import { assert } from "../../core/result.js";
import type { Database, Statement } from "./database.js";
import { ONE_STATEMENT } from "./write-batcher.js";

type EntryKey = { user_id: string; device_id: string; conversation_id: string; message_id: string };
type EntryRow = EntryKey & { message: string };
type ListedRow = { user_id: string; device_id: string; message: string };
export type DeviceKey = { user_id: string; device_id: string };

const LISTED_COLUMNS = "user_id, device_id, message";

export class PendingStoreSqlite implements PendingStore {
  private closed = false;
  private readonly insert_entry: Statement<[EntryRow]>;
  private readonly insert_tombstone: Statement<[EntryKey]>;
  private readonly list_from_start: Statement<[string, string, number], ListedRow>;
  private readonly list_after: Statement<[string, string, string, string, number], ListedRow>;
  private readonly conversation_from_start: Statement<[string, string, string, number], ListedRow>;
  private readonly conversation_after: Statement<[string, string, string, string, number], ListedRow>;
  private readonly count_entries: Statement<[string, string], { count: number }>;
  private readonly delete_device: Statement<[string, string]>;
  private readonly forget_tombstones: Statement<[string]>;
  private readonly first_device: Statement<[], DeviceKey>;
  private readonly next_device: Statement<[string, string], DeviceKey>;

  constructor(private readonly database: Database) {
    const db = database;
    this.insert_entry = db.prepare(
      `INSERT OR IGNORE INTO pending (user_id, device_id, conversation_id, message_id, message)
       SELECT @user_id, @device_id, @conversation_id, @message_id, @message
       WHERE NOT EXISTS (
         SELECT 1 FROM pending_tombstones
         WHERE user_id = @user_id AND device_id = @device_id AND conversation_id = @conversation_id AND message_id = @message_id
       )`,
    );
    this.insert_tombstone = db.prepare(
      "INSERT OR IGNORE INTO pending_tombstones (user_id, device_id, conversation_id, message_id) VALUES (@user_id, @device_id, @conversation_id, @message_id)",
    );
    this.list_from_start = db.prepare(
      `SELECT ${LISTED_COLUMNS} FROM pending WHERE user_id = ? AND device_id = ? ORDER BY conversation_id, message_id LIMIT ?`,
    );
    // A row-value comparison, which SQLite turns into a range on the primary key.
    this.list_after = db.prepare(
      `SELECT ${LISTED_COLUMNS} FROM pending WHERE user_id = ? AND device_id = ? AND (conversation_id, message_id) > (?, ?) ORDER BY conversation_id, message_id LIMIT ?`,
    );
    this.conversation_from_start = db.prepare(
      `SELECT ${LISTED_COLUMNS} FROM pending WHERE user_id = ? AND device_id = ? AND conversation_id = ? ORDER BY message_id LIMIT ?`,
    );
    this.conversation_after = db.prepare(
      `SELECT ${LISTED_COLUMNS} FROM pending WHERE user_id = ? AND device_id = ? AND conversation_id = ? AND message_id > ? ORDER BY message_id LIMIT ?`,
    );
    this.count_entries = db.prepare("SELECT COUNT(*) AS count FROM pending WHERE user_id = ? AND device_id = ?");
    this.delete_device = db.prepare("DELETE FROM pending WHERE user_id = ? AND device_id = ?");
    this.forget_tombstones = db.prepare("DELETE FROM pending_tombstones WHERE message_id < ?");
    // One seek per device along the primary key (a skip scan), whatever its entry count.
    this.first_device = db.prepare("SELECT user_id, device_id FROM pending ORDER BY user_id, device_id LIMIT 1");
    this.next_device = db.prepare("SELECT user_id, device_id FROM pending WHERE (user_id, device_id) > (?, ?) ORDER BY user_id, device_id LIMIT 1");
  }

  async put(entries: readonly PendingEntry[]): Promise<void> {
    this.assertOpen("put");
    if (entries.length === 0) return;
    // Serialised now, so that later changes to the caller's objects cannot reach the store.
    const rows: EntryRow[] = entries.map((entry) => ({
      user_id: entry.user_id,
      device_id: entry.device_id,
      conversation_id: entry.message.conversation_id,
      message_id: entry.message.message_id,
      message: JSON.stringify(entry.message),
    }));
    // A 1:1 message's one entry is one statement: no SAVEPOINT around it (write-batcher.ts).
    await this.database.write(
      () => {
        for (const row of rows) this.insert_entry.run(row);
      },
      rows.length === 1 ? ONE_STATEMENT : undefined,
    );
  }

  async list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): Promise<PendingEntry[]> {
    this.assertOpen("list");
    assertLimit("list", limit);
    const rows =
      after === null
        ? this.list_from_start.all(user_id, device_id, limit)
        : this.list_after.all(user_id, device_id, after.conversation_id, after.message_id, limit);
    return rows.map(entryOf);
  }

  async listConversation(
    user_id: string,
    device_id: string,
    conversation_id: string,
    after_message_id: string | null,
    limit: number,
  ): Promise<PendingEntry[]> {
    this.assertOpen("listConversation");
    assertLimit("listConversation", limit);
    const rows =
      after_message_id === null
        ? this.conversation_from_start.all(user_id, device_id, conversation_id, limit)
        : this.conversation_after.all(user_id, device_id, conversation_id, after_message_id, limit);
    return rows.map(entryOf);
  }

  async remove(user_id: string, device_id: string, conversation_id: string, message_id: string): Promise<void> {
    this.assertOpen("remove");
    const key: EntryKey = { user_id, device_id, conversation_id, message_id };
    // One statement: the tombstone's trigger deletes the entry (migration 9).
    await this.database.write(() => void this.insert_tombstone.run(key), ONE_STATEMENT);
  }

  /**
   * A range delete on the primary key. The device's tombstones stay until
   * forgetTombstonesBefore trims them with everyone's (they are keyed by message ID first, so
   * finding one device's would scan them all inside the write).
   */
  async removeDevice(user_id: string, device_id: string): Promise<void> {
    this.assertOpen("removeDevice");
    await this.database.write(() => {
      this.delete_device.run(user_id, device_id);
    });
  }

  async count(user_id: string, device_id: string): Promise<number> {
    this.assertOpen("count");
    return this.count_entries.get(user_id, device_id)?.count ?? 0;
  }

  /**
   * Drops the tombstones of messages below `before_message_id` (beyond the port); answers how
   * many. Only for IDs the log can no longer redeliver: a put of such a message would stick.
   */
  async forgetTombstonesBefore(before_message_id: string): Promise<number> {
    this.assertOpen("forgetTombstonesBefore");
    return this.database.write(() => this.forget_tombstones.run(before_message_id).changes);
  }

  /**
   * The devices that hold entries, in key order, strictly after `after`, at most `limit`
   * (beyond the port: the node's start-up collects the entries of devices that no longer exist).
   */
  async devicesWithEntries(after: DeviceKey | null, limit: number): Promise<DeviceKey[]> {
    this.assertOpen("devicesWithEntries");
    const found: DeviceKey[] = [];
    let at = after;
    while (found.length < limit) {
      const row = at === null ? this.first_device.get() : this.next_device.get(at.user_id, at.device_id);
      if (row === undefined) break;
      at = { user_id: row.user_id, device_id: row.device_id };
      found.push(at);
    }
    return found;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.database.flush();
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`PendingStoreSqlite.${method}: the store is closed`);
  }
}

function assertLimit(method: string, limit: number): void {
  assert(Number.isInteger(limit) && limit >= 0, `PendingStoreSqlite.${method}: limit must be a non-negative integer, got ${limit}`);
}

function entryOf(row: ListedRow): PendingEntry {
  // Only put writes this column, from a checked StoredMessage.
  return { user_id: row.user_id, device_id: row.device_id, message: JSON.parse(row.message) as StoredMessage };
}

/**
 * MessageStoreSqlite: history, the durable dedup record, receipts, inboxes and read
 * watermarks in the embedded node's SQLite file (core/ports/message-store.ts is the contract).
 *
 * Owns the tables `messages`, `dedup_claims`, `send_claims`, `id_checkpoints`, `receipts`,
 * `inbox`, `read_marks` and `media_links`.
 *
 * Rules:
 * - Every write is a batched write (write-batcher.ts): it resolves once committed, and it is
 *   idempotent, so a router that handles a record twice leaves the tables as if once.
 * - putMessage keeps the first write of a (conversation_id, message_id) (INSERT OR IGNORE).
 * - Message IDs are 19-digit decimals, so SQLite's BINARY text order is numeric order, the
 *   same as JavaScript's string order (core/ids). History pages walk the primary key
 *   (conversation_id, message_id) backwards; countAfter walks the same key forwards from
 *   the read mark (no secondary index: each one costs every message a page, migration 5).
 * - claim is first-writer-wins per (sender_id, client_msg_id): INSERT OR IGNORE, then SELECT
 *   of the stored claim, in the same transaction, answering the winner.
 * - putSendClaim and putIdCheckpoints are plain upserts (INSERT OR REPLACE): the router only
 *   ever writes one value per key (core/router/ordering.ts). A group send's audience is a
 *   JSON array of user IDs in send_claims.members (migration 8); NULL for a direct message
 *   and for records written before it.
 * - A receipt only moves forwards (sent < delivered < read): an upsert keeping the greater
 *   rank, then a SELECT of the stored one, in the same transaction.
 * - touchInbox replaces a (user, conversation) entry only with a greater last_message_id, and
 *   markRead a watermark only with a greater message_id (conditional upserts).
 * - Reads run directly and see exactly the committed writes. getMessage answers the newest
 *   RECENT_MESSAGES_MAX messages this store inserted from memory (the router loads the
 *   message of every ack, nearly always one just written): a message row never changes once
 *   inserted, and the cache entry is made inside the write that inserted it (SQL first), so
 *   it answers exactly what a SELECT would.
 * - close() stops this adapter (later calls reject) after its queued writes commit; the
 *   Database belongs to whoever opened it.
 */
import type { MessageStore } from "../../core/ports/message-store.js";
import type { MessageType, ReceiptStatus } from "../../core/protocol/frames.js";
import type { DedupClaim, IdCheckpoint, InboxEntry, ReceiptRow, SendClaim, StoredMessage } from "../../core/model.js";
import { assert } from "../../core/result.js";
import type { Database, Statement } from "./database.js";
import { ONE_STATEMENT } from "./write-batcher.js";

const RECEIPT_RANK: Readonly<Record<ReceiptStatus, number>> = { sent: 0, delivered: 1, read: 2 };
const RECEIPT_BY_RANK: readonly ReceiptStatus[] = ["sent", "delivered", "read"];

/** Checkpoints within this many offsets below the newest of a partition are kept. */
const CHECKPOINT_OFFSETS_KEPT = 100_000;

type SendClaimRow = {
  sender_id: string;
  conversation_id: string;
  client_msg_id: string;
  message_id: string;
  prev_message_id: string | null;
  partition: number;
  offset: number;
  digest: string;
  /** JSON array of user IDs, or NULL (see SendClaim.members). */
  members: string | null;
};

type MessageRow = {
  conversation_id: string;
  message_id: string;
  sender_id: string;
  sender_device_id: string;
  group_id: string | null;
  content: string;
  type: string;
  client_msg_id: string;
  sent_at_ms: number;
  prev_message_id: string | null;
};

type ClaimRow = {
  sender_id: string;
  client_msg_id: string;
  message_id: string;
  conversation_id: string;
  prev_message_id: string | null;
  partition: number;
  offset: number;
};

type InboxRow = {
  user_id: string;
  conversation_id: string;
  kind: string;
  other_user_id: string | null;
  group_id: string | null;
  last_message_id: string;
  last_message_at_ms: number;
  last_message_preview: string;
};

const MESSAGE_COLUMNS = "conversation_id, message_id, sender_id, sender_device_id, group_id, content, type, client_msg_id, sent_at_ms, prev_message_id";
const CLAIM_COLUMNS = 'sender_id, client_msg_id, message_id, conversation_id, prev_message_id, "partition" AS partition, "offset" AS offset';
const INBOX_COLUMNS = "user_id, conversation_id, kind, other_user_id, group_id, last_message_id, last_message_at_ms, last_message_preview";

const RECENT_MESSAGES_MAX = 20_000;

export class MessageStoreSqlite implements MessageStore {
  private closed = false;
  /** `${conversation_id} ${message_id}` -> the message, oldest first (see the header). */
  private readonly recent = new Map<string, StoredMessage>();
  private readonly insert_message: Statement<[MessageRow]>;
  private readonly select_message: Statement<[string, string], MessageRow>;
  private readonly history_all: Statement<[string, number], MessageRow>;
  private readonly history_before: Statement<[string, string, number], MessageRow>;
  private readonly last_message: Statement<[string], { message_id: string }>;
  private readonly count_all: Statement<[string, string], { count: number }>;
  private readonly count_after: Statement<[string, string, string], { count: number }>;
  private readonly insert_claim: Statement<[ClaimRow]>;
  private readonly select_claim: Statement<[string, string], ClaimRow>;
  private readonly upsert_send_claim: Statement<[SendClaimRow]>;
  private readonly select_send_claim: Statement<[string, string, string], SendClaimRow>;
  private readonly upsert_checkpoint: Statement<[IdCheckpoint]>;
  private readonly select_checkpoint: Statement<[number, number], IdCheckpoint>;
  private readonly trim_checkpoints: Statement<[number, number]>;
  private readonly upsert_receipt: Statement<[string, string, number], { status_rank: number }>;
  private readonly select_receipts: Statement<[string], { user_id: string; status_rank: number }>;
  private readonly upsert_inbox: Statement<[InboxRow]>;
  private readonly inbox_all: Statement<[string, number], InboxRow>;
  private readonly inbox_before: Statement<[string, string, number], InboxRow>;
  private readonly upsert_read: Statement<[string, string, string]>;
  private readonly select_read: Statement<[string, string], { message_id: string }>;
  private readonly insert_media_link: Statement<[string, string]>;
  private readonly media_links_all: Statement<[string, number], { conversation_id: string }>;
  private readonly media_links_after: Statement<[string, string, number], { conversation_id: string }>;

  constructor(private readonly database: Database) {
    const db = database;
    this.insert_message = db.prepare(
      `INSERT OR IGNORE INTO messages (${MESSAGE_COLUMNS}) VALUES (@conversation_id, @message_id, @sender_id, @sender_device_id, @group_id, @content, @type, @client_msg_id, @sent_at_ms, @prev_message_id)`,
    );
    this.select_message = db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND message_id = ?`);
    this.history_all = db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY message_id DESC LIMIT ?`);
    this.history_before = db.prepare(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND message_id < ? ORDER BY message_id DESC LIMIT ?`,
    );
    this.last_message = db.prepare("SELECT message_id FROM messages WHERE conversation_id = ? ORDER BY message_id DESC LIMIT 1");
    this.count_all = db.prepare("SELECT COUNT(*) AS count FROM messages WHERE conversation_id = ? AND sender_id <> ?");
    this.count_after = db.prepare(
      "SELECT COUNT(*) AS count FROM messages WHERE conversation_id = ? AND message_id > ? AND sender_id <> ?",
    );
    this.insert_claim = db.prepare(
      'INSERT OR IGNORE INTO dedup_claims (sender_id, client_msg_id, message_id, conversation_id, prev_message_id, "partition", "offset") VALUES (@sender_id, @client_msg_id, @message_id, @conversation_id, @prev_message_id, @partition, @offset)',
    );
    this.select_claim = db.prepare(`SELECT ${CLAIM_COLUMNS} FROM dedup_claims WHERE sender_id = ? AND client_msg_id = ?`);
    this.upsert_send_claim = db.prepare(
      'INSERT OR REPLACE INTO send_claims (sender_id, conversation_id, client_msg_id, message_id, prev_message_id, "partition", "offset", digest, members) VALUES (@sender_id, @conversation_id, @client_msg_id, @message_id, @prev_message_id, @partition, @offset, @digest, @members)',
    );
    this.select_send_claim = db.prepare(
      'SELECT sender_id, conversation_id, client_msg_id, message_id, prev_message_id, "partition", "offset", digest, members FROM send_claims WHERE sender_id = ? AND conversation_id = ? AND client_msg_id = ?',
    );
    this.upsert_checkpoint = db.prepare('INSERT OR REPLACE INTO id_checkpoints ("partition", "offset", last_ms, sequence) VALUES (@partition, @offset, @last_ms, @sequence)');
    this.select_checkpoint = db.prepare('SELECT "partition", "offset", last_ms, sequence FROM id_checkpoints WHERE "partition" = ? AND "offset" = ?');
    // Rows far below the newest are never read again (see putIdCheckpoints).
    this.trim_checkpoints = db.prepare('DELETE FROM id_checkpoints WHERE "partition" = ? AND "offset" < ?');
    this.upsert_receipt = db.prepare(
      "INSERT INTO receipts (message_id, user_id, status_rank) VALUES (?, ?, ?) ON CONFLICT (message_id, user_id) DO UPDATE SET status_rank = MAX(status_rank, excluded.status_rank) RETURNING status_rank",
    );
    this.select_receipts = db.prepare("SELECT user_id, status_rank FROM receipts WHERE message_id = ? ORDER BY user_id");
    this.upsert_inbox = db.prepare(
      `INSERT INTO inbox (${INBOX_COLUMNS}) VALUES (@user_id, @conversation_id, @kind, @other_user_id, @group_id, @last_message_id, @last_message_at_ms, @last_message_preview)
       ON CONFLICT (user_id, conversation_id) DO UPDATE SET
         kind = excluded.kind, other_user_id = excluded.other_user_id, group_id = excluded.group_id,
         last_message_id = excluded.last_message_id, last_message_at_ms = excluded.last_message_at_ms,
         last_message_preview = excluded.last_message_preview
       WHERE excluded.last_message_id > inbox.last_message_id`,
    );
    this.inbox_all = db.prepare(
      `SELECT ${INBOX_COLUMNS} FROM inbox WHERE user_id = ? ORDER BY last_message_id DESC, conversation_id DESC LIMIT ?`,
    );
    this.inbox_before = db.prepare(
      `SELECT ${INBOX_COLUMNS} FROM inbox WHERE user_id = ? AND last_message_id < ? ORDER BY last_message_id DESC, conversation_id DESC LIMIT ?`,
    );
    this.upsert_read = db.prepare(
      "INSERT INTO read_marks (user_id, conversation_id, message_id) VALUES (?, ?, ?) ON CONFLICT (user_id, conversation_id) DO UPDATE SET message_id = excluded.message_id WHERE excluded.message_id > read_marks.message_id",
    );
    this.select_read = db.prepare("SELECT message_id FROM read_marks WHERE user_id = ? AND conversation_id = ?");
    this.insert_media_link = db.prepare("INSERT OR IGNORE INTO media_links (media_id, conversation_id) VALUES (?, ?)");
    this.media_links_all = db.prepare("SELECT conversation_id FROM media_links WHERE media_id = ? ORDER BY conversation_id LIMIT ?");
    this.media_links_after = db.prepare("SELECT conversation_id FROM media_links WHERE media_id = ? AND conversation_id > ? ORDER BY conversation_id LIMIT ?");
  }

  async putMessage(message: StoredMessage): Promise<void> {
    this.assertOpen("putMessage");
    const row: MessageRow = {
      conversation_id: message.conversation_id,
      message_id: message.message_id,
      sender_id: message.sender_id,
      sender_device_id: message.sender_device_id,
      group_id: message.group_id,
      content: message.content,
      type: message.type,
      client_msg_id: message.client_msg_id,
      sent_at_ms: message.sent_at_ms,
      prev_message_id: message.prev_message_id,
    };
    await this.database.write(
      () => {
        if (this.insert_message.run(row).changes === 0) return;
        if (this.recent.size >= RECENT_MESSAGES_MAX) this.recent.delete(this.recent.keys().next().value!);
        this.recent.set(`${row.conversation_id} ${row.message_id}`, messageOf(row));
      },
      ONE_STATEMENT,
    );
  }

  async getMessage(conversation_id: string, message_id: string): Promise<StoredMessage | null> {
    this.assertOpen("getMessage");
    const cached = this.recent.get(`${conversation_id} ${message_id}`);
    if (cached !== undefined) return { ...cached };
    const row = this.select_message.get(conversation_id, message_id);
    return row === undefined ? null : messageOf(row);
  }

  async history(conversation_id: string, before_message_id: string | null, limit: number): Promise<StoredMessage[]> {
    this.assertOpen("history");
    assertLimit("history", limit);
    const rows = before_message_id === null ? this.history_all.all(conversation_id, limit) : this.history_before.all(conversation_id, before_message_id, limit);
    return rows.map(messageOf);
  }

  async lastMessageId(conversation_id: string): Promise<string | null> {
    this.assertOpen("lastMessageId");
    return this.last_message.get(conversation_id)?.message_id ?? null;
  }

  async countAfter(conversation_id: string, after_message_id: string | null, excluding_sender_id: string): Promise<number> {
    this.assertOpen("countAfter");
    const row =
      after_message_id === null
        ? this.count_all.get(conversation_id, excluding_sender_id)
        : this.count_after.get(conversation_id, after_message_id, excluding_sender_id);
    return row?.count ?? 0;
  }

  async claim(claim: DedupClaim): Promise<DedupClaim> {
    this.assertOpen("claim");
    const row: ClaimRow = {
      sender_id: claim.sender_id,
      client_msg_id: claim.client_msg_id,
      message_id: claim.message_id,
      conversation_id: claim.conversation_id,
      prev_message_id: claim.prev_message_id,
      partition: claim.position.partition,
      offset: claim.position.offset,
    };
    return this.database.write(() => {
      this.insert_claim.run(row);
      const winner = this.select_claim.get(row.sender_id, row.client_msg_id);
      assert(winner !== undefined, "MessageStoreSqlite.claim: a claim is stored after INSERT OR IGNORE");
      return claimOf(winner);
    }, ONE_STATEMENT);
  }

  async getClaim(sender_id: string, client_msg_id: string): Promise<DedupClaim | null> {
    this.assertOpen("getClaim");
    const row = this.select_claim.get(sender_id, client_msg_id);
    return row === undefined ? null : claimOf(row);
  }

  async putSendClaim(claim: SendClaim): Promise<void> {
    this.assertOpen("putSendClaim");
    const row: SendClaimRow = {
      sender_id: claim.sender_id,
      conversation_id: claim.conversation_id,
      client_msg_id: claim.client_msg_id,
      message_id: claim.message_id,
      prev_message_id: claim.prev_message_id,
      partition: claim.position.partition,
      offset: claim.position.offset,
      digest: claim.digest,
      members: claim.members === null ? null : JSON.stringify(claim.members),
    };
    await this.database.write(() => void this.upsert_send_claim.run(row), ONE_STATEMENT);
  }

  async findSendClaim(sender_id: string, conversation_id: string, client_msg_id: string): Promise<SendClaim | null> {
    this.assertOpen("findSendClaim");
    const row = this.select_send_claim.get(sender_id, conversation_id, client_msg_id);
    return row === undefined ? null : { ...claimOf(row), digest: row.digest, members: row.members === null ? null : membersOf(row.members) };
  }

  async putIdCheckpoints(checkpoints: readonly IdCheckpoint[]): Promise<void> {
    this.assertOpen("putIdCheckpoints");
    if (checkpoints.length === 0) return;
    const rows = checkpoints.map((c) => ({ partition: c.partition, offset: c.offset, last_ms: c.last_ms, sequence: c.sequence }));
    // One process holds the embedded log, so only the newest checkpoint is ever read; the rows
    // of the last CHECKPOINTS_KEPT commits stay (a router restarting mid-commit), older go.
    await this.database.write(() => {
      for (const row of rows) {
        this.upsert_checkpoint.run(row);
        this.trim_checkpoints.run(row.partition, row.offset - CHECKPOINT_OFFSETS_KEPT);
      }
    });
  }

  async idCheckpoint(partition: number, offset: number): Promise<IdCheckpoint | null> {
    this.assertOpen("idCheckpoint");
    const row = this.select_checkpoint.get(partition, offset);
    return row === undefined ? null : { partition: row.partition, offset: row.offset, last_ms: row.last_ms, sequence: row.sequence };
  }

  async advanceReceipt(message_id: string, user_id: string, status: ReceiptStatus): Promise<ReceiptStatus> {
    this.assertOpen("advanceReceipt");
    const rank = RECEIPT_RANK[status];
    return this.database.write(() => {
      // RETURNING: the stored rank after the upsert, without a second statement to read it.
      const stored = this.upsert_receipt.get(message_id, user_id, rank);
      assert(stored !== undefined, "MessageStoreSqlite.advanceReceipt: a receipt is stored after the upsert");
      return statusOf(stored.status_rank);
    }, ONE_STATEMENT);
  }

  async receipts(message_id: string): Promise<ReceiptRow[]> {
    this.assertOpen("receipts");
    return this.select_receipts.all(message_id).map((row) => ({ user_id: row.user_id, status: statusOf(row.status_rank) }));
  }

  async touchInbox(entry: InboxEntry): Promise<void> {
    this.assertOpen("touchInbox");
    const row: InboxRow = {
      user_id: entry.user_id,
      conversation_id: entry.conversation_id,
      kind: entry.kind,
      other_user_id: entry.other_user_id,
      group_id: entry.group_id,
      last_message_id: entry.last_message_id,
      last_message_at_ms: entry.last_message_at_ms,
      last_message_preview: entry.last_message_preview,
    };
    await this.database.write(() => {
      this.upsert_inbox.run(row);
    }, ONE_STATEMENT);
  }

  async markRead(user_id: string, conversation_id: string, message_id: string): Promise<void> {
    this.assertOpen("markRead");
    await this.database.write(() => {
      this.upsert_read.run(user_id, conversation_id, message_id);
    }, ONE_STATEMENT);
  }

  async readUpTo(user_id: string, conversation_id: string): Promise<string | null> {
    this.assertOpen("readUpTo");
    return this.select_read.get(user_id, conversation_id)?.message_id ?? null;
  }

  async inbox(user_id: string, before_message_id: string | null, limit: number): Promise<InboxEntry[]> {
    this.assertOpen("inbox");
    assertLimit("inbox", limit);
    const rows = before_message_id === null ? this.inbox_all.all(user_id, limit) : this.inbox_before.all(user_id, before_message_id, limit);
    return rows.map(inboxOf);
  }

  async linkMedia(media_id: string, conversation_id: string): Promise<void> {
    this.assertOpen("linkMedia");
    await this.database.write(() => {
      this.insert_media_link.run(media_id, conversation_id);
    }, ONE_STATEMENT);
  }

  async mediaConversations(media_id: string, after_conversation_id: string | null, limit: number): Promise<string[]> {
    this.assertOpen("mediaConversations");
    assertLimit("mediaConversations", limit);
    const rows = after_conversation_id === null ? this.media_links_all.all(media_id, limit) : this.media_links_after.all(media_id, after_conversation_id, limit);
    return rows.map((row) => row.conversation_id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.database.flush();
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`MessageStoreSqlite.${method}: the store is closed`);
  }
}

function assertLimit(method: string, limit: number): void {
  assert(Number.isInteger(limit) && limit >= 0, `MessageStoreSqlite.${method}: limit must be a non-negative integer, got ${limit}`);
}

function messageOf(row: MessageRow): StoredMessage {
  return {
    message_id: row.message_id,
    conversation_id: row.conversation_id,
    sender_id: row.sender_id,
    sender_device_id: row.sender_device_id,
    group_id: row.group_id,
    content: row.content,
    // Only putMessage writes this column, from a checked StoredMessage.
    type: row.type as MessageType,
    client_msg_id: row.client_msg_id,
    sent_at_ms: row.sent_at_ms,
    prev_message_id: row.prev_message_id,
  };
}

function claimOf(row: ClaimRow): DedupClaim {
  return {
    sender_id: row.sender_id,
    client_msg_id: row.client_msg_id,
    message_id: row.message_id,
    conversation_id: row.conversation_id,
    prev_message_id: row.prev_message_id,
    position: { partition: row.partition, offset: row.offset },
  };
}

/** Only putSendClaim writes the column, from a checked SendClaim: anything else is a corrupt file. */
function membersOf(json: string): string[] {
  const members: unknown = JSON.parse(json);
  assert(Array.isArray(members) && members.every((m) => typeof m === "string"), "MessageStoreSqlite: send_claims.members is not a JSON array of user IDs");
  return members as string[];
}

function inboxOf(row: InboxRow): InboxEntry {
  assert(row.kind === "direct" || row.kind === "group", `MessageStoreSqlite: inbox row of kind '${row.kind}'`);
  return {
    user_id: row.user_id,
    conversation_id: row.conversation_id,
    kind: row.kind,
    other_user_id: row.other_user_id,
    group_id: row.group_id,
    last_message_id: row.last_message_id,
    last_message_at_ms: row.last_message_at_ms,
    last_message_preview: row.last_message_preview,
  };
}

function statusOf(rank: number): ReceiptStatus {
  const status = RECEIPT_BY_RANK[rank];
  assert(status !== undefined, `MessageStoreSqlite: receipt rank ${rank} is not one of 0, 1, 2`);
  return status;
}

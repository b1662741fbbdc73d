/**
 * MessageStoreCassandra: history, the durable dedup record, receipts, inboxes and read
 * watermarks on Cassandra or ScyllaDB (core/ports/message-store.ts is the contract;
 * migrations.ts holds the tables and why they are shaped so).
 *
 * Owns the tables `messages`, `dedup_claims`, `send_claims`, `id_checkpoints`, `receipts`,
 * `inbox`, `read_marks` and `media_links` of one keyspace. The Client belongs to whoever opened it; close() only stops this adapter.
 *
 * Rules:
 * - Prepared statements only, at one configured consistency (default LOCAL_QUORUM), so a
 *   read sees every write that completed before it (quorum reads overlap quorum writes).
 * - Message IDs are 19-digit Snowflake strings, kept as `text`: their byte order is their
 *   numeric order, the order the ports speak in, and they come back exactly as given.
 * - putMessage is an upsert. A message is written again only by a redelivery of its log
 *   record, which carries the winning claim's ID and the same fields (sent_at_ms comes from
 *   the ID), so rewriting it changes nothing.
 * - claim is INSERT ... IF NOT EXISTS, a lightweight transaction whose Paxos round runs at
 *   the serial consistency (default SERIAL): exactly one writer applies, and every other one
 *   gets the stored row back in the same round trip, which it answers. A claim repeated after
 *   a timeout is safe: if the first try had applied, the repeat reads its own claim back.
 *   The Paxos commit is written at the ordinary consistency, so getClaim, a plain read at
 *   that consistency, sees every claim that some caller has been answered.
 * - putSendClaim and putIdCheckpoints are plain writes through the batcher (no Paxos): the
 *   router writes one value per key, so a repeat rewrites the same row (core/router/ordering.ts).
 *   A send's `members` (a group's audience at ordering time) is a JSON array in a text cell.
 *   The router no longer calls claim.
 * - A receipt is a grow-only set of booleans (reached_sent, reached_delivered, reached_read):
 *   advanceReceipt sets its status's flag, then reads the row and answers the furthest flag.
 *   Setting a flag commutes with every other write, so concurrent advances never go back.
 * - touchInbox and markRead are max-registers built from a row per value: one single-
 *   partition batch inserts the new row and range-deletes the lower rows of the same
 *   conversation, both with write timestamp INBOX_WRITE_TIMESTAMP. A tombstone wins a
 *   timestamp tie, so whatever order concurrent or stale touches arrive in, exactly the row of
 *   the greatest ID survives. Readers still take the greatest row per conversation, so a row
 *   resurrected after its tombstone was purged (gc_grace_seconds) is never shown. Why not
 *   the message ID itself as the write timestamp: a Snowflake ID read as microseconds lies
 *   centuries ahead, and ScyllaDB refuses timestamps more than 3 days in the future
 *   (restrict_future_timestamp); a fixed timestamp in the past passes both servers. No other
 *   writer may use these two tables with ordinary timestamps.
 * - inbox is one single-partition read of the user's rows (ordered by conversation), keeping
 *   the `limit` greatest entries below the cursor. Why not a second table clustered by
 *   last_message_id: moving a conversation there needs the old row's key, i.e. a read before
 *   every write on the hot path (every message touches every member's inbox), and two
 *   concurrent touches that read the same old key leave a stale duplicate behind. Here a
 *   touch is one blind write, and the price is an inbox read proportional to the user's
 *   conversations (hundreds, streamed in pages of INBOX_FETCH_ROWS, memory bounded by
 *   `limit`). Users with huge inboxes would get the seed's (user_id, month) bucketing.
 * - countAfter is two single-partition range counts, all messages after the cursor minus the
 *   excluded sender's (CQL has no `!=`); a message landing between the two reads can make the
 *   answer one off for that moment, never negative (clamped).
 */
import { types, type Client } from "cassandra-driver";
import type { MessageStore } from "../../core/ports/message-store.js";
import type { MessageType, ReceiptStatus } from "../../core/protocol/frames.js";
import type { DedupClaim, IdCheckpoint, InboxEntry, ReceiptRow, SendClaim, StoredMessage } from "../../core/model.js";
import { assert } from "../../core/result.js";
import {
  assertLimit,
  bindable,
  callOptions,
  checkKeyspace,
  consistencyCode,
  CONSISTENCY_DEFAULT,
  numberOf,
  SERIAL_CONSISTENCY_DEFAULT,
  StoreLifecycle,
  textOf,
  textOrNullOf,
  type CassandraConsistency,
  type CassandraSerialConsistency,
} from "./cql.js";
import type { CqlStatement, CqlWriteBatcher } from "./write-batcher.js";

export type MessageStoreCassandraOptions = {
  /** The keyspace that migrateCassandra prepared. */
  readonly keyspace: string;
  /** Consistency of every read and write. Default LOCAL_QUORUM. */
  readonly consistency?: CassandraConsistency;
  /** Consistency of the Paxos round of `claim`. Default SERIAL (LOCAL_SERIAL for one data center's view). */
  readonly serial_consistency?: CassandraSerialConsistency;
  /** Plain writes go through this batcher (shared with the pending store); each is its own request without one. */
  readonly batcher?: CqlWriteBatcher;
};

/** Write timestamp of every inbox and read-mark write: fixed, so that a range deletion wins every tie. */
export const INBOX_WRITE_TIMESTAMP = 1;
/** Rows per page when an inbox partition is streamed. */
export const INBOX_FETCH_ROWS = 500;
/** Rows per page when receipts of a message are read (a group has at most 500 members). */
const RECEIPT_FETCH_ROWS = 1000;

const OWNER = "MessageStoreCassandra";
const RECEIPT_BY_RANK: readonly ReceiptStatus[] = ["sent", "delivered", "read"];
const RECEIPT_COLUMN: Readonly<Record<ReceiptStatus, string>> = { sent: "reached_sent", delivered: "reached_delivered", read: "reached_read" };
const MESSAGE_COLUMNS = "conversation_id, message_id, sender_id, sender_device_id, group_id, content, message_type, client_msg_id, sent_at_ms, prev_message_id";
const CLAIM_COLUMNS = "sender_id, client_msg_id, message_id, conversation_id, prev_message_id, log_partition, log_offset";
const INBOX_COLUMNS = "user_id, conversation_id, last_message_id, kind, other_user_id, group_id, last_message_at_ms, last_message_preview";

type Cql = {
  readonly insert_message: string;
  readonly select_message: string;
  readonly history_all: string;
  readonly history_before: string;
  readonly last_message: string;
  readonly count_all: string;
  readonly count_after: string;
  readonly count_sender_all: string;
  readonly count_sender_after: string;
  readonly insert_claim: string;
  readonly select_claim: string;
  readonly insert_send_claim: string;
  readonly select_send_claim: string;
  readonly insert_checkpoint: string;
  readonly select_checkpoint: string;
  readonly set_receipt: Readonly<Record<ReceiptStatus, string>>;
  readonly select_receipt: string;
  readonly select_receipts: string;
  readonly insert_inbox: string;
  readonly trim_inbox: string;
  readonly select_inbox: string;
  readonly insert_read: string;
  readonly trim_read: string;
  readonly select_read: string;
  readonly insert_media_link: string;
  readonly media_links_all: string;
  readonly media_links_after: string;
};

function cqlFor(ks: string): Cql {
  const ts = INBOX_WRITE_TIMESTAMP;
  const setReceipt = (status: ReceiptStatus): string => `UPDATE ${ks}.receipts SET ${RECEIPT_COLUMN[status]} = true WHERE message_id = ? AND user_id = ?`;
  return {
    insert_message: `INSERT INTO ${ks}.messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    select_message: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation_id = ? AND message_id = ?`,
    history_all: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation_id = ? LIMIT ?`,
    history_before: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation_id = ? AND message_id < ? LIMIT ?`,
    last_message: `SELECT message_id FROM ${ks}.messages WHERE conversation_id = ? LIMIT 1`,
    count_all: `SELECT COUNT(*) AS count FROM ${ks}.messages WHERE conversation_id = ?`,
    count_after: `SELECT COUNT(*) AS count FROM ${ks}.messages WHERE conversation_id = ? AND message_id > ?`,
    // ALLOW FILTERING within one partition: the filter runs over the same slice as the count.
    count_sender_all: `SELECT COUNT(*) AS count FROM ${ks}.messages WHERE conversation_id = ? AND sender_id = ? ALLOW FILTERING`,
    count_sender_after: `SELECT COUNT(*) AS count FROM ${ks}.messages WHERE conversation_id = ? AND message_id > ? AND sender_id = ? ALLOW FILTERING`,
    insert_claim: `INSERT INTO ${ks}.dedup_claims (${CLAIM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`,
    select_claim: `SELECT ${CLAIM_COLUMNS} FROM ${ks}.dedup_claims WHERE sender_id = ? AND client_msg_id = ?`,
    insert_send_claim: `INSERT INTO ${ks}.send_claims (sender_id, conversation_id, client_msg_id, message_id, prev_message_id, log_partition, log_offset, digest, members) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    select_send_claim: `SELECT sender_id, conversation_id, client_msg_id, message_id, prev_message_id, log_partition, log_offset, digest, members FROM ${ks}.send_claims WHERE sender_id = ? AND conversation_id = ? AND client_msg_id = ?`,
    insert_checkpoint: `INSERT INTO ${ks}.id_checkpoints (log_partition, log_offset, last_ms, sequence) VALUES (?, ?, ?, ?)`,
    select_checkpoint: `SELECT log_partition, log_offset, last_ms, sequence FROM ${ks}.id_checkpoints WHERE log_partition = ? AND log_offset = ?`,
    set_receipt: { sent: setReceipt("sent"), delivered: setReceipt("delivered"), read: setReceipt("read") },
    select_receipt: `SELECT reached_sent, reached_delivered, reached_read FROM ${ks}.receipts WHERE message_id = ? AND user_id = ?`,
    select_receipts: `SELECT user_id, reached_sent, reached_delivered, reached_read FROM ${ks}.receipts WHERE message_id = ?`,
    insert_inbox: `INSERT INTO ${ks}.inbox (${INBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ${ts}`,
    trim_inbox: `DELETE FROM ${ks}.inbox USING TIMESTAMP ${ts} WHERE user_id = ? AND conversation_id = ? AND last_message_id < ?`,
    select_inbox: `SELECT ${INBOX_COLUMNS} FROM ${ks}.inbox WHERE user_id = ?`,
    insert_read: `INSERT INTO ${ks}.read_marks (user_id, conversation_id, message_id) VALUES (?, ?, ?) USING TIMESTAMP ${ts}`,
    trim_read: `DELETE FROM ${ks}.read_marks USING TIMESTAMP ${ts} WHERE user_id = ? AND conversation_id = ? AND message_id < ?`,
    select_read: `SELECT message_id FROM ${ks}.read_marks WHERE user_id = ? AND conversation_id = ? LIMIT 1`,
    insert_media_link: `INSERT INTO ${ks}.media_links (media_id, conversation_id) VALUES (?, ?)`,
    media_links_all: `SELECT conversation_id FROM ${ks}.media_links WHERE media_id = ? LIMIT ?`,
    media_links_after: `SELECT conversation_id FROM ${ks}.media_links WHERE media_id = ? AND conversation_id > ? LIMIT ?`,
  };
}

export class MessageStoreCassandra implements MessageStore {
  private readonly cql: Cql;
  private readonly consistency: number;
  private readonly serial_consistency: number;
  private readonly lifecycle = new StoreLifecycle(OWNER);
  private readonly batcher: CqlWriteBatcher | null;

  constructor(
    private readonly client: Client,
    options: MessageStoreCassandraOptions,
  ) {
    this.batcher = options.batcher ?? null;
    this.cql = cqlFor(checkKeyspace(OWNER, options.keyspace));
    this.consistency = consistencyCode(options.consistency ?? CONSISTENCY_DEFAULT);
    this.serial_consistency = consistencyCode(options.serial_consistency ?? SERIAL_CONSISTENCY_DEFAULT);
  }

  putMessage(message: StoredMessage): Promise<void> {
    return this.lifecycle.run("putMessage", async () => {
      const m = message;
      await this.write([
        {
          query: this.cql.insert_message,
          params: [
          m.conversation_id,
          m.message_id,
          m.sender_id,
          m.sender_device_id,
          bindable(m.group_id),
          m.content,
          m.type,
          m.client_msg_id,
          types.Long.fromNumber(m.sent_at_ms),
          bindable(m.prev_message_id),
          ],
        },
      ]);
    });
  }

  getMessage(conversation_id: string, message_id: string): Promise<StoredMessage | null> {
    return this.lifecycle.run("getMessage", async () => {
      const result = await this.client.execute(this.cql.select_message, [conversation_id, message_id], this.options());
      const row = result.first();
      return row === null ? null : messageOf(row);
    });
  }

  history(conversation_id: string, before_message_id: string | null, limit: number): Promise<StoredMessage[]> {
    return this.lifecycle.run("history", async () => {
      assertLimit(OWNER, "history", limit);
      if (limit === 0) return [];
      const [query, params] =
        before_message_id === null
          ? [this.cql.history_all, [conversation_id, limit]]
          : [this.cql.history_before, [conversation_id, before_message_id, limit]];
      const result = await this.client.execute(query, params, this.options({ fetchSize: limit }));
      const page: StoredMessage[] = [];
      // The LIMIT bounds the rows; iterating follows the driver's pages should it split them.
      for await (const row of result) page.push(messageOf(row));
      return page;
    });
  }

  lastMessageId(conversation_id: string): Promise<string | null> {
    return this.lifecycle.run("lastMessageId", async () => {
      const row = (await this.client.execute(this.cql.last_message, [conversation_id], this.options())).first();
      return row === null ? null : textOf(row["message_id"], "messages.message_id");
    });
  }

  countAfter(conversation_id: string, after_message_id: string | null, excluding_sender_id: string): Promise<number> {
    return this.lifecycle.run("countAfter", async () => {
      const [all, own] =
        after_message_id === null
          ? await Promise.all([this.count(this.cql.count_all, [conversation_id]), this.count(this.cql.count_sender_all, [conversation_id, excluding_sender_id])])
          : await Promise.all([
              this.count(this.cql.count_after, [conversation_id, after_message_id]),
              this.count(this.cql.count_sender_after, [conversation_id, after_message_id, excluding_sender_id]),
            ]);
      return Math.max(0, all - own);
    });
  }

  claim(claim: DedupClaim): Promise<DedupClaim> {
    return this.lifecycle.run("claim", async () => {
      const c = claim;
      const result = await this.client.execute(
        this.cql.insert_claim,
        [
          c.sender_id,
          c.client_msg_id,
          c.message_id,
          c.conversation_id,
          bindable(c.prev_message_id),
          c.position.partition,
          types.Long.fromNumber(c.position.offset),
        ],
        this.options({ serialConsistency: this.serial_consistency }),
      );
      const row = result.first();
      assert(row !== null, `${OWNER}.claim: a lightweight transaction answers one row`);
      // Applied: this claim won. Not applied: the row is the stored winner, read in the same Paxos round.
      return row["[applied]"] === true ? claim : claimOf(row);
    });
  }

  getClaim(sender_id: string, client_msg_id: string): Promise<DedupClaim | null> {
    return this.lifecycle.run("getClaim", async () => {
      const row = (await this.client.execute(this.cql.select_claim, [sender_id, client_msg_id], this.options())).first();
      return row === null ? null : claimOf(row);
    });
  }

  putSendClaim(claim: SendClaim): Promise<void> {
    return this.lifecycle.run("putSendClaim", async () => {
      const c = claim;
      await this.write([
        {
          query: this.cql.insert_send_claim,
          params: [
            c.sender_id,
            c.conversation_id,
            c.client_msg_id,
            c.message_id,
            bindable(c.prev_message_id),
            c.position.partition,
            types.Long.fromNumber(c.position.offset),
            c.digest,
            // Unset, not null, for a direct message: no tombstone per row (a key is a group's or
            // a direct chat's for good, so a null never has a list to clear).
            bindable(c.members === null ? null : JSON.stringify(c.members)),
          ],
        },
      ]);
    });
  }

  findSendClaim(sender_id: string, conversation_id: string, client_msg_id: string): Promise<SendClaim | null> {
    return this.lifecycle.run("findSendClaim", async () => {
      const row = (await this.client.execute(this.cql.select_send_claim, [sender_id, conversation_id, client_msg_id], this.options())).first();
      return row === null ? null : { ...claimOf(row), digest: textOf(row["digest"], "send_claims.digest"), members: membersOf(row["members"]) };
    });
  }

  putIdCheckpoints(checkpoints: readonly IdCheckpoint[]): Promise<void> {
    return this.lifecycle.run("putIdCheckpoints", async () => {
      if (checkpoints.length === 0) return;
      await this.write(
        checkpoints.map((c) => ({
          query: this.cql.insert_checkpoint,
          params: [c.partition, types.Long.fromNumber(c.offset), types.Long.fromNumber(c.last_ms), c.sequence],
        })),
      );
    });
  }

  idCheckpoint(partition: number, offset: number): Promise<IdCheckpoint | null> {
    return this.lifecycle.run("idCheckpoint", async () => {
      const row = (await this.client.execute(this.cql.select_checkpoint, [partition, types.Long.fromNumber(offset)], this.options())).first();
      if (row === null) return null;
      return {
        partition: numberOf(row["log_partition"], "id_checkpoints.log_partition"),
        offset: numberOf(row["log_offset"], "id_checkpoints.log_offset"),
        last_ms: numberOf(row["last_ms"], "id_checkpoints.last_ms"),
        sequence: numberOf(row["sequence"], "id_checkpoints.sequence"),
      };
    });
  }

  advanceReceipt(message_id: string, user_id: string, status: ReceiptStatus): Promise<ReceiptStatus> {
    return this.lifecycle.run("advanceReceipt", async () => {
      await this.write([{ query: this.cql.set_receipt[status], params: [message_id, user_id] }]);
      // Nothing ranks above `read`: the answer is `read` whatever the row holds, so no read-back
      // (one Cassandra read fewer per read ack).
      if (rankOf(status) === RECEIPT_BY_RANK.length - 1) return status;
      const row = (await this.client.execute(this.cql.select_receipt, [message_id, user_id], this.options())).first();
      assert(row !== null, `${OWNER}.advanceReceipt: the receipt row is there after its write`);
      const stored = furthestOf(row);
      // At a consistency weaker than quorum the read may miss our own write; it never goes back.
      return rankOf(stored) >= rankOf(status) ? stored : status;
    });
  }

  receipts(message_id: string): Promise<ReceiptRow[]> {
    return this.lifecycle.run("receipts", async () => {
      const result = await this.client.execute(this.cql.select_receipts, [message_id], this.options({ fetchSize: RECEIPT_FETCH_ROWS }));
      const rows: ReceiptRow[] = [];
      for await (const row of result) rows.push({ user_id: textOf(row["user_id"], "receipts.user_id"), status: furthestOf(row) });
      return rows;
    });
  }

  touchInbox(entry: InboxEntry): Promise<void> {
    return this.lifecycle.run("touchInbox", async () => {
      const e = entry;
      // One partition: the pair applies atomically and in isolation without a batch log.
      await this.write([
          {
            query: this.cql.insert_inbox,
            params: [
              e.user_id,
              e.conversation_id,
              e.last_message_id,
              e.kind,
              bindable(e.other_user_id),
              bindable(e.group_id),
              types.Long.fromNumber(e.last_message_at_ms),
              e.last_message_preview,
            ],
          },
        { query: this.cql.trim_inbox, params: [e.user_id, e.conversation_id, e.last_message_id] },
      ]);
    });
  }

  markRead(user_id: string, conversation_id: string, message_id: string): Promise<void> {
    return this.lifecycle.run("markRead", async () => {
      await this.write([
        { query: this.cql.insert_read, params: [user_id, conversation_id, message_id] },
        { query: this.cql.trim_read, params: [user_id, conversation_id, message_id] },
      ]);
    });
  }

  readUpTo(user_id: string, conversation_id: string): Promise<string | null> {
    return this.lifecycle.run("readUpTo", async () => {
      const row = (await this.client.execute(this.cql.select_read, [user_id, conversation_id], this.options())).first();
      return row === null ? null : textOf(row["message_id"], "read_marks.message_id");
    });
  }

  inbox(user_id: string, before_message_id: string | null, limit: number): Promise<InboxEntry[]> {
    return this.lifecycle.run("inbox", async () => {
      assertLimit(OWNER, "inbox", limit);
      if (limit === 0) return [];
      const result = await this.client.execute(this.cql.select_inbox, [user_id], this.options({ fetchSize: INBOX_FETCH_ROWS }));
      const top = new InboxTop(limit);
      let conversation: string | null = null;
      for await (const row of result) {
        const conversation_id = textOf(row["conversation_id"], "inbox.conversation_id");
        // Rows of a conversation come greatest last_message_id first; any later one is stale.
        if (conversation_id === conversation) continue;
        conversation = conversation_id;
        const last_message_id = textOf(row["last_message_id"], "inbox.last_message_id");
        if (before_message_id !== null && !(last_message_id < before_message_id)) continue;
        top.offer(inboxOf(row));
      }
      return top.entries();
    });
  }

  linkMedia(media_id: string, conversation_id: string): Promise<void> {
    return this.lifecycle.run("linkMedia", async () => {
      await this.write([{ query: this.cql.insert_media_link, params: [media_id, conversation_id] }]);
    });
  }

  mediaConversations(media_id: string, after_conversation_id: string | null, limit: number): Promise<string[]> {
    return this.lifecycle.run("mediaConversations", async () => {
      assertLimit(OWNER, "mediaConversations", limit);
      if (limit === 0) return [];
      const [query, params] =
        after_conversation_id === null ? [this.cql.media_links_all, [media_id, limit]] : [this.cql.media_links_after, [media_id, after_conversation_id, limit]];
      const result = await this.client.execute(query, params, this.options({ fetchSize: limit }));
      return result.rows.map((row) => textOf(row["conversation_id"], "media_links.conversation_id"));
    });
  }

  close(): Promise<void> {
    return this.lifecycle.close();
  }

  private options(extra: { fetchSize?: number; serialConsistency?: number } = {}) {
    return callOptions(this.consistency, extra);
  }

  /** Plain writes: through the shared batcher, or as one statement or one unlogged single-partition batch. */
  private async write(statements: readonly CqlStatement[]): Promise<void> {
    if (this.batcher !== null) return this.batcher.write(statements);
    const [first] = statements;
    if (statements.length === 1 && first !== undefined) {
      await this.client.execute(first.query, [...first.params], this.options());
      return;
    }
    await this.client.batch(
      statements.map((s) => ({ query: s.query, params: [...s.params] })),
      { ...this.options(), logged: false },
    );
  }

  private async count(query: string, params: unknown[]): Promise<number> {
    const row = (await this.client.execute(query, params, this.options())).first();
    assert(row !== null, `${OWNER}.countAfter: COUNT(*) answers one row`);
    return numberOf(row["count"], "COUNT(*)");
  }
}

/**
 * The `limit` greatest inbox entries offered, ordered as the port lists them: last_message_id
 * descending, then conversation_id descending (as the SQLite adapter breaks ties).
 */
class InboxTop {
  private readonly kept: InboxEntry[] = [];

  constructor(private readonly limit: number) {}

  offer(entry: InboxEntry): void {
    const before = (a: InboxEntry, b: InboxEntry): boolean =>
      a.last_message_id > b.last_message_id || (a.last_message_id === b.last_message_id && a.conversation_id > b.conversation_id);
    const last = this.kept[this.kept.length - 1];
    if (this.kept.length === this.limit && last !== undefined && !before(entry, last)) return;
    let i = this.kept.length;
    while (i > 0 && before(entry, this.kept[i - 1] as InboxEntry)) i--;
    this.kept.splice(i, 0, entry);
    if (this.kept.length > this.limit) this.kept.pop();
  }

  entries(): InboxEntry[] {
    return [...this.kept];
  }
}

type Row = types.Row;

function messageOf(row: Row): StoredMessage {
  return {
    message_id: textOf(row["message_id"], "messages.message_id"),
    conversation_id: textOf(row["conversation_id"], "messages.conversation_id"),
    sender_id: textOf(row["sender_id"], "messages.sender_id"),
    sender_device_id: textOf(row["sender_device_id"], "messages.sender_device_id"),
    group_id: textOrNullOf(row["group_id"], "messages.group_id"),
    content: textOf(row["content"], "messages.content"),
    // Only putMessage writes this column, from a checked StoredMessage.
    type: textOf(row["message_type"], "messages.message_type") as MessageType,
    client_msg_id: textOf(row["client_msg_id"], "messages.client_msg_id"),
    sent_at_ms: numberOf(row["sent_at_ms"], "messages.sent_at_ms"),
    prev_message_id: textOrNullOf(row["prev_message_id"], "messages.prev_message_id"),
  };
}

function claimOf(row: Row): DedupClaim {
  return {
    sender_id: textOf(row["sender_id"], "dedup_claims.sender_id"),
    client_msg_id: textOf(row["client_msg_id"], "dedup_claims.client_msg_id"),
    message_id: textOf(row["message_id"], "dedup_claims.message_id"),
    conversation_id: textOf(row["conversation_id"], "dedup_claims.conversation_id"),
    prev_message_id: textOrNullOf(row["prev_message_id"], "dedup_claims.prev_message_id"),
    position: { partition: numberOf(row["log_partition"], "dedup_claims.log_partition"), offset: numberOf(row["log_offset"], "dedup_claims.log_offset") },
  };
}

/** A send's recorded audience (a JSON array of user IDs; null for direct messages and older records). */
function membersOf(value: unknown): string[] | null {
  if (value === null || value === undefined) return null;
  const members: unknown = JSON.parse(textOf(value, "send_claims.members"));
  assert(Array.isArray(members) && members.every((m) => typeof m === "string"), `${OWNER}: send_claims.members is not a JSON array of user IDs`);
  return members as string[];
}

function inboxOf(row: Row): InboxEntry {
  const kind = textOf(row["kind"], "inbox.kind");
  assert(kind === "direct" || kind === "group", `${OWNER}: inbox row of kind '${kind}'`);
  return {
    user_id: textOf(row["user_id"], "inbox.user_id"),
    conversation_id: textOf(row["conversation_id"], "inbox.conversation_id"),
    kind,
    other_user_id: textOrNullOf(row["other_user_id"], "inbox.other_user_id"),
    group_id: textOrNullOf(row["group_id"], "inbox.group_id"),
    last_message_id: textOf(row["last_message_id"], "inbox.last_message_id"),
    last_message_at_ms: numberOf(row["last_message_at_ms"], "inbox.last_message_at_ms"),
    last_message_preview: textOf(row["last_message_preview"], "inbox.last_message_preview"),
  };
}

function rankOf(status: ReceiptStatus): number {
  return RECEIPT_BY_RANK.indexOf(status);
}

/** The furthest status whose flag is set on a receipts row. */
function furthestOf(row: Row): ReceiptStatus {
  if (row["reached_read"] === true) return "read";
  if (row["reached_delivered"] === true) return "delivered";
  assert(row["reached_sent"] === true, `${OWNER}: a receipts row with no status flag set`);
  return "sent";
}

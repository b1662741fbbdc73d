/**
 * PendingStoreCassandra: the offline store per device on Cassandra or ScyllaDB
 * (core/ports/pending-store.ts is the contract; migrations.ts holds the table).
 *
 * Owns the table `pending` of one keyspace: partition (user_id, device_id), clustering
 * (conversation_id, message_id), the message's fields as columns. The Client belongs to
 * whoever opened it; close() only stops this adapter.
 *
 * Rules:
 * - A two-phase set by write timestamps, decided inside the storage engine: every put is
 *   written `USING TIMESTAMP 1` (PUT_WRITE_TIMESTAMP) and every remove deletes the row
 *   `USING TIMESTAMP 2` (REMOVE_WRITE_TIMESTAMP). Cassandra and ScyllaDB merge a row with
 *   its tombstone by timestamp on every replica, in memtables, reads, compaction and repair,
 *   so a removal shadows every put of its entry, whether the put came before, after, or at
 *   the same moment from a stale router, and a remove before any put works as well.
 *   Why not a removed-marker table consulted by put: that is a read before every write on
 *   the hot path, and a put that read "no marker" just before a concurrent remove would still
 *   write its row after the delete and bring the entry back.
 * - Tombstones live at least gc_grace_seconds of the table (30 days, PENDING_TOMBSTONE_SECONDS
 *   in migrations.ts), which must be at least how long the log keeps records it can
 *   redeliver; after that a put of a long-acked entry could stick again. Since puts carry the
 *   lowest timestamps, compaction keeps a tombstone for as long as any SSTable may still hold
 *   a put it shadows, i.e. it errs on the side of keeping them.
 * - Fixed timestamps lie in the past, so ScyllaDB's check against timestamps far in the
 *   future (restrict_future_timestamp) never fires; Cassandra's minimum_timestamp guardrail
 *   must stay unset, as it is by default. No other writer may touch this table with ordinary
 *   timestamps, or its puts would outrank removals.
 * - put is idempotent: the same entry written again at the same timestamp is the same row.
 *   Every put carries a TTL (default 30 days), so an entry a device never acks expires.
 *   The entries of one put are written as single-row statements, at most
 *   PUT_CONCURRENCY_MAX in flight; a put that fails part-way is repeated whole by its caller.
 * - list, listConversation and count are single-partition reads in clustering order: a list
 *   is a slice after the cursor (a multi-column clustering comparison), a count a COUNT(*)
 *   over the device's partition.
 */
import { types, type Client } from "cassandra-driver";
import type { PendingCursor, PendingStore } from "../../core/ports/pending-store.js";
import type { PendingEntry, StoredMessage } from "../../core/model.js";
import type { MessageType } from "../../core/protocol/frames.js";
import { assert } from "../../core/result.js";
import {
  assertLimit,
  bindable,
  callOptions,
  checkKeyspace,
  consistencyCode,
  CONSISTENCY_DEFAULT,
  forEachBounded,
  numberOf,
  StoreLifecycle,
  textOf,
  textOrNullOf,
  type CassandraConsistency,
} from "./cql.js";
import type { CqlWriteBatcher } from "./write-batcher.js";

export type PendingStoreCassandraOptions = {
  /** The keyspace that migrateCassandra prepared. */
  readonly keyspace: string;
  /** Consistency of every read and write. Default LOCAL_QUORUM. */
  readonly consistency?: CassandraConsistency;
  /** How long an entry lives unacked before it expires. Default 30 days. */
  readonly ttl_seconds?: number;
  /** Puts and removes go through this batcher (shared with the message store); each is its own request without one. */
  readonly batcher?: CqlWriteBatcher;
};

/** Write timestamp of every put; below REMOVE_WRITE_TIMESTAMP so that removals always win. */
export const PUT_WRITE_TIMESTAMP = 1;
export const REMOVE_WRITE_TIMESTAMP = 2;
export const PENDING_TTL_SECONDS_DEFAULT = 30 * 24 * 60 * 60;
/** Cassandra's and ScyllaDB's largest TTL: 20 years. */
const TTL_SECONDS_MAX = 630_720_000;
/** Single-row writes of one put in flight at once. */
export const PUT_CONCURRENCY_MAX = 32;

const OWNER = "PendingStoreCassandra";
const COLUMNS =
  "user_id, device_id, conversation_id, message_id, sender_id, sender_device_id, group_id, content, message_type, client_msg_id, sent_at_ms, prev_message_id";

type Cql = {
  readonly insert: string;
  readonly remove: string;
  readonly list_from_start: string;
  readonly list_after: string;
  readonly conversation_from_start: string;
  readonly conversation_after: string;
  readonly count: string;
  readonly remove_device: string;
};

function cqlFor(ks: string): Cql {
  const device = "user_id = ? AND device_id = ?";
  return {
    insert: `INSERT INTO ${ks}.pending (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ${PUT_WRITE_TIMESTAMP}`,
    remove: `DELETE FROM ${ks}.pending USING TIMESTAMP ${REMOVE_WRITE_TIMESTAMP} WHERE ${device} AND conversation_id = ? AND message_id = ?`,
    list_from_start: `SELECT ${COLUMNS} FROM ${ks}.pending WHERE ${device} LIMIT ?`,
    list_after: `SELECT ${COLUMNS} FROM ${ks}.pending WHERE ${device} AND (conversation_id, message_id) > (?, ?) LIMIT ?`,
    conversation_from_start: `SELECT ${COLUMNS} FROM ${ks}.pending WHERE ${device} AND conversation_id = ? LIMIT ?`,
    conversation_after: `SELECT ${COLUMNS} FROM ${ks}.pending WHERE ${device} AND conversation_id = ? AND message_id > ? LIMIT ?`,
    count: `SELECT COUNT(*) AS count FROM ${ks}.pending WHERE ${device}`,
    // A partition tombstone at the removal timestamp: it shadows every put of the device,
    // earlier or later (a late put from a router that read the device list before), for good.
    remove_device: `DELETE FROM ${ks}.pending USING TIMESTAMP ${REMOVE_WRITE_TIMESTAMP} WHERE ${device}`,
  };
}

export class PendingStoreCassandra implements PendingStore {
  private readonly cql: Cql;
  private readonly consistency: number;
  private readonly ttl_seconds: number;
  private readonly lifecycle = new StoreLifecycle(OWNER);
  private readonly batcher: CqlWriteBatcher | null;

  constructor(
    private readonly client: Client,
    options: PendingStoreCassandraOptions,
  ) {
    this.batcher = options.batcher ?? null;
    this.cql = cqlFor(checkKeyspace(OWNER, options.keyspace));
    this.consistency = consistencyCode(options.consistency ?? CONSISTENCY_DEFAULT);
    const ttl = options.ttl_seconds ?? PENDING_TTL_SECONDS_DEFAULT;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > TTL_SECONDS_MAX) {
      throw new Error(`${OWNER}: ttl_seconds must be an integer from 1 to ${TTL_SECONDS_MAX}, got ${ttl}`);
    }
    this.ttl_seconds = ttl;
  }

  put(entries: readonly PendingEntry[]): Promise<void> {
    return this.lifecycle.run("put", async () => {
      // Bound now, so that later changes to the caller's objects cannot reach the store.
      const rows = entries.map((entry) => this.paramsOf(entry));
      const batcher = this.batcher;
      if (batcher !== null) {
        // One group per entry: each is its own row, so a large fan-out may span batches. As
        // with forEachBounded, the caller hears of a failure only once every write settled.
        const settled = await Promise.allSettled(rows.map((params) => batcher.write([{ query: this.cql.insert, params }])));
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
        if (failed !== undefined) throw failed.reason;
        return;
      }
      await forEachBounded(rows, PUT_CONCURRENCY_MAX, async (params) => {
        await this.client.execute(this.cql.insert, params, this.options());
      });
    });
  }

  list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): Promise<PendingEntry[]> {
    return this.lifecycle.run("list", async () => {
      assertLimit(OWNER, "list", limit);
      if (limit === 0) return [];
      return after === null
        ? this.select(this.cql.list_from_start, [user_id, device_id, limit], limit)
        : this.select(this.cql.list_after, [user_id, device_id, after.conversation_id, after.message_id, limit], limit);
    });
  }

  listConversation(
    user_id: string,
    device_id: string,
    conversation_id: string,
    after_message_id: string | null,
    limit: number,
  ): Promise<PendingEntry[]> {
    return this.lifecycle.run("listConversation", async () => {
      assertLimit(OWNER, "listConversation", limit);
      if (limit === 0) return [];
      return after_message_id === null
        ? this.select(this.cql.conversation_from_start, [user_id, device_id, conversation_id, limit], limit)
        : this.select(this.cql.conversation_after, [user_id, device_id, conversation_id, after_message_id, limit], limit);
    });
  }

  remove(user_id: string, device_id: string, conversation_id: string, message_id: string): Promise<void> {
    return this.lifecycle.run("remove", async () => {
      const params = [user_id, device_id, conversation_id, message_id];
      if (this.batcher !== null) await this.batcher.write([{ query: this.cql.remove, params }]);
      else await this.client.execute(this.cql.remove, params, this.options());
    });
  }

  removeDevice(user_id: string, device_id: string): Promise<void> {
    return this.lifecycle.run("removeDevice", async () => {
      await this.client.execute(this.cql.remove_device, [user_id, device_id], this.options());
    });
  }

  count(user_id: string, device_id: string): Promise<number> {
    return this.lifecycle.run("count", async () => {
      const row = (await this.client.execute(this.cql.count, [user_id, device_id], this.options())).first();
      assert(row !== null, `${OWNER}.count: COUNT(*) answers one row`);
      return numberOf(row["count"], "COUNT(*)");
    });
  }

  close(): Promise<void> {
    return this.lifecycle.close();
  }

  private options(extra: { fetchSize?: number } = {}) {
    return callOptions(this.consistency, extra);
  }

  private paramsOf(entry: PendingEntry): unknown[] {
    const m = entry.message;
    return [
      entry.user_id,
      entry.device_id,
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
      this.ttl_seconds,
    ];
  }

  private async select(query: string, params: unknown[], limit: number): Promise<PendingEntry[]> {
    const result = await this.client.execute(query, params, this.options({ fetchSize: limit }));
    const entries: PendingEntry[] = [];
    // The LIMIT bounds the rows; iterating follows the driver's pages should it split them.
    for await (const row of result) entries.push(entryOf(row));
    return entries;
  }
}

function entryOf(row: types.Row): PendingEntry {
  const message: StoredMessage = {
    message_id: textOf(row["message_id"], "pending.message_id"),
    conversation_id: textOf(row["conversation_id"], "pending.conversation_id"),
    sender_id: textOf(row["sender_id"], "pending.sender_id"),
    sender_device_id: textOf(row["sender_device_id"], "pending.sender_device_id"),
    group_id: textOrNullOf(row["group_id"], "pending.group_id"),
    content: textOf(row["content"], "pending.content"),
    // Only put writes this column, from a checked StoredMessage.
    type: textOf(row["message_type"], "pending.message_type") as MessageType,
    client_msg_id: textOf(row["client_msg_id"], "pending.client_msg_id"),
    sent_at_ms: numberOf(row["sent_at_ms"], "pending.sent_at_ms"),
    prev_message_id: textOrNullOf(row["prev_message_id"], "pending.prev_message_id"),
  };
  return { user_id: textOf(row["user_id"], "pending.user_id"), device_id: textOf(row["device_id"], "pending.device_id"), message };
}

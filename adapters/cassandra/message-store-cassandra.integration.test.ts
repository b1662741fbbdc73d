/**
 * MessageStoreCassandra against a real Cassandra (started by deploy/services.sh when it is not
 * running): the MessageStore contract suite in a fresh keyspace, then what the contract leaves
 * to each adapter: first-writer-wins under concurrent claims, history paged over hundreds of
 * messages, inbox and read marks under concurrent and stale touches, and the migrations.
 */
import { randomUUID } from "node:crypto";
import { consistencyCode } from "./cql.js";
import { CqlWriteBatcher } from "./write-batcher.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "cassandra-driver";
import { describeMessageStoreContract } from "../contract/message-store.contract.js";
import { snowflakeFormat } from "../../core/ids/index.js";
import type { DedupClaim, InboxEntry, StoredMessage } from "../../core/model.js";
import type { ReceiptStatus } from "../../core/protocol/frames.js";
import { cassandraClient } from "./client.js";
import { forEachBounded } from "./cql.js";
import { MessageStoreCassandra } from "./message-store-cassandra.js";
import { CASSANDRA_MIGRATIONS, migrateCassandra } from "./migrations.js";
import { CASSANDRA_SETUP_TIMEOUT_MS, CASSANDRA_TEST_TIMEOUT_MS, openTestKeyspace, type TestKeyspace } from "./test-support.js";

let db: TestKeyspace | null = null;
const opened = (): TestKeyspace => {
  if (db === null) throw new Error("MessageStoreCassandra tests: the keyspace is not open (beforeAll failed)");
  return db;
};

beforeAll(async () => {
  db = await openTestKeyspace();
}, CASSANDRA_SETUP_TIMEOUT_MS);

afterAll(async () => {
  await db?.drop();
  db = null;
}, CASSANDRA_TEST_TIMEOUT_MS);

describeMessageStoreContract(
  "MessageStoreCassandra",
  async () => {
    const { client, keyspace } = opened();
    const store = new MessageStoreCassandra(client, { keyspace });
    return { store, cleanup: () => store.close() };
  },
  { test_timeout_ms: CASSANDRA_TEST_TIMEOUT_MS },
);

// The same contract with plain writes coalesced into unlogged batches (write-batcher.ts), as the nodes run it.
describeMessageStoreContract(
  "MessageStoreCassandra with a write batcher",
  async () => {
    const { client, keyspace } = opened();
    const batcher = new CqlWriteBatcher(client, { consistency: consistencyCode("LOCAL_QUORUM"), statements_max: 16, pending_max: 20_000 });
    const store = new MessageStoreCassandra(client, { keyspace, batcher });
    return { store, cleanup: () => store.close() };
  },
  { test_timeout_ms: CASSANDRA_TEST_TIMEOUT_MS },
);

/** Snowflake IDs in increasing order, `step` ms apart, from a random base of one test. */
const ids = (count: number, step = 1): string[] => {
  const base = 14_256_000_000 + Math.floor(Math.random() * 1_000_000) * 1_000;
  const machine = Math.floor(Math.random() * 1024);
  return Array.from({ length: count }, (_, i) => snowflakeFormat({ ms: base + i * step, machine, sequence: 0 }));
};

const tag = (): string => randomUUID().slice(0, 8);

const message = (conversation_id: string, message_id: string, sender_id: string, n: number): StoredMessage => ({
  message_id,
  conversation_id,
  sender_id,
  sender_device_id: `${sender_id}-dev`,
  group_id: null,
  content: `message ${n}`,
  type: "text",
  client_msg_id: `client-${message_id}`,
  sent_at_ms: 1_750_000_000_000 + n,
  prev_message_id: null,
});

const inboxEntry = (user_id: string, conversation_id: string, last_message_id: string, n: number): InboxEntry => ({
  user_id,
  conversation_id,
  kind: "direct",
  other_user_id: `peer-${n}`,
  group_id: null,
  last_message_id,
  last_message_at_ms: 1_750_000_000_000 + n,
  last_message_preview: `preview ${n}`,
});

/** Fisher-Yates with Math.random: the order only needs to differ from the sorted one. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe("MessageStoreCassandra", () => {
  const store = (): MessageStoreCassandra => new MessageStoreCassandra(opened().client, { keyspace: opened().keyspace });

  it(
    "lets exactly one of 20 concurrent claims win, through two clients, and answers every caller the winner",
    async () => {
      const { keyspace } = opened();
      const other_client: Client = cassandraClient({ contact_points: ["127.0.0.1:9042"], local_datacenter: "datacenter1", request_timeout_ms: 30_000 });
      const [a, b] = [store(), new MessageStoreCassandra(other_client, { keyspace })];
      try {
        const sender_id = `sender-${tag()}`;
        const client_msg_id = randomUUID();
        const message_ids = ids(20);
        const claims: DedupClaim[] = message_ids.map((message_id, i) => ({
          sender_id,
          client_msg_id,
          message_id,
          conversation_id: `d.${sender_id}.peer`,
          prev_message_id: i === 0 ? null : (message_ids[i - 1] as string),
          position: { partition: i % 3, offset: 1_000 + i },
        }));
        const answers = await Promise.all(claims.map((claim, i) => (i % 2 === 0 ? a : b).claim(claim)));
        const winner = answers[0] as DedupClaim;
        expect(claims).toContainEqual(winner);
        for (const answer of answers) expect(answer).toEqual(winner);
        expect(await a.getClaim(sender_id, client_msg_id)).toEqual(winner);
        expect(await b.getClaim(sender_id, client_msg_id)).toEqual(winner);
        // A late repeat of any claim, the winner's included, answers the winner too.
        expect(await b.claim(claims[19] as DedupClaim)).toEqual(winner);
        expect(await a.claim(winner)).toEqual(winner);
      } finally {
        await a.close();
        await b.close();
        await other_client.shutdown();
      }
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "pages history over 250 messages written out of order: newest first, no gap, no repeat",
    async () => {
      const s = store();
      const conversation_id = `d.alice-${tag()}.bob`;
      const message_ids = ids(250, 3);
      const stored = new Map(message_ids.map((id, i) => [id, message(conversation_id, id, i % 3 === 0 ? "alice" : "bob", i)] as const));
      await forEachBounded(shuffled([...stored.values()]), 16, (m) => s.putMessage(m));
      const newest_first = [...message_ids].reverse();

      for (const page_size of [40, 7]) {
        const paged: StoredMessage[] = [];
        let before: string | null = null;
        for (let page = 0; page < 100; page++) {
          const got: StoredMessage[] = await s.history(conversation_id, before, page_size);
          if (got.length === 0) break;
          expect(got.length).toBeLessThanOrEqual(page_size);
          paged.push(...got);
          before = (got[got.length - 1] as StoredMessage).message_id;
        }
        expect(paged.map((m) => m.message_id)).toEqual(newest_first);
        for (const m of paged) expect(m).toEqual(stored.get(m.message_id));
      }
      expect((await s.history(conversation_id, null, 300)).map((m) => m.message_id)).toEqual(newest_first);
      expect(await s.lastMessageId(conversation_id)).toBe(newest_first[0]);
      // Senders alternate alice, bob, bob: 84 of 250 are alice's.
      expect(await s.countAfter(conversation_id, null, "alice")).toBe(166);
      expect(await s.countAfter(conversation_id, message_ids[99] as string, "bob")).toBe(50);
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "keeps the greatest inbox entry per conversation, and one row for it, under concurrent and stale touches",
    async () => {
      const s = store();
      const { client, keyspace } = opened();
      const user = `owner-${tag()}`;
      const busy = `d.${user}.busy`;
      const quiet = `d.${user}.quiet`;
      const message_ids = ids(21);
      const touches = message_ids.slice(0, 20).map((id, i) => inboxEntry(user, busy, id, i));
      await Promise.all(shuffled(touches).map((entry) => s.touchInbox(entry)));
      const newest = touches[19] as InboxEntry;
      expect(await s.inbox(user, null, 10)).toEqual([newest]);
      // A stale router touching an older message changes nothing.
      await s.touchInbox(touches[3] as InboxEntry);
      expect(await s.inbox(user, null, 10)).toEqual([newest]);
      const rows = await client.execute(`SELECT last_message_id FROM ${keyspace}.inbox WHERE user_id = ? AND conversation_id = ?`, [user, busy], { prepare: true });
      expect(rows.rows.map((row) => row["last_message_id"])).toEqual([newest.last_message_id]);

      const quiet_entry = inboxEntry(user, quiet, message_ids[20] as string, 20);
      await s.touchInbox(quiet_entry);
      expect(await s.inbox(user, null, 10)).toEqual([quiet_entry, newest]);
      expect(await s.inbox(user, quiet_entry.last_message_id, 10)).toEqual([newest]);
      expect(await s.inbox(user, null, 1)).toEqual([quiet_entry]);
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "lists a large inbox across driver pages, newest first, strictly below the cursor",
    async () => {
      const s = store();
      const user = `owner-${tag()}`;
      const message_ids = ids(1_200);
      // Conversation names in the opposite order of their recency, so the sort is the store's.
      const entries = message_ids.map((id, i) => inboxEntry(user, `g.${String(9_999 - i).padStart(4, "0")}`, id, i));
      await forEachBounded(entries, 32, (entry) => s.touchInbox(entry));
      const want = [...entries].reverse();
      expect(await s.inbox(user, null, 100)).toEqual(want.slice(0, 100));
      expect(await s.inbox(user, (want[99] as InboxEntry).last_message_id, 100)).toEqual(want.slice(100, 200));
      expect(await s.inbox(user, (want[1_150] as InboxEntry).last_message_id, 100)).toEqual(want.slice(1_151));
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "keeps the greatest read mark under concurrent marks, and ignores a stale one",
    async () => {
      const s = store();
      const user = `reader-${tag()}`;
      const conversation_id = `d.${user}.peer`;
      const message_ids = ids(20);
      await Promise.all(shuffled(message_ids).map((id) => s.markRead(user, conversation_id, id)));
      expect(await s.readUpTo(user, conversation_id)).toBe(message_ids[19]);
      await s.markRead(user, conversation_id, message_ids[0] as string);
      expect(await s.readUpTo(user, conversation_id)).toBe(message_ids[19]);
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "answers a `read` advance without reading the row back (nothing ranks above read), and reads back below it",
    async () => {
      const { client, keyspace } = opened();
      const reads: string[] = [];
      // The real client, with its receipt reads counted.
      const counted = new Proxy(client, {
        get(target, name, receiver) {
          const value = Reflect.get(target, name, receiver) as unknown;
          if (name !== "execute" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
          return (query: string, ...rest: unknown[]) => {
            if (/^\s*SELECT\b[\s\S]*\breceipts\b/i.test(query)) reads.push(query);
            return (value as (...a: unknown[]) => unknown).call(target, query, ...rest);
          };
        },
      }) as Client;
      const s = new MessageStoreCassandra(counted, { keyspace });
      const [message_id] = ids(1);
      const user = `reader-${tag()}`;
      expect(await s.advanceReceipt(message_id as string, user, "read")).toBe("read");
      expect(reads).toHaveLength(0);
      expect(await s.advanceReceipt(message_id as string, user, "delivered")).toBe("read");
      expect(reads).toHaveLength(1);
      expect(await s.receipts(message_id as string)).toEqual([{ user_id: user, status: "read" }]);
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "never moves a receipt back under concurrent advances, and never answers below the caller's own status",
    async () => {
      const s = store();
      const [message_id] = ids(1);
      const user = `reader-${tag()}`;
      const statuses: ReceiptStatus[] = shuffled(Array.from({ length: 21 }, (_, i) => (["sent", "delivered", "read"] as const)[i % 3] as ReceiptStatus));
      const rank = (status: ReceiptStatus): number => ["sent", "delivered", "read"].indexOf(status);
      const answers = await Promise.all(statuses.map((status) => s.advanceReceipt(message_id as string, user, status)));
      answers.forEach((answer, i) => expect(rank(answer)).toBeGreaterThanOrEqual(rank(statuses[i] as ReceiptStatus)));
      expect(await s.receipts(message_id as string)).toEqual([{ user_id: user, status: "read" }]);
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "answers an empty page for limit 0, rejects a negative limit, and rejects every call once closed",
    async () => {
      const s = store();
      const conversation_id = `d.${tag()}.x`;
      const [id, late] = ids(2);
      await s.putMessage(message(conversation_id, id as string, "a", 1));
      expect(await s.history(conversation_id, null, 0)).toEqual([]);
      expect(await s.inbox("nobody", null, 0)).toEqual([]);
      await expect(s.history(conversation_id, null, -1)).rejects.toThrow(/limit/);
      await s.close();
      await expect(s.lastMessageId(conversation_id)).rejects.toThrow(/closed/);
      await expect(s.putMessage(message(conversation_id, late as string, "a", 2))).rejects.toThrow(/closed/);
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "migrates idempotently: a second run applies nothing, and every step is recorded once",
    async () => {
      const { client, keyspace } = opened();
      const again = await migrateCassandra(client, keyspace);
      expect(again.applied).toEqual([]);
      expect(again.already_applied).toEqual(CASSANDRA_MIGRATIONS.map((m) => m.step));
      const recorded = await client.execute(`SELECT step, name FROM ${keyspace}.schema_migrations`);
      expect(recorded.rows.map((row) => [row["step"], row["name"]]).sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual(
        CASSANDRA_MIGRATIONS.map((m) => [m.step, m.name]),
      );
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "adds send_claims.members (step 9) again after a run that died before recording it, and reads an older record's audience as null",
    async () => {
      const { client, keyspace } = opened();
      await client.execute(`DELETE FROM ${keyspace}.schema_migrations WHERE step = 9`);
      const again = await migrateCassandra(client, keyspace);
      expect(again.applied).toEqual([9]); // The column was there already: the step skips the ALTER.
      const sender_id = `sender-${tag()}`;
      const [id] = ids(1);
      // A dedup record as the adapter wrote it before step 9: no members cell.
      await client.execute(
        `INSERT INTO ${keyspace}.send_claims (sender_id, conversation_id, client_msg_id, message_id, log_partition, log_offset, digest) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [sender_id, "g.g1", "old", id, 0, 7, "0123456789abcdef"],
        { prepare: true },
      );
      expect(await store().findSendClaim(sender_id, "g.g1", "old")).toEqual({
        sender_id,
        client_msg_id: "old",
        message_id: id,
        conversation_id: "g.g1",
        prev_message_id: null,
        position: { partition: 0, offset: 7 },
        digest: "0123456789abcdef",
        members: null,
      });
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it("refuses a keyspace name that is not a plain identifier", () => {
    expect(() => new MessageStoreCassandra(opened().client, { keyspace: "chat; DROP KEYSPACE x" })).toThrow(/keyspace must match/);
    expect(() => new MessageStoreCassandra(opened().client, { keyspace: "Chat" })).toThrow(/keyspace must match/);
  });
});

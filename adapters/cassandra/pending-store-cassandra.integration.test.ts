/**
 * PendingStoreCassandra against a real Cassandra (started by deploy/services.sh when it is not
 * running): the PendingStore contract suite in a fresh keyspace, then what the contract leaves
 * to each adapter: the TTL and write timestamps on stored rows, removals that win over
 * concurrent and stale puts (also from another client), cursors between conversations, and
 * paging over hundreds of entries.
 */
import { randomUUID } from "node:crypto";
import { consistencyCode } from "./cql.js";
import { CqlWriteBatcher } from "./write-batcher.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describePendingStoreContract } from "../contract/pending-store.contract.js";
import type { PendingEntry, StoredMessage } from "../../core/model.js";
import { cassandraClient } from "./client.js";
import { PENDING_TTL_SECONDS_DEFAULT, PendingStoreCassandra, PUT_WRITE_TIMESTAMP } from "./pending-store-cassandra.js";
import { CASSANDRA_SETUP_TIMEOUT_MS, CASSANDRA_TEST_TIMEOUT_MS, openTestKeyspace, type TestKeyspace } from "./test-support.js";

let db: TestKeyspace | null = null;
const opened = (): TestKeyspace => {
  if (db === null) throw new Error("PendingStoreCassandra tests: the keyspace is not open (beforeAll failed)");
  return db;
};

beforeAll(async () => {
  db = await openTestKeyspace();
}, CASSANDRA_SETUP_TIMEOUT_MS);

afterAll(async () => {
  await db?.drop();
  db = null;
}, CASSANDRA_TEST_TIMEOUT_MS);

describePendingStoreContract(
  "PendingStoreCassandra",
  () => {
    const { client, keyspace } = opened();
    const store = new PendingStoreCassandra(client, { keyspace });
    return { store, cleanup: () => store.close() };
  },
  { test_timeout_ms: CASSANDRA_TEST_TIMEOUT_MS },
);

// The same contract with plain writes coalesced into unlogged batches (write-batcher.ts), as the nodes run it.
describePendingStoreContract(
  "PendingStoreCassandra with a write batcher",
  () => {
    const { client, keyspace } = opened();
    const batcher = new CqlWriteBatcher(client, { consistency: consistencyCode("LOCAL_QUORUM"), statements_max: 16, pending_max: 20_000 });
    const store = new PendingStoreCassandra(client, { keyspace, batcher });
    return { store, cleanup: () => store.close() };
  },
  { test_timeout_ms: CASSANDRA_TEST_TIMEOUT_MS },
);

const id = (n: number): string => String(1_000_000_000_000_000_000n + BigInt(n) * 10n).padStart(19, "0");

/** A device of its own for one test. */
const device = (): { user_id: string; device_id: string; entry(conversation_id: string, n: number, content?: string): PendingEntry } => {
  const run = randomUUID().slice(0, 8);
  const user_id = `user-${run}`;
  const device_id = `device-${run}`;
  return {
    user_id,
    device_id,
    entry: (conversation_id, n, content = `message ${n}`): PendingEntry => {
      const message: StoredMessage = {
        message_id: id(n),
        conversation_id,
        sender_id: "s",
        sender_device_id: "s-dev",
        group_id: null,
        content,
        type: "text",
        client_msg_id: `client-${conversation_id}-${n}`,
        sent_at_ms: n,
        prev_message_id: n === 0 ? null : id(n - 1),
      };
      return { user_id, device_id, message };
    },
  };
};

const keys = (entries: readonly PendingEntry[]): string[] => entries.map((e) => `${e.message.conversation_id}/${e.message.message_id}`);
const key = (conversation_id: string, n: number): string => `${conversation_id}/${id(n)}`;

describe("PendingStoreCassandra", () => {
  const store = (ttl_seconds?: number): PendingStoreCassandra =>
    new PendingStoreCassandra(opened().client, ttl_seconds === undefined ? { keyspace: opened().keyspace } : { keyspace: opened().keyspace, ttl_seconds });

  /** TTL and write time of one stored entry, as Cassandra reports them. */
  const stored = async (d: { user_id: string; device_id: string }, conversation_id: string, n: number): Promise<{ ttl: number; writetime: string }> => {
    const { client, keyspace } = opened();
    const result = await client.execute(
      `SELECT TTL(content) AS ttl, WRITETIME(content) AS writetime FROM ${keyspace}.pending WHERE user_id = ? AND device_id = ? AND conversation_id = ? AND message_id = ?`,
      [d.user_id, d.device_id, conversation_id, id(n)],
      { prepare: true },
    );
    const row = result.first();
    if (row === null) throw new Error(`no pending row for ${conversation_id}/${id(n)}`);
    return { ttl: Number(row["ttl"]), writetime: String(row["writetime"]) };
  };

  it(
    "writes every entry with the configured TTL (default 30 days) and the fixed put timestamp",
    async () => {
      const d = device();
      const hour = store(3_600);
      const month = store();
      await hour.put([d.entry("c1", 1)]);
      await month.put([d.entry("c2", 2)]);
      const short = await stored(d, "c1", 1);
      expect(short.ttl).toBeGreaterThan(3_500);
      expect(short.ttl).toBeLessThanOrEqual(3_600);
      const long = await stored(d, "c2", 2);
      expect(long.ttl).toBeGreaterThan(PENDING_TTL_SECONDS_DEFAULT - 100);
      expect(long.ttl).toBeLessThanOrEqual(PENDING_TTL_SECONDS_DEFAULT);
      expect(long.writetime).toBe(String(PUT_WRITE_TIMESTAMP));
      expect(() => store(0)).toThrow(/ttl_seconds/);
      expect(() => store(1.5)).toThrow(/ttl_seconds/);
      await hour.close();
      await month.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "lets a removal win over puts of the same moment, and over later puts from another client",
    async () => {
      const d = device();
      const s = store();
      const numbers = Array.from({ length: 20 }, (_, i) => i + 1);
      // Removes and puts of the same entries, all in flight at once, in both orders.
      await Promise.all(
        numbers.flatMap((n) =>
          n % 2 === 0 ? [s.remove(d.user_id, d.device_id, "c1", id(n)), s.put([d.entry("c1", n)])] : [s.put([d.entry("c1", n)]), s.remove(d.user_id, d.device_id, "c1", id(n))],
        ),
      );
      expect(await s.list(d.user_id, d.device_id, null, 100)).toEqual([]);
      expect(await s.count(d.user_id, d.device_id)).toBe(0);

      // A stale router with its own connection puts them all again, changed: still gone.
      const other_client = cassandraClient({ contact_points: ["127.0.0.1:9042"], local_datacenter: "datacenter1", request_timeout_ms: 30_000 });
      const stale = new PendingStoreCassandra(other_client, { keyspace: opened().keyspace });
      try {
        await stale.put(numbers.map((n) => d.entry("c1", n, "changed")).concat([d.entry("c1", 21)]));
        expect(keys(await s.list(d.user_id, d.device_id, null, 100))).toEqual([key("c1", 21)]);
        expect(await stale.count(d.user_id, d.device_id)).toBe(1);
      } finally {
        await stale.close();
        await other_client.shutdown();
      }
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "lists strictly after a cursor that names no stored entry: between IDs, and between conversations",
    async () => {
      const d = device();
      const s = store();
      await s.put([d.entry("c2", 5), d.entry("c1", 3), d.entry("c3", 1), d.entry("c1", 1), d.entry("c2", 2)]);
      const all = [key("c1", 1), key("c1", 3), key("c2", 2), key("c2", 5), key("c3", 1)];
      expect(keys(await s.list(d.user_id, d.device_id, null, 10))).toEqual(all);
      expect(keys(await s.list(d.user_id, d.device_id, { conversation_id: "c1", message_id: id(2) }, 10))).toEqual(all.slice(1));
      expect(keys(await s.list(d.user_id, d.device_id, { conversation_id: "c1~", message_id: id(0) }, 10))).toEqual(all.slice(2));
      expect(keys(await s.list(d.user_id, d.device_id, { conversation_id: "c0", message_id: id(99) }, 2))).toEqual(all.slice(0, 2));
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "puts 300 entries in one call and pages through them without gaps or repeats, skipping removed ones",
    async () => {
      const d = device();
      const s = store();
      const puts: PendingEntry[] = [];
      for (let c = 0; c < 6; c++) for (let n = 0; n < 50; n++) puts.push(d.entry(`c${c}`, n));
      await s.put(puts);
      expect(await s.count(d.user_id, d.device_id)).toBe(300);
      const removed = new Set<string>();
      for (let c = 0; c < 6; c++) {
        for (const n of [0, 17, 49]) {
          await s.remove(d.user_id, d.device_id, `c${c}`, id(n));
          removed.add(key(`c${c}`, n));
        }
      }
      const seen: string[] = [];
      let cursor: { conversation_id: string; message_id: string } | null = null;
      for (let page = 0; page < 100; page++) {
        const got: PendingEntry[] = await s.list(d.user_id, d.device_id, cursor, 37);
        if (got.length === 0) break;
        seen.push(...keys(got));
        const last = got[got.length - 1] as PendingEntry;
        cursor = { conversation_id: last.message.conversation_id, message_id: last.message.message_id };
      }
      expect(seen).toEqual(keys(puts).filter((k) => !removed.has(k)));
      expect(await s.count(d.user_id, d.device_id)).toBe(300 - removed.size);
      expect((await s.listConversation(d.user_id, d.device_id, "c3", id(16), 2)).map((e) => e.message.message_id)).toEqual([id(18), id(19)]);
      await s.close();
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );

  it(
    "rejects a negative limit and every call once closed",
    async () => {
      const d = device();
      const s = store();
      await expect(s.list(d.user_id, d.device_id, null, -1)).rejects.toThrow(/limit/);
      await s.close();
      await expect(s.count(d.user_id, d.device_id)).rejects.toThrow(/closed/);
      await expect(s.put([d.entry("c1", 1)])).rejects.toThrow(/closed/);
    },
    CASSANDRA_TEST_TIMEOUT_MS,
  );
});

/**
 * The statement budget of the embedded node's hot path: how many SQL statements the writes of
 * one 1:1 message and its ack run inside the group commit. Counted, not timed, so it holds on
 * a noisy machine. Each statement is a crossing into SQLite and a VDBE program; a SAVEPOINT
 * and its RELEASE around a write were two of them, and a receipt read back after its upsert
 * another. Raise a budget only with a reason in the commit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogRecord, StoredMessage } from "../../core/model.js";
import { LogSqlite } from "./log-sqlite.js";
import { PendingStoreSqlite } from "./pending-store-sqlite.js";
import { MessageStoreSqlite } from "./message-store-sqlite.js";
import { StatementCounter, tempDatabase, type TempDatabase } from "./test-support.js";

const counter = new StatementCounter();
beforeAll(() => counter.install());
afterAll(() => counter.uninstall());

/** The statements `work` ran, one entry per run (a failing budget shows which ran). */
async function count(work: () => Promise<unknown>): Promise<string[]> {
  counter.start();
  try {
    await work();
  } finally {
    counter.stop();
  }
  return counter.statements().by_sql.flatMap(([sql, n]) => Array<string>(n).fill(sql));
}

const message = (n: number): StoredMessage => ({
  message_id: String(1_000_000_000_000_000_000n + BigInt(n)),
  conversation_id: "d:a:b",
  sender_id: "a",
  sender_device_id: "a-d",
  group_id: null,
  content: "hello",
  type: "text",
  client_msg_id: `m-${n}`,
  sent_at_ms: 1_700_000_000_000 + n,
  prev_message_id: null,
});
const send = (n: number): LogRecord => ({
  kind: "send",
  conversation_id: "d:a:b",
  sender_id: "a",
  sender_device_id: "a-d",
  origin: { gateway_id: "gw-0", connection_id: "c-a" },
  target: { kind: "direct", to: "b" },
  content: "hello",
  type: "text",
  client_msg_id: `m-${n}`,
  accepted_at_ms: 1_700_000_000_000 + n,
});

describe("the embedded hot path's statement budget", () => {
  let temp: TempDatabase;
  let log: LogSqlite;
  let pending: PendingStoreSqlite;
  let messages: MessageStoreSqlite;
  beforeAll(() => {
    temp = tempDatabase();
    log = new LogSqlite(temp.database, { partition_count: 1 });
    pending = new PendingStoreSqlite(temp.database);
    messages = new MessageStoreSqlite(temp.database);
  });
  afterAll(async () => {
    await log.close();
    await temp.cleanup();
  });

  it("a log append is one statement", async () => {
    expect(await count(() => log.append("d:a:b", send(1)))).toHaveLength(1);
  });

  it("a 1:1 message's pending entry is one statement to put and one to remove, and the removal sticks", async () => {
    expect(await count(() => pending.put([{ user_id: "b", device_id: "b-d", message: message(2) }]))).toHaveLength(1);
    expect(await count(() => pending.remove("b", "b-d", "d:a:b", message(2).message_id))).toHaveLength(1);
    expect(await pending.list("b", "b-d", null, 10)).toEqual([]);
    // A stale put of the removed entry (a redelivered record) does not bring it back.
    await pending.put([{ user_id: "b", device_id: "b-d", message: message(2) }]);
    expect(await pending.list("b", "b-d", null, 10)).toEqual([]);
  });

  it("advancing a receipt is one statement that answers the stored status", async () => {
    const id = message(3).message_id;
    expect(await count(() => messages.advanceReceipt(id, "b", "read"))).toHaveLength(1);
    // A late `delivered` does not move it back, and the answer is what is stored.
    expect(await messages.advanceReceipt(id, "b", "delivered")).toBe("read");
  });
});

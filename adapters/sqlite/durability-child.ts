/**
 * The child process of durability.test.ts: writes through the group-commit path as fast as
 * it can and prints `ack <n>` on stdout for every write whose promise resolved, until the
 * parent kills it with SIGKILL (or it reaches its bound and exits by itself).
 *
 * Usage: node --import tsx adapters/sqlite/durability-child.ts <file> <normal|full>
 *
 * Each write n is a message (conversation "d.durability", message_id n as 19 digits) and a
 * log record keyed by that conversation, started together; the ack is printed only once
 * both resolved. stdout is a pipe, and on Linux a write to a pipe is synchronous, so a
 * printed ack reaches the parent even if the process dies right after.
 */
import { Database } from "./database.js";
import { LogSqlite } from "./log-sqlite.js";
import { MessageStoreSqlite } from "./message-store-sqlite.js";
import type { SendRecord, StoredMessage } from "../../core/model.js";

/** Writes in flight at once, so that batches hold many writes when the kill lands. */
const WRITES_IN_FLIGHT_MAX = 64;
/** The child stops by itself after this many writes, should nobody kill it. */
const WRITES_MAX = 200_000;
const DURABILITY_CONVERSATION_ID = "d.durability";

function durabilityMessageId(n: number): string {
  return String(n).padStart(19, "0");
}

async function main(): Promise<void> {
  const [path, synchronous] = process.argv.slice(2);
  if (path === undefined || (synchronous !== "normal" && synchronous !== "full")) {
    process.stderr.write("usage: durability-child.ts <file> <normal|full>\n");
    process.exit(2);
  }
  const database = Database.open(path, { synchronous });
  const store = new MessageStoreSqlite(database);
  const log = new LogSqlite(database);
  process.stdout.write("ready\n");

  let next = 0;
  const writeOne = async (n: number): Promise<void> => {
    const message_id = durabilityMessageId(n);
    const message: StoredMessage = {
      message_id,
      conversation_id: DURABILITY_CONVERSATION_ID,
      sender_id: "u-durability",
      sender_device_id: "dev-durability",
      group_id: null,
      content: `message ${n}`,
      type: "text",
      client_msg_id: `client-${n}`,
      sent_at_ms: n,
      prev_message_id: null,
    };
    const record: SendRecord = {
      kind: "send",
      conversation_id: DURABILITY_CONVERSATION_ID,
      sender_id: "u-durability",
      sender_device_id: "dev-durability",
      origin: { gateway_id: "gw", connection_id: "conn" },
      target: { kind: "direct", to: "u-other" },
      content: `message ${n}`,
      type: "text",
      client_msg_id: `client-${n}`,
      accepted_at_ms: n,
    };
    await Promise.all([store.putMessage(message), log.append(DURABILITY_CONVERSATION_ID, record)]);
    process.stdout.write(`ack ${n}\n`);
  };
  const worker = async (): Promise<void> => {
    while (next < WRITES_MAX) await writeOne(next++);
  };
  await Promise.all(Array.from({ length: WRITES_IN_FLIGHT_MAX }, worker));
  await database.close();
}

await main();

/**
 * What one 1:1 message costs the embedded node's storage, through the real adapters and
 * without the cores, sockets or timers: the reads and writes the router and gateway make for
 * a message and its ack (append the send; read the send's dedup record, put the message, its
 * dedup record, the pending entry and both inboxes; append the ack, read the message back,
 * remove the pending entry, advance the receipt; per commit the ID checkpoint and the
 * offsets), BATCH messages per group commit, 500 conversations between 1,000 users. Besides
 * CPU and bytes it counts the SQL statements per message (StatementCounter), which are the
 * same on every machine. Because the batch size is fixed, the
 * bytes and pages a message writes are the same from run to run on any machine: a schema
 * change shows its page cost here before it shows in a noisy load test.
 *
 * The baseline, measured in the same run, is the same driver on the in-memory adapters (the
 * driver's own cost and the adapters' bookkeeping); `storage_cpu_us_per_msg` is the SQLite run
 * minus it. CPU is process.cpuUsage() (every thread), bytes are /proc/self/io `wchar` (the WAL
 * and the checkpoints' copies).
 *
 *   make bench-storage [MESSAGES=20000 BATCH=8]  -> bench/results/storage.json, storage.svg
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { LogMemory } from "../adapters/memory/log-memory.js";
import { MessageStoreMemory } from "../adapters/memory/message-store-memory.js";
import { PendingStoreMemory } from "../adapters/memory/pending-store-memory.js";
import { Database } from "../adapters/sqlite/database.js";
import { LogSqlite } from "../adapters/sqlite/log-sqlite.js";
import { MessageStoreSqlite } from "../adapters/sqlite/message-store-sqlite.js";
import { PendingStoreSqlite } from "../adapters/sqlite/pending-store-sqlite.js";
import { StatementCounter } from "../adapters/sqlite/test-support.js";
import type { LogRecord, StoredMessage } from "../core/model.js";
import type { Log } from "../core/ports/log.js";
import type { MessageStore } from "../core/ports/message-store.js";
import type { PendingStore } from "../core/ports/pending-store.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const env = z
  .object({
    MESSAGES: z.coerce.number().int().min(1_000).max(1_000_000).default(20_000),
    BATCH: z.coerce.number().int().min(1).max(1_000).default(8),
    REPEATS: z.coerce.number().int().min(1).max(10).default(3),
  })
  .parse(process.env);

type Ports = { log: Log; messages: MessageStore; pending: PendingStore; close(): Promise<void>; bytes(): number };
type Run = { engine: string; cpu_us_per_msg: number; written_kib_per_msg: number; commits_per_msg: number; statements_per_msg: number };

const PAIRS = 500;
/** Statements per message: counted on every statement prepared from here on (the SQLite run). */
const statements = new StatementCounter();
statements.install();
const BODY = "x".repeat(64);
const ACK_LAG_BATCHES = 3;

function wchar(): number {
  const m = /wchar:\s+(\d+)/.exec(readFileSync("/proc/self/io", "utf8"));
  return m === null ? 0 : Number(m[1]);
}

const user = (n: number): string => `u${String(n).padStart(6, "0")}`;

async function drive(ports: Ports, engine: string, commits: () => number): Promise<Run> {
  const consumer = await ports.log.consumer("routers", "bench");
  let next_id = 7_000_000_000_000_000_000n;
  const unacked: StoredMessage[] = [];
  const offsets = new Map<number, number>();
  statements.start();
  const cpu0 = process.cpuUsage();
  const bytes0 = ports.bytes();
  const commits0 = commits();
  for (let m = 0; m < env.MESSAGES; m += env.BATCH) {
    const writes: Promise<unknown>[] = [];
    for (let k = 0; k < env.BATCH; k++) {
      const n = m + k;
      const pair = (n * 7919) % PAIRS;
      const sender = user(pair * 2);
      const receiver = user(pair * 2 + 1);
      const conversation_id = `d:${sender}:${receiver}`;
      const message_id = String(next_id++);
      const send: LogRecord = {
        kind: "send",
        conversation_id,
        sender_id: sender,
        sender_device_id: `dev-${sender}`,
        origin: { gateway_id: "gw-0", connection_id: `c-${sender}` },
        target: { kind: "direct", to: receiver },
        content: BODY,
        type: "text",
        client_msg_id: `m-${n}`,
        accepted_at_ms: 1_700_000_000_000 + n,
      };
      const message: StoredMessage = {
        message_id,
        conversation_id,
        sender_id: sender,
        sender_device_id: `dev-${sender}`,
        group_id: null,
        content: BODY,
        type: "text",
        client_msg_id: `m-${n}`,
        sent_at_ms: 1_700_000_000_000 + n,
        prev_message_id: null,
      };
      writes.push(
        ports.log.append(conversation_id, send).then((position) => offsets.set(position.partition, position.offset + 1)),
        ports.messages
          .findSendClaim(sender, conversation_id, `m-${n}`)
          .then(() =>
            ports.messages.putSendClaim({ sender_id: sender, client_msg_id: `m-${n}`, message_id, conversation_id, prev_message_id: null, position: { partition: 0, offset: n }, digest: "d", members: null }),
          ),
        ports.messages.putMessage(message),
        ports.pending.put([{ user_id: receiver, device_id: `dev-${receiver}`, message }]),
        ...[sender, receiver].map((u) =>
          ports.messages.touchInbox({
            user_id: u,
            conversation_id,
            kind: "direct",
            other_user_id: u === sender ? receiver : sender,
            group_id: null,
            last_message_id: message_id,
            last_message_at_ms: message.sent_at_ms,
            last_message_preview: BODY,
          }),
        ),
      );
      unacked.push(message);
      // The receiver acks a message a few commits after it was delivered.
      if (unacked.length > env.BATCH * ACK_LAG_BATCHES) {
        const acked = unacked.shift()!;
        const to = acked.conversation_id.split(":")[2]!;
        writes.push(
          ports.log.append(acked.conversation_id, { kind: "ack", conversation_id: acked.conversation_id, message_id: acked.message_id, user_id: to, device_id: `dev-${to}`, status: "delivered" }),
          ports.messages.getMessage(acked.conversation_id, acked.message_id),
          ports.pending.remove(to, `dev-${to}`, acked.conversation_id, acked.message_id),
          ports.messages.advanceReceipt(acked.message_id, to, "delivered"),
        );
      }
    }
    const committed = [...offsets].map(([partition, offset]) => ({ partition, offset }));
    writes.push(
      ports.messages.putIdCheckpoints(committed.map((c) => ({ partition: c.partition, offset: c.offset, last_ms: 1_700_000_000_000 + m, sequence: 0 }))),
      consumer.commit(committed, 1).catch(() => "fenced"),
    );
    await Promise.all(writes);
  }
  const cpu = process.cpuUsage(cpu0);
  statements.stop();
  const run: Run = {
    engine,
    cpu_us_per_msg: Math.round((cpu.user + cpu.system) / env.MESSAGES),
    written_kib_per_msg: Math.round(((ports.bytes() - bytes0) / 1024 / env.MESSAGES) * 100) / 100,
    commits_per_msg: Math.round(((commits() - commits0) / env.MESSAGES) * 1000) / 1000,
    statements_per_msg: Math.round((statements.statements().total / env.MESSAGES) * 100) / 100,
  };
  await consumer.close();
  return run;
}

async function memory(): Promise<Run> {
  const ports: Ports = { log: new LogMemory(), messages: new MessageStoreMemory(), pending: new PendingStoreMemory(), close: async () => undefined, bytes: wchar };
  return drive(ports, "memory (baseline)", () => 0);
}

async function sqlite(): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "storage-bench-"));
  // As the all-in-one node opens it: WAL, synchronous NORMAL, checkpoints on their own thread.
  const db = Database.open(join(dir, "chat.sqlite"), { checkpoint: { interval_ms: 100 } });
  const log = new LogSqlite(db, { partition_count: 8 });
  const ports: Ports = {
    log,
    messages: new MessageStoreSqlite(db),
    pending: new PendingStoreSqlite(db),
    close: async () => {
      await log.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
    bytes: wchar,
  };
  try {
    return await drive(ports, "sqlite", () => db.stats().transactions_committed);
  } finally {
    await ports.close();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const runs: Run[] = [];
for (let r = 0; r < env.REPEATS; r++) {
  // Alternated, so that a noisy stretch of the machine hits both.
  runs.push(await memory(), await sqlite());
  const last = runs.slice(-2);
  console.log(last.map((x) => `${x.engine}: ${x.cpu_us_per_msg} us/msg CPU, ${x.written_kib_per_msg} KiB/msg written, ${x.commits_per_msg} commits/msg, ${x.statements_per_msg} statements/msg`).join(" | "));
}
const by = (engine: string) => runs.filter((x) => x.engine === engine);
const baseline = median(by("memory (baseline)").map((x) => x.cpu_us_per_msg));
const engines = ["sqlite"].map((engine) => {
  const rs = by(engine);
  const cpu = median(rs.map((x) => x.cpu_us_per_msg));
  return {
    engine,
    cpu_us_per_msg: cpu,
    storage_cpu_us_per_msg: cpu - baseline,
    ratio_to_baseline: Math.round((cpu / baseline) * 100) / 100,
    written_kib_per_msg: median(rs.map((x) => x.written_kib_per_msg)),
    pages_per_msg: Math.round((median(rs.map((x) => x.written_kib_per_msg)) / 4) * 10) / 10,
    commits_per_msg: median(rs.map((x) => x.commits_per_msg)),
    statements_per_msg: median(rs.map((x) => x.statements_per_msg)),
  };
});
const result = { bench: "storage", at: new Date().toISOString(), node: process.version, messages: env.MESSAGES, batch: env.BATCH, repeats: env.REPEATS, baseline_cpu_us_per_msg: baseline, engines, runs };
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, "bench/results/storage.json"), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(join(root, "bench/results/storage.svg"), chart(result));
for (const e of engines) {
  console.log(`${e.engine}: ${e.storage_cpu_us_per_msg} us/msg of storage CPU beyond the driver (${baseline} us/msg), ${e.ratio_to_baseline}x the baseline, ${e.written_kib_per_msg} KiB (${e.pages_per_msg} pages) written and ${e.statements_per_msg} SQL statements run per message (BEGIN/COMMIT apart)`);
}
console.log("wrote bench/results/storage.json and storage.svg");

/** Two bar panels: CPU per message (baseline beside each engine) and KiB written per message. */
function chart(r: typeof result): string {
  const W = 720;
  const H = 300;
  const rows = [{ engine: "memory (baseline)", cpu_us_per_msg: r.baseline_cpu_us_per_msg, written_kib_per_msg: 0 }, ...r.engines];
  const panel = (x0: number, title: string, unit: string, value: (row: (typeof rows)[number]) => number): string => {
    const max = Math.max(1, ...rows.map(value)) * 1.15;
    const bw = 260 / rows.length;
    const bars = rows
      .map((row, i) => {
        const v = value(row);
        const h = (v / max) * 190;
        const x = x0 + 20 + i * bw;
        const color = i === 0 ? "#9a9a9a" : "#1f6fd1";
        return `<rect x="${x.toFixed(1)}" y="${(240 - h).toFixed(1)}" width="${(bw - 16).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"/><text x="${(x + (bw - 16) / 2).toFixed(1)}" y="${(234 - h).toFixed(1)}" text-anchor="middle" font-size="12">${v} ${unit}</text><text x="${(x + (bw - 16) / 2).toFixed(1)}" y="258" text-anchor="middle" font-size="11">${row.engine}</text>`;
      })
      .join("");
    return `<text x="${x0 + 150}" y="40" text-anchor="middle" font-size="13" font-weight="bold">${title}</text><line x1="${x0 + 10}" y1="240" x2="${x0 + 300}" y2="240" stroke="#333"/>${bars}`;
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="${W / 2}" y="18" text-anchor="middle" font-size="14">Storage cost of one 1:1 message and its ack, ${r.batch} messages per commit (${r.node}, median of ${r.repeats})</text>${panel(20, "CPU per message", "µs", (row) => row.cpu_us_per_msg)}${panel(380, "Written per message", "KiB", (row) => row.written_kib_per_msg)}<text x="${W / 2}" y="290" text-anchor="middle" font-size="11" fill="#555">grey: the same driver on in-memory adapters, measured in the same run</text></svg>\n`;
}

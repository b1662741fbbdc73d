/**
 * Durability across kill -9: a child process writes through the group-commit path and prints
 * an ack per resolved write; the test kills it with SIGKILL mid-stream, reopens the file and
 * checks that every acknowledged write is there, in the message store and in the log.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { partitionOf } from "../../core/ports/log.js";
import { Database, type Synchronous } from "./database.js";
import { LogSqlite } from "./log-sqlite.js";
import { MessageStoreSqlite } from "./message-store-sqlite.js";
import { tempDir } from "./test-support.js";

const CHILD = fileURLToPath(new URL("./durability-child.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CONVERSATION_ID = "d.durability";
/** Acks to wait for before the kill. */
const ACKS_BEFORE_KILL = 3_000;
const CHILD_WAIT_MS = 20_000;

type ChildRun = { readonly acked: readonly number[]; readonly signal: NodeJS.Signals | null; readonly stderr: string };

/** Runs the child until it has acknowledged `acks` writes, then kills it with SIGKILL. */
function runAndKill(path: string, synchronous: Synchronous, acks: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, path, synchronous], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const acked: number[] = [];
    let buffered = "";
    let stderr = "";
    let killed = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`durability child: ${acked.length} acks after ${CHILD_WAIT_MS} ms, wanted ${acks}; stderr: ${stderr}`));
    }, CHILD_WAIT_MS);
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        if (line.startsWith("ack ")) acked.push(Number(line.slice(4)));
      }
      if (!killed && acked.length >= acks) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    // "close" comes after stdout ended, so every ack the child printed has been read.
    child.on("close", (_code, signal) => {
      clearTimeout(timer);
      resolve({ acked, signal, stderr });
    });
    child.on("error", reject);
  });
}

describe("SQLite durability across SIGKILL", () => {
  for (const synchronous of ["normal", "full"] as const) {
    it(`keeps every acknowledged write (synchronous=${synchronous})`, async () => {
      const folder = tempDir();
      try {
        const path = join(folder.dir, "chat.sqlite");
        const run = await runAndKill(path, synchronous, ACKS_BEFORE_KILL);
        expect(run.signal, `the child must die by SIGKILL, not exit by itself; stderr: ${run.stderr}`).toBe("SIGKILL");
        expect(run.acked.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);

        const database = Database.open(path);
        try {
          expect(database.prepare<[], { integrity_check: string }>("PRAGMA integrity_check").get()?.integrity_check).toBe("ok");
          const store = new MessageStoreSqlite(database);
          const stored = new Set(
            database
              .prepare<[string], { message_id: string }>("SELECT message_id FROM messages WHERE conversation_id = ?")
              .all(CONVERSATION_ID)
              .map((row) => Number(row.message_id)),
          );
          const lost_messages = run.acked.filter((n) => !stored.has(n));
          expect(lost_messages, "acknowledged messages missing after SIGKILL").toEqual([]);
          const last = Math.max(...run.acked);
          expect((await store.getMessage(CONVERSATION_ID, String(last).padStart(19, "0")))?.content).toBe(`message ${last}`);

          const log = new LogSqlite(database);
          const logged = database
            .prepare<[], { offset: number; record: string }>('SELECT "offset" AS offset, record FROM log ORDER BY "partition", "offset"')
            .all();
          const in_log = new Set(logged.map((row) => (JSON.parse(row.record) as { accepted_at_ms: number }).accepted_at_ms));
          const lost_records = run.acked.filter((n) => !in_log.has(n));
          expect(lost_records, "acknowledged log records missing after SIGKILL").toEqual([]);
          // One key, so one partition: offsets 0, 1, 2, ... without a hole, whatever the kill cut off.
          expect(logged.map((row) => row.offset)).toEqual(logged.map((_, i) => i));
          expect(log.partitionBounds(partitionOf(CONVERSATION_ID, log.partition_count)).next_offset).toBe(logged.length);
          await log.close();
          await store.close();
        } finally {
          await database.close();
        }
      } finally {
        folder.remove();
      }
    });
  }
});

/**
 * Checkpointer: moves SQLite's WAL checkpoints off the event loop. By default SQLite runs a
 * checkpoint inside the COMMIT that pushes the WAL past 1,000 pages: it copies the pages into
 * the database file and fsyncs it, on the thread that committed, i.e. the node's only thread.
 * Measured on the all-in-one node at 2,000 msg/s: one commit in seven took over 3 ms that
 * way, and every write of that batch (and every message behind it) waited.
 *
 * Here the node's connection runs with `wal_autocheckpoint = 0` and a worker thread with a
 * connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval_ms`. PASSIVE
 * never blocks the writer: it copies what no reader still needs, and once a checkpoint has
 * copied everything, the writer's next transaction restarts the WAL from its beginning
 * (journal_size_limit then truncates the file). Durability does not change: a transaction is
 * durable once its COMMIT wrote it to the WAL (see database.ts); a checkpoint only copies it.
 *
 * The worker is plain JavaScript evaluated from a string (it needs no build step and runs the
 * same under tsx, vitest and the compiled node); it loads better-sqlite3 by the path this
 * module resolved. A worker that fails is reported once and replaced by inline checkpoints
 * (`wal_autocheckpoint` back to 1,000 on the node's connection), so the WAL never grows
 * without bound.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

export type CheckpointerOptions = {
  readonly path: string;
  /** How often the worker checkpoints. */
  readonly interval_ms: number;
  /** Called once if the worker fails; the caller turns inline checkpoints back on. */
  readonly failed: (why: string) => void;
  /**
   * Called when a checkpoint left at least `restart_frames` frames in the WAL. Under steady
   * writes a checkpoint on another connection never finds the WAL fully copied when the
   * writer starts its next transaction, so the WAL would never restart and would grow
   * without bound; the writer's own connection must then run one PASSIVE checkpoint (cheap:
   * only the frames written since the worker's copy remain), after which the WAL restarts.
   */
  readonly wal_large: () => void;
  readonly restart_frames: number;
};

export type CheckpointStats = { readonly checkpoints: number; readonly frames_copied: number };

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: 5000 });
let checkpoints = 0, frames_copied = 0, stopping = false;
const run = () => {
  const row = db.pragma("wal_checkpoint(PASSIVE)")[0];
  checkpoints++;
  if (row && row.checkpointed > 0) frames_copied += row.checkpointed;
  if (row && row.log >= workerData.restart_frames) parentPort.postMessage({ type: "wal_large", frames: row.log });
};
const timer = setInterval(() => {
  try { run(); } catch (error) { clearInterval(timer); parentPort.postMessage({ type: "failed", why: String(error && error.message || error) }); }
}, workerData.interval_ms);
parentPort.on("message", (m) => {
  if (m.type === "stats") parentPort.postMessage({ type: "stats", checkpoints, frames_copied });
  if (m.type === "stop" && !stopping) {
    stopping = true;
    clearInterval(timer);
    try { db.close(); } catch {}
    parentPort.postMessage({ type: "stopped" });
  }
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private alive = true;
  private readonly waiting: ((stats: CheckpointStats) => void)[] = [];

  constructor(private readonly options: CheckpointerOptions) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: options.path, interval_ms: options.interval_ms, restart_frames: options.restart_frames } });
    // The worker must not keep a process alive that is otherwise done.
    this.worker.unref();
    this.worker.on("message", (m: { type: string; why?: string; checkpoints?: number; frames_copied?: number }) => {
      if (m.type === "failed") this.fail(m.why ?? "unknown");
      if (m.type === "wal_large" && this.alive) this.options.wal_large();
      if (m.type === "stats") this.waiting.shift()?.({ checkpoints: m.checkpoints ?? 0, frames_copied: m.frames_copied ?? 0 });
    });
    this.worker.on("error", (error) => this.fail(error.message));
  }

  /** How many checkpoints ran and how many WAL frames they copied (tests, metrics). */
  stats(): Promise<CheckpointStats> {
    if (!this.alive) return Promise.resolve({ checkpoints: 0, frames_copied: 0 });
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.worker.postMessage({ type: "stats" });
    });
  }

  /** Stops the worker and closes its connection; resolves when it has. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.alive = false;
    await new Promise<void>((resolve) => {
      const done = (): void => resolve();
      this.worker.once("exit", done);
      this.worker.on("message", (m: { type: string }) => {
        if (m.type === "stopped") void this.worker.terminate();
      });
      this.worker.postMessage({ type: "stop" });
    });
  }

  private fail(why: string): void {
    if (!this.alive) return;
    this.alive = false;
    void this.worker.terminate();
    this.options.failed(why);
  }
}

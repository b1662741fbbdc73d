/**
 * WriteBatcher: group commit for the embedded node's one SQLite connection. Every write an
 * adapter makes is a synchronous `work` function handed to `write`; the writes requested
 * before the next turn of the event loop run one after another inside ONE transaction, and
 * each caller's promise settles only after that transaction has committed.
 *
 * Rules:
 * - The durability point: a write's promise resolves after the COMMIT of the transaction
 *   that holds it has returned. Under WAL that means its frames are in the WAL file (in the
 *   operating system's page cache with synchronous=NORMAL, on the disk with FULL), so it
 *   survives the process being killed at any instant after; see database.ts for the choice.
 *   Nothing resolves earlier, and nothing rejects after its write became durable, except
 *   when the COMMIT itself fails, whose outcome is then unknown (as the ports allow).
 * - A flush is scheduled when the queue becomes non-empty: with setImmediate when the last
 *   commit is at least `commit_window_ms` old (an idle node commits at once, so the writes
 *   of one tick and of every microtask it spawns share a transaction), otherwise when the
 *   window since the last commit has passed (a busy node commits at most once per window).
 *   Why a window: a commit's cost is the B-tree pages it writes to the WAL, about one page
 *   per write in a small transaction and far less in a large one (the log's partitions,
 *   pending and inbox pages are shared). Measured on the all-in-one node at 1,000 msg/s,
 *   committing every loop turn: 17 writes and 15 pages (60 KB) per commit, 275-430 µs per
 *   COMMIT, two thirds of the node's busy time. A queue that reaches `batch_writes_max`
 *   flushes at once. A flush takes at most `batch_writes_max` writes and schedules another
 *   for the rest, so that reads and I/O get a turn between batches. At most
 *   `queued_writes_max` writes wait; one more is refused with code `write_queue_full`
 *   (backpressure, not a crash).
 * - Each write runs inside its own SAVEPOINT: one that throws is rolled back alone and its
 *   caller gets the error, while the others in the batch still commit. A `work` function
 *   therefore does its SQL first and changes in-memory state last, so that a throw leaves
 *   both untouched. It must be synchronous (a returned promise is a bug and rejects).
 *   A write that declares `one_statement` changes the file with exactly one statement, run
 *   first (reads may follow it): SQLite already undoes a failed statement alone (its
 *   statement journal), so the SAVEPOINT and RELEASE around it would only repeat that (two
 *   statements more per write; a message makes about a dozen writes).
 * - A failed BEGIN or COMMIT, or an error after which SQLite itself rolled the whole
 *   transaction back, leaves the in-memory state of the adapters ahead of the file, so the
 *   batcher stops: every write of that batch, queued or requested later rejects with code
 *   `database_failed` (fail-stop; restart the node, which reloads state from the file).
 * - Reads do not go through the batcher: better-sqlite3 is synchronous, so a read can never
 *   run in the middle of a batch, and it sees exactly the committed writes.
 */
import type BetterSqlite3 from "better-sqlite3";
import { assert } from "../../core/result.js";

export type WriteBatcherOptions = {
  /** Writes in one transaction at most. */
  readonly batch_writes_max?: number;
  /** Writes waiting for a flush at most; more are refused with `write_queue_full`. */
  readonly queued_writes_max?: number;
  /** Commits are at least this far apart (ms); 0 commits every loop turn. */
  readonly commit_window_ms?: number;
};

export const BATCH_WRITES_MAX_DEFAULT = 1_000;
export const QUEUED_WRITES_MAX_DEFAULT = 100_000;
export const COMMIT_WINDOW_MS_DEFAULT = 2;

export type WriteErrorCode = "write_queue_full" | "database_failed" | "database_closed" | "write_not_synchronous";

/** Why the batcher refused or lost a write; `code` is stable, the message says what happened. */
export class WriteError extends Error {
  readonly code: WriteErrorCode;
  constructor(code: WriteErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WriteError";
    this.code = code;
  }
}

export type WriteBatcherStats = {
  readonly transactions_committed: number;
  readonly writes_committed: number;
  readonly batch_writes_largest: number;
};

/** How a write may be run; see the header. */
export type WriteOptions = {
  /** The work changes the file with exactly one statement, its first; no SAVEPOINT around it. */
  readonly one_statement?: boolean;
};

type Job = {
  readonly work: () => unknown;
  readonly one_statement: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
};

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

export class WriteBatcher {
  private readonly batch_writes_max: number;
  private readonly queued_writes_max: number;
  private readonly commit_window_ms: number;
  private last_commit_ms = Number.NEGATIVE_INFINITY;
  private window_timer: ReturnType<typeof setTimeout> | null = null;
  private readonly begin: BetterSqlite3.Statement<[]>;
  private readonly commit: BetterSqlite3.Statement<[]>;
  private readonly rollback: BetterSqlite3.Statement<[]>;
  private readonly savepoint: BetterSqlite3.Statement<[]>;
  private readonly release: BetterSqlite3.Statement<[]>;
  private readonly rollback_to: BetterSqlite3.Statement<[]>;
  private queue: Job[] = [];
  private scheduled = false;
  private flushing = false;
  private failure: WriteError | null = null;
  private closed = false;
  private transactions_committed = 0;
  private writes_committed = 0;
  private batch_writes_largest = 0;

  constructor(
    private readonly db: BetterSqlite3.Database,
    options: WriteBatcherOptions = {},
  ) {
    this.batch_writes_max = options.batch_writes_max ?? BATCH_WRITES_MAX_DEFAULT;
    this.queued_writes_max = options.queued_writes_max ?? QUEUED_WRITES_MAX_DEFAULT;
    this.commit_window_ms = options.commit_window_ms ?? COMMIT_WINDOW_MS_DEFAULT;
    assert(Number.isFinite(this.commit_window_ms) && this.commit_window_ms >= 0, "WriteBatcher: commit_window_ms must be a number >= 0");
    assert(Number.isInteger(this.batch_writes_max) && this.batch_writes_max > 0, "WriteBatcher: batch_writes_max must be a positive integer");
    assert(Number.isInteger(this.queued_writes_max) && this.queued_writes_max > 0, "WriteBatcher: queued_writes_max must be a positive integer");
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.savepoint = db.prepare("SAVEPOINT batched_write");
    this.release = db.prepare("RELEASE batched_write");
    this.rollback_to = db.prepare("ROLLBACK TO batched_write");
  }

  /** Runs `work` in the next group transaction; resolves with its value once that committed. */
  write<T>(work: () => T, options: WriteOptions = {}): Promise<T> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new WriteError("database_closed", "WriteBatcher.write: the database is closed"));
    if (this.queue.length >= this.queued_writes_max) {
      return Promise.reject(new WriteError("write_queue_full", `WriteBatcher.write: ${this.queue.length} writes already wait (queued_writes_max)`));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, one_statement: options.one_statement === true, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Resolves once every write requested before this call has committed (or failed). */
  async flush(): Promise<void> {
    if (this.queue.length === 0 && !this.flushing) return;
    await this.write(() => undefined).catch(() => undefined);
  }

  /** Refuses new writes; the queued ones still commit. Resolves when they have. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /** False once a BEGIN or COMMIT failed (fail-stop): in-memory state may then be ahead of the file. */
  get healthy(): boolean {
    return this.failure === null;
  }

  /** True while a batch is running: a synchronous transaction of its own would nest in it. */
  get busy(): boolean {
    return this.flushing;
  }

  stats(): WriteBatcherStats {
    return {
      transactions_committed: this.transactions_committed,
      writes_committed: this.writes_committed,
      batch_writes_largest: this.batch_writes_largest,
    };
  }

  private schedule(): void {
    const full = this.queue.length >= this.batch_writes_max;
    if (this.scheduled && !(full && this.window_timer !== null)) return;
    if (this.window_timer !== null) {
      // A full batch does not wait for the window.
      clearTimeout(this.window_timer);
      this.window_timer = null;
    }
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.window_timer = null;
      this.flushOnce();
    };
    const wait_ms = this.last_commit_ms + this.commit_window_ms - performance.now();
    if (wait_ms <= 0 || full) setImmediate(run);
    else this.window_timer = setTimeout(run, Math.ceil(wait_ms));
  }

  private flushOnce(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.batch_writes_max);
    this.flushing = true;
    try {
      this.runBatch(batch);
    } finally {
      this.flushing = false;
      this.last_commit_ms = performance.now();
    }
    if (this.queue.length > 0) this.schedule();
  }

  private runBatch(batch: readonly Job[]): void {
    if (this.failure !== null) {
      for (const job of batch) job.reject(this.failure);
      return;
    }
    try {
      this.begin.run();
    } catch (error) {
      this.fail(batch, "BEGIN failed", error);
      return;
    }
    const outcomes: Outcome[] = [];
    for (const job of batch) {
      const savepoint = !job.one_statement;
      if (savepoint) this.savepoint.run();
      try {
        const value = job.work();
        if (isThenable(value)) {
          throw new WriteError("write_not_synchronous", "WriteBatcher.write: work returned a promise; batched writes must be synchronous");
        }
        if (savepoint) this.release.run();
        outcomes.push({ ok: true, value });
      } catch (error) {
        if (!this.db.inTransaction) {
          // SQLite rolled the whole transaction back (disk full, I/O error): the writes before
          // this one are gone too, while their in-memory effects are not.
          this.fail(batch, "a write failed and SQLite rolled back its transaction", error);
          return;
        }
        if (savepoint) {
          this.rollback_to.run();
          this.release.run();
        }
        outcomes.push({ ok: false, error });
      }
    }
    try {
      this.commit.run();
    } catch (error) {
      this.fail(batch, "COMMIT failed", error);
      return;
    }
    this.transactions_committed++;
    this.writes_committed += outcomes.filter((outcome) => outcome.ok).length;
    this.batch_writes_largest = Math.max(this.batch_writes_largest, batch.length);
    batch.forEach((job, i) => {
      const outcome = outcomes[i];
      assert(outcome !== undefined, "WriteBatcher: one outcome per job");
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }

  private fail(batch: readonly Job[], what: string, cause: unknown): void {
    if (this.db.inTransaction) {
      try {
        this.rollback.run();
      } catch {
        // The connection is unusable either way; the failure below says why.
      }
    }
    const detail = cause instanceof Error ? cause.message : String(cause);
    this.failure = new WriteError("database_failed", `WriteBatcher: ${what} (${detail}); the database refuses writes until the node restarts`, {
      cause,
    });
    const waiting = this.queue;
    this.queue = [];
    for (const job of [...batch, ...waiting]) job.reject(this.failure);
  }
}

function isThenable(value: unknown): boolean {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** For writes whose only change to the file is their first statement (see the header). */
export const ONE_STATEMENT: WriteOptions = { one_statement: true };

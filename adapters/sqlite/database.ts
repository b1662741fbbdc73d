/**
 * Database: the embedded node's one SQLite file, shared by every SQLite adapter of the node
 * (each adapter's constructor takes this handle). It owns the connection, the pragmas, the
 * schema migrations and the group commit; the adapters own their tables.
 *
 * Durability (the requirement: nothing acknowledged is ever lost, including across kill -9 of
 * the process; power loss is out of scope):
 * - journal_mode=WAL, synchronous=NORMAL by default. A committed transaction has been written
 *   to the WAL file with write(2) before COMMIT returns, so it sits in the operating
 *   system's page cache and survives the death of the process at any instant; only a crash
 *   of the operating system or a power loss can take back the last transactions (the file
 *   stays consistent either way). FULL adds an fsync of the WAL per commit and makes commits
 *   survive power loss too; pass `synchronous: "full"` where that matters. Group commit
 *   (write-batcher.ts) is what keeps FULL affordable: one fsync per batch, not per message.
 * - A write is acknowledged (its promise resolves) only after the COMMIT of its batch.
 *
 * Rules:
 * - All SQL runs through prepared statements (`prepare`, cached by text) with bound
 *   parameters; no value is ever concatenated into SQL.
 * - Writes go through `write` (group commit). `writeNow` runs a transaction at once and is
 *   only for an adapter's constructor, before it takes part in any batch.
 * - Migrations (migrations.ts) run when the file opens; each applied step is a row of
 *   `schema_migrations`, so opening again applies nothing twice, and a file written by a
 *   newer schema than this code knows is refused rather than misread.
 * - One process opens a file at a time (the adapters keep in-memory state that mirrors it).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { assert } from "../../core/result.js";
import { Checkpointer, type CheckpointStats } from "./checkpointer.js";
import { MIGRATIONS, type Migration } from "./migrations.js";
import { WriteBatcher, type WriteBatcherOptions, type WriteBatcherStats, type WriteOptions } from "./write-batcher.js";

export type Synchronous = "normal" | "full";

export type DatabaseOptions = WriteBatcherOptions & {
  /** See the header: "normal" survives a killed process, "full" also a power loss. */
  readonly synchronous?: Synchronous;
  /** How long a statement waits for a lock held by another connection (a backup tool, say). */
  readonly busy_timeout_ms?: number;
  /** The migration steps to apply; the real schema unless a test passes its own. */
  readonly migrations?: readonly Migration[];
  /**
   * Where WAL checkpoints run: "inline" (SQLite's default, inside the COMMIT that fills the
   * WAL, on the event loop) or on a worker thread every `interval_ms` (checkpointer.ts).
   */
  readonly checkpoint?: "inline" | { readonly interval_ms: number; /** 64 MiB by default. */ readonly wal_restart_bytes?: number };
  /** Told once if the checkpoint thread fails (checkpoints then run inline again). */
  readonly checkpoint_failed?: (why: string) => void;
};

/**
 * With checkpoints on a thread: a WAL of more frames than this is restarted by the node's own
 * connection (checkpointer.ts), and a larger WAL file is truncated to this when it restarts.
 */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
const WAL_AUTOCHECKPOINT_PAGES_DEFAULT = 1_000;

const BUSY_TIMEOUT_MS_DEFAULT = 5_000;
/** SQLite's page cache for the node's connection (KiB). */
const PAGE_CACHE_KIB = 64 * 1024;

export class Database {
  readonly path: string;
  readonly synchronous: Synchronous;
  private readonly db: BetterSqlite3.Database;
  private readonly batcher: WriteBatcher;
  private readonly statements = new Map<string, BetterSqlite3.Statement<unknown[], unknown>>();
  private readonly checkpointer: Checkpointer | null;
  /** PASSIVE checkpoints the node's own connection ran so that the WAL could restart. */
  private wal_restarts = 0;
  private open = true;

  private constructor(path: string, db: BetterSqlite3.Database, synchronous: Synchronous, options: DatabaseOptions) {
    this.path = path;
    this.db = db;
    this.synchronous = synchronous;
    this.batcher = new WriteBatcher(db, { batch_writes_max: options.batch_writes_max, queued_writes_max: options.queued_writes_max, commit_window_ms: options.commit_window_ms });
    const checkpoint = options.checkpoint ?? "inline";
    if (checkpoint === "inline" || path === ":memory:") {
      this.checkpointer = null;
    } else {
      db.pragma("wal_autocheckpoint = 0");
      const restart_bytes = checkpoint.wal_restart_bytes ?? JOURNAL_SIZE_LIMIT_BYTES;
      db.pragma(`journal_size_limit = ${restart_bytes}`);
      this.checkpointer = new Checkpointer({
        path,
        interval_ms: checkpoint.interval_ms,
        restart_frames: Math.ceil(restart_bytes / (db.pragma("page_size", { simple: true }) as number)),
        wal_large: () => {
          // Between batches (this runs as its own task, never inside one): see checkpointer.ts.
          if (this.open && !this.batcher.busy) {
            db.pragma("wal_checkpoint(PASSIVE)");
            this.wal_restarts++;
          }
        },
        failed: (why) => {
          if (this.open) db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES_DEFAULT}`);
          options.checkpoint_failed?.(why);
        },
      });
    }
  }

  /** Opens (creating if needed) the file at `path`, sets the pragmas and migrates it. */
  static open(path: string, options: DatabaseOptions = {}): Database {
    const synchronous = options.synchronous ?? "normal";
    assert(synchronous === "normal" || synchronous === "full", `Database.open: synchronous must be "normal" or "full", got ${String(synchronous)}`);
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new BetterSqlite3(path, { timeout: options.busy_timeout_ms ?? BUSY_TIMEOUT_MS_DEFAULT });
    try {
      const journal = db.pragma("journal_mode = WAL", { simple: true });
      if (path !== ":memory:" && journal !== "wal") throw new Error(`Database.open: ${path} refused WAL mode (journal_mode is ${String(journal)})`);
      db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
      // The page cache: SQLite's default (2 MiB) is smaller than the pages a busy node touches
      // again and again (each conversation's newest history page, the inbox, the dedup claims),
      // and every miss is a pread: strace of the node at 1,500 msg/s counted two per message.
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      migrate(db, options.migrations ?? MIGRATIONS);
    } catch (error) {
      db.close();
      throw error;
    }
    return new Database(path, db, synchronous, options);
  }

  /** A prepared statement for `sql`, prepared once per database. */
  prepare<Params extends unknown[] = unknown[], Row = unknown>(sql: string): Statement<Params, Row> {
    this.assertOpen("prepare");
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql) as BetterSqlite3.Statement<unknown[], unknown>;
      this.statements.set(sql, statement);
    }
    return statement as unknown as Statement<Params, Row>;
  }

  /** Runs `work` (synchronous SQL) in the next group transaction; resolves once it committed. */
  write<T>(work: () => T, options?: WriteOptions): Promise<T> {
    return this.batcher.write(work, options);
  }

  /** Runs `work` in a transaction of its own, now. Only for constructors (see the header). */
  writeNow<T>(work: () => T): T {
    this.assertOpen("writeNow");
    assert(!this.batcher.busy && !this.db.inTransaction, "Database.writeNow: called inside a batched write");
    return this.db.transaction(work).immediate();
  }

  /**
   * False once a commit failed: the adapters' in-memory state may hold writes the file does
   * not, so nothing may be served from it any more (the node must restart).
   */
  get healthy(): boolean {
    return this.batcher.healthy;
  }

  /** Resolves once every write requested so far has committed or failed. */
  flush(): Promise<void> {
    return this.batcher.flush();
  }

  /** Commit counters, for tests and metrics. */
  stats(): WriteBatcherStats {
    return this.batcher.stats();
  }

  /** The checkpoint thread's counters; null when checkpoints run inline. */
  async checkpointStats(): Promise<(CheckpointStats & { readonly wal_restarts: number }) | null> {
    if (this.checkpointer === null) return null;
    return { ...(await this.checkpointer.stats()), wal_restarts: this.wal_restarts };
  }

  /** The highest migration step applied to the file. */
  schemaVersion(): number {
    return schemaVersionOf(this.db);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Lets the queued writes commit, then closes the file. Closing twice is harmless. */
  async close(): Promise<void> {
    if (!this.open) return;
    await this.batcher.close();
    if (!this.open) return;
    this.open = false;
    await this.checkpointer?.stop();
    this.statements.clear();
    this.db.close();
  }

  private assertOpen(method: string): void {
    if (!this.open) throw new Error(`Database.${method}: ${this.path} is closed`);
  }
}

/**
 * A prepared statement binding `Params` and answering `Row`s: positional parameters as a
 * tuple (`[string, number]`), named ones as a one-object tuple (`[{ user_id: string }]`).
 */
export type Statement<Params extends unknown[] = unknown[], Row = unknown> = BetterSqlite3.Statement<Params, Row>;

function migrate(db: BetterSqlite3.Database, migrations: readonly Migration[]): void {
  migrations.forEach((migration, i) => {
    assert(migration.version === i + 1, `Database migrations: step ${i} has version ${migration.version}; versions are 1, 2, 3, ...`);
  });
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
  const applied = schemaVersionOf(db);
  if (applied > migrations.length) {
    throw new Error(`Database.open: the file is at schema version ${applied}, newer than this code's ${migrations.length}; refusing to open it`);
  }
  const record = db.prepare<[number, string, number]>("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)");
  for (const migration of migrations.slice(applied)) {
    // exec runs the step's several statements; the transaction makes step and record one.
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
    }).immediate();
  }
}

function schemaVersionOf(db: BetterSqlite3.Database): number {
  const row = db.prepare<[], { version: number | null }>("SELECT MAX(version) AS version FROM schema_migrations").get();
  return row?.version ?? 0;
}

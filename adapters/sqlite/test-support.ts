/**
 * Test support for the SQLite adapters: a fresh database file in its own temporary folder,
 * removed again by `cleanup`. Not used by production code.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Database, type DatabaseOptions } from "./database.js";

export type TempDatabase = {
  readonly database: Database;
  readonly dir: string;
  readonly path: string;
  /** Closes the database (if still open) and removes the folder. */
  cleanup(): Promise<void>;
};

/** A folder of its own under the OS temp dir, for a database file; `remove` deletes it. */
export function tempDir(prefix = "chat-sqlite-"): { readonly dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function tempDatabase(options: DatabaseOptions = {}): TempDatabase {
  const folder = tempDir();
  const path = join(folder.dir, "chat.sqlite");
  const database = Database.open(path, options);
  return {
    database,
    dir: folder.dir,
    path,
    cleanup: async () => {
      await database.close();
      folder.remove();
    },
  };
}

/**
 * Counts the SQL statements run (run/get/all/iterate) while `counting` is on, on every
 * statement prepared after `install()`: a deterministic measure of a code path's work for
 * tests and benchmarks (a statement is a crossing into SQLite and a VDBE program). BEGIN and
 * COMMIT are counted apart: a group commit shares them among all the writes in it.
 */
export class StatementCounter {
  private readonly counts = new Map<string, number>();
  private counting = false;
  private original: ((this: unknown, sql: string) => Record<string, unknown>) | null = null;

  install(): void {
    const prototype = BetterSqlite3.prototype as unknown as { prepare(this: unknown, sql: string): Record<string, unknown> };
    const prepare = prototype.prepare;
    this.original = prepare;
    const self = this;
    prototype.prepare = function (this: unknown, sql: string) {
      const statement = prepare.call(this, sql);
      const key = sql.replace(/\s+/g, " ").trim();
      for (const method of ["run", "get", "all", "iterate"]) {
        const run = statement[method] as (...args: unknown[]) => unknown;
        statement[method] = function (this: unknown, ...args: unknown[]) {
          if (self.counting) self.counts.set(key, (self.counts.get(key) ?? 0) + 1);
          return run.apply(this, args);
        };
      }
      return statement;
    };
  }

  uninstall(): void {
    if (this.original === null) return;
    (BetterSqlite3.prototype as unknown as { prepare: unknown }).prepare = this.original;
    this.original = null;
  }

  /** Starts counting from zero. */
  start(): void {
    this.counts.clear();
    this.counting = true;
  }

  stop(): void {
    this.counting = false;
  }

  /** Statements run since `start`, BEGIN and COMMIT left out; by SQL text, most run first. */
  statements(): { readonly total: number; readonly by_sql: readonly (readonly [string, number])[] } {
    const by_sql = [...this.counts].filter(([sql]) => sql !== "BEGIN IMMEDIATE" && sql !== "COMMIT").sort((a, b) => b[1] - a[1]);
    return { total: by_sql.reduce((sum, [, n]) => sum + n, 0), by_sql };
  }
}

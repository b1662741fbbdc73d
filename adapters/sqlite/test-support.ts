/**
 * Test support for the SQLite adapters: a fresh database file in its own temporary folder,
 * removed again by `cleanup`. Not used by production code.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

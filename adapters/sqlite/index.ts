/**
 * The embedded (SQLite) adapters: the durable ports of the all-in-one node, all in one file
 * opened by `Database.open` and handed to each adapter's constructor.
 */
export { Database, type DatabaseOptions, type Statement, type Synchronous } from "./database.js";
export { WriteError, type WriteErrorCode, type WriteBatcherOptions, type WriteBatcherStats } from "./write-batcher.js";
export { LogSqlite, type LogSqliteOptions } from "./log-sqlite.js";
export { MessageStoreSqlite } from "./message-store-sqlite.js";
export { PendingStoreSqlite } from "./pending-store-sqlite.js";
export { DirectorySqlite } from "./directory-sqlite.js";

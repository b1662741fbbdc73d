/**
 * The production message and pending stores on Cassandra or ScyllaDB (cassandra-driver):
 * the schema's migrations, a Client factory, and the two adapters.
 */
export { cassandraClient, cassandraConfigFromEnv, type CassandraClientConfig } from "./client.js";
export { type CassandraConsistency, type CassandraSerialConsistency } from "./cql.js";
export {
  CASSANDRA_MIGRATIONS,
  migrateCassandra,
  PENDING_TOMBSTONE_SECONDS,
  type CassandraMigration,
  type MigrateCassandraOptions,
  type MigrateCassandraResult,
} from "./migrations.js";
export { MessageStoreCassandra, type MessageStoreCassandraOptions } from "./message-store-cassandra.js";
export { PendingStoreCassandra, PENDING_TTL_SECONDS_DEFAULT, type PendingStoreCassandraOptions } from "./pending-store-cassandra.js";

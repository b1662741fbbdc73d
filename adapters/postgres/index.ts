/**
 * The PostgreSQL adapters (production): the directory of users, devices, push registrations
 * and groups, its schema migrations, and the pool they share.
 */
export { connectPostgres, databaseUrlFromEnv, type PostgresConnectOptions } from "./pool.js";
export { migratePostgres, POSTGRES_MIGRATIONS, type PostgresMigration, type MigrationReport } from "./migrations.js";
export { DirectoryPostgres } from "./directory-postgres.js";

/** `node dist/nodes/migrate.js`: applies CQL and SQL migrations and creates the log topic. */
import { migrateAll, productionConfig } from "./production.js";

migrateAll(productionConfig(process.env)).then(
  (done) => {
    for (const line of done) process.stdout.write(`migrated ${line}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`migrate failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

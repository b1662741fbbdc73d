import { configDefaults, defineConfig } from "vitest/config";

// One suite, every folder. Property tests read FC_SEED (printed on failure) so a CI failure
// replays locally with `FC_SEED=<seed> make test`.
export default defineConfig({
  test: {
    include: ["{core,adapters,sim,nodes,invariants,chaos,bench,web}/**/*.test.ts"],
    // The Redis Cluster suites kill cluster masters on purpose: they run one file at a time, by
    // `make test-redis-cluster` (REDIS_CLUSTER_TESTS=1), never beside the rest of the suite.
    exclude: process.env.REDIS_CLUSTER_TESTS === "1" ? configDefaults.exclude : [...configDefaults.exclude, "**/redis-cluster*.test.ts"],
    environment: "node",
    pool: "forks",
    testTimeout: 30_000,
    reporters: ["default"],
  },
});

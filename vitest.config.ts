import { defineConfig } from "vitest/config";

// One suite, every folder. Property tests read FC_SEED (printed on failure) so a CI failure
// replays locally with `FC_SEED=<seed> make test`.
export default defineConfig({
  test: {
    include: ["{core,adapters,sim,nodes,invariants,chaos,bench,web}/**/*.test.ts"],
    environment: "node",
    pool: "forks",
    testTimeout: 30_000,
    reporters: ["default"],
  },
});

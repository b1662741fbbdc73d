/**
 * Bundles the simulator's command line, its swarm worker and its benchmark into
 * dist/sim-bundle/ with esbuild (under a second), for `make sim`, `make sim-swarm` and
 * `make bench-sim`.
 *
 * Why not run them through tsx as before: tsx compiles with esbuild's keepNames, which wraps
 * every function a module defines in a `__name(fn, "fn")` call, closures included, so each
 * closure a simulated event makes costs a call more and an object more. A bundle without it
 * ran the same runs (the same trace hashes) with less CPU; see docs/BENCHMARKS.md.
 *
 * The worker is written as swarm-worker-entry.mjs beside main.mjs, the name main.ts looks
 * for next to itself: under tsx that file registers tsx and loads the TypeScript worker; in
 * the bundle it is the worker itself.
 *
 *   node sim/cli/build.mjs
 */
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

await build({
  entryPoints: {
    main: join(root, "sim", "cli", "main.ts"),
    "swarm-worker-entry": join(root, "sim", "cli", "swarm-worker.ts"),
    "sim.bench": join(root, "bench", "sim.bench.ts"),
  },
  outdir: join(root, "dist", "sim-bundle"),
  outExtension: { ".js": ".mjs" },
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // zod and the other packages load from node_modules as they do under tsx.
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});

/**
 * How fast the simulator runs: events per wall second on one core, and virtual time per wall
 * time, for the workload (1,000 users, 100 groups, 10,000 messages), fault-free and
 * with a seed's fault mix, and for seed 42 with the default options. The baseline, measured in the same process and run, is the bare
 * event loop scheduling and running no-op events: the ratio says how much of the loop's
 * own speed the simulated world keeps, which is comparable across noisy machines.
 *
 * Run: make bench-sim (writes bench/results/sim.json and prints a table).
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { EventLoop } from "../sim/event-loop.js";
import { runSimulation } from "../sim/run.js";
import { simOptions, type SimOptions } from "../sim/options.js";

function baselineEventsPerSecond(): number {
  const loop = new EventLoop();
  const events = 2_000_000;
  let n = 0;
  const fn = (): void => {
    n++;
    if (n < events) loop.after(1 + (n % 7), fn);
  };
  for (let i = 0; i < 64; i++) loop.after(i, fn);
  const t0 = performance.now();
  loop.run(Number.MAX_SAFE_INTEGER, events);
  return loop.executed / ((performance.now() - t0) / 1000);
}

type Row = { name: string; events: number; wall_ms: number; virtual_ms: number; events_per_s: number; virtual_per_wall: number; messages_ok: number; violations: number };

const big = (faults: "none" | "seed"): SimOptions =>
  simOptions(1, {
    users: 1_000,
    groups: 100,
    group_size_max: 20,
    messages: 10_000,
    fault_ms: 60_000,
    only_faults: faults === "none" ? new Set() : null,
  });

function measure(name: string, options: SimOptions): Row {
  const t0 = performance.now();
  const r = runSimulation(options);
  const wall_ms = performance.now() - t0;
  return {
    name,
    events: r.summary.events,
    wall_ms: Math.round(wall_ms),
    virtual_ms: r.summary.virtual_ms,
    events_per_s: Math.round(r.summary.events / (wall_ms / 1000)),
    virtual_per_wall: Number((r.summary.virtual_ms / wall_ms).toFixed(1)),
    messages_ok: r.summary.messages_ok,
    violations: r.summary.violations,
  };
}

const baseline = Math.round(baselineEventsPerSecond());
// Seed 42 first, in a fresh process as `make sim SEED=42` runs it (its JIT warm-up included).
const rows = [
  measure("seed 42, default options (the first simulation of the process)", simOptions(42)),
  measure("1k users, 100 groups, 10k messages, no faults", big("none")),
  measure("same, seed 1's fault mix", big("seed")),
];
const result = {
  bench: "sim",
  at: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  baseline_loop_events_per_s: baseline,
  rows: rows.map((r) => ({ ...r, ratio_to_baseline: Number((r.events_per_s / baseline).toFixed(4)) })),
};
// From the repository root (make bench-sim runs there): this file also runs bundled, from dist/.
mkdirSync(join("bench", "results"), { recursive: true });
writeFileSync(join("bench", "results", "sim.json"), `${JSON.stringify(result, null, 2)}\n`);
console.log(`baseline: bare event loop ${baseline.toLocaleString()} events/s`);
for (const r of result.rows) {
  console.log(`${r.name}: ${r.events.toLocaleString()} events in ${r.wall_ms} ms = ${r.events_per_s.toLocaleString()} events/s (${r.ratio_to_baseline}x baseline), virtual/wall ${r.virtual_per_wall}x, ${r.messages_ok} ok, ${r.violations} violations`);
}

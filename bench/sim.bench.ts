/**
 * How fast the simulator runs: events per wall second on one core, and virtual time per wall
 * time, for the workload (1,000 users, 100 groups, 10,000 messages), fault-free and
 * with a seed's fault mix. The baseline, measured in the same process and run, is the bare
 * event loop scheduling and running no-op events: the ratio says how much of the loop's
 * own speed the simulated world keeps, which is comparable across noisy machines.
 *
 * Run: make bench-sim (writes bench/results/sim.json and prints a table).
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { EventLoop } from "../sim/event-loop.js";
import { runSimulation } from "../sim/run.js";
import { simOptions } from "../sim/options.js";

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

function measure(name: string, faults: "none" | "seed"): Row {
  const options = simOptions(1, {
    users: 1_000,
    groups: 100,
    group_size_max: 20,
    messages: 10_000,
    fault_ms: 60_000,
    only_faults: faults === "none" ? new Set() : null,
  });
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
const rows = [measure("1k users, 100 groups, 10k messages, no faults", "none"), measure("same, seed 1's fault mix", "seed")];
const result = {
  bench: "sim",
  at: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  baseline_loop_events_per_s: baseline,
  rows: rows.map((r) => ({ ...r, ratio_to_baseline: Number((r.events_per_s / baseline).toFixed(4)) })),
};
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(new URL("./results/sim.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
console.log(`baseline: bare event loop ${baseline.toLocaleString()} events/s`);
for (const r of result.rows) {
  console.log(`${r.name}: ${r.events.toLocaleString()} events in ${r.wall_ms} ms = ${r.events_per_s.toLocaleString()} events/s (${r.ratio_to_baseline}x baseline), virtual/wall ${r.virtual_per_wall}x, ${r.messages_ok} ok, ${r.violations} violations`);
}

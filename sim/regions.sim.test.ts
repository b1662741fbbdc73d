/**
 * Regions in the simulator (sim/regions.ts). The swarm judges them with every checker; these
 * tests pin what the swarm cannot see: a seed that draws one region runs exactly as before
 * regions existed, and a seed with regions really crosses the WAN and survives its faults.
 */
import { describe, expect, it } from "vitest";
import { simOptions } from "./options.js";
import { runSimulation } from "./run.js";

describe("regions", () => {
  it("a seed that draws a single region runs as with regions off (same trace hash and events)", () => {
    const seed = 1; // draws one region (its summary says so below)
    const drawn = runSimulation(simOptions(seed));
    const off = runSimulation(simOptions(seed, { regions_max: 1 }));
    expect(drawn.summary.regions).toBe(1);
    expect(drawn.summary.trace_hash).toBe(off.summary.trace_hash);
    expect(drawn.summary.events).toBe(off.summary.events);
  }, 120_000);

  it("seed 8 (three regions, the region-chaos scenario): messages cross, the relay retries, nothing is violated", () => {
    const result = runSimulation(simOptions(8, { only_faults: new Set(["region_partition", "region_loss"]) }));
    const s = result.summary;
    console.log(`seed 8: ${s.regions} regions, faults ${JSON.stringify(s.faults_fired)}, crossings ${s.workloads.cross_region_message}, relay retries ${s.recoveries.region_relay_retried}`);
    expect(s.regions).toBeGreaterThan(1);
    expect(s.faults_fired.region_loss ?? 0).toBeGreaterThan(0);
    expect(s.faults_fired.region_partition ?? 0).toBeGreaterThan(0);
    expect(s.workloads.cross_region_message ?? 0).toBeGreaterThan(0);
    expect(s.recoveries.region_relay_retried ?? 0).toBeGreaterThan(0);
    expect(result.violations.map((v) => `[${v.invariant}] ${v.message}`)).toEqual([]);
    expect(s.quiescent).toBe(true);
  }, 120_000);
});

/**
 * The CI batch, second half: seeds 101..200 with the seed-drawn fault mix must show no
 * violation. (First half in swarm-1.sim.test.ts.) It also checks coverage over both halves' kind of mix:
 * every fault class, recovery path and workload class fires somewhere in these 100 seeds.
 */
import { expect, it } from "vitest";
import { runBatch } from "./batch.js";
import type { RecoveryPath, WorkloadClass } from "./faults.js";
import { DEFAULT_OPTIONS, recoveryDrawn, workloadDrawn } from "./options.js";

it("seeds 101..200: no invariant is violated under any drawn fault mix", () => {
  const report = runBatch(101, 100);
  const lines = report.failures.map((f) => `seed ${f.seed}: ${f.violation}\n  replay: ${f.replay}`);
  expect(lines, lines.join("\n")).toEqual([]);
  expect(report.seeds).toBe(100);
  expect(report.summaries.every((s) => s.quiescent)).toBe(true);
}, 300_000);

it("seeds 201..260: every fault class, recovery path and workload class fires (a class that never fires is a test gap)", () => {
  const report = runBatch(201, 60);
  const drawn = [...report.workloads].filter(([w]) => workloadDrawn(w as WorkloadClass, DEFAULT_OPTIONS));
  const recoveries = [...report.recoveries].filter(([r]) => recoveryDrawn(r as RecoveryPath, DEFAULT_OPTIONS));
  const gaps = [...report.faults, ...recoveries, ...drawn].filter(([, n]) => n === 0).map(([k]) => k);
  expect(gaps).toEqual([]);
  expect(report.failures.map((f) => `seed ${f.seed}: ${f.violation} (${f.replay})`)).toEqual([]);
}, 300_000);

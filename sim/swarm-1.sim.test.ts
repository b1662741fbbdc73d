/**
 * The CI batch, first half: seeds 1..100 with the seed-drawn fault mix must show no
 * violation. (Second half in swarm-2.sim.test.ts, so the two run on both cores.)
 */
import { expect, it } from "vitest";
import { runBatch } from "./batch.js";

it("seeds 1..100: no invariant is violated under any drawn fault mix", () => {
  const report = runBatch(1, 100);
  const lines = report.failures.map((f) => `seed ${f.seed}: ${f.violation}\n  replay: ${f.replay}`);
  expect(lines, lines.join("\n")).toEqual([]);
  expect(report.seeds).toBe(100);
  expect(report.summaries.every((s) => s.quiescent)).toBe(true);
}, 300_000);

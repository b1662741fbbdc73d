/** Every seed run twice must give the same trace hash; different seeds, different runs. (Seed 8 draws three regions.) */
import { describe, expect, it } from "vitest";
import { runSimulation } from "./run.js";
import { simOptions } from "./options.js";

describe("determinism", () => {
  for (const seed of [42, 7, 1234, 8]) {
    it(`seed ${seed} replays to the same trace hash and history`, () => {
      const a = runSimulation(simOptions(seed));
      const b = runSimulation(simOptions(seed));
      expect(b.summary.trace_hash).toBe(a.summary.trace_hash);
      expect(b.summary.events).toBe(a.summary.events);
      expect(JSON.stringify(b.history.displays)).toBe(JSON.stringify(a.history.displays));
    });
  }

  it("different seeds make different runs", () => {
    const hashes = new Set([1, 2, 3, 4, 5].map((seed) => runSimulation(simOptions(seed)).summary.trace_hash));
    expect(hashes.size).toBe(5);
  });
});

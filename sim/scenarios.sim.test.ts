/** Every named scenario holds every invariant over a few seeds, and names only real fault classes. */
import { describe, expect, it } from "vitest";
import { FAULT_CLASSES } from "./faults.js";
import { runBatch } from "./batch.js";
import { SCENARIOS, SCENARIO_NAMES } from "../chaos/scenarios.js";

describe("chaos scenarios in the simulator", () => {
  it("name only known fault classes and together cover every class", () => {
    const named = new Set<string>(SCENARIO_NAMES.flatMap((n) => [...SCENARIOS[n].faults]));
    for (const f of named) expect(FAULT_CLASSES as readonly string[]).toContain(f);
    expect([...FAULT_CLASSES].filter((f) => !named.has(f))).toEqual([]);
  });

  for (const name of SCENARIO_NAMES) {
    it(`${name}: seeds 1..8 violate nothing`, () => {
      const report = runBatch(1, 8, { only_faults: new Set(SCENARIOS[name].faults) });
      expect(report.failures.map((f) => `seed ${f.seed}: ${f.violation} (${f.replay} --scenario ${name})`)).toEqual([]);
      const fired = [...report.faults].filter(([, n]) => n > 0).map(([k]) => k);
      expect(fired.length).toBeGreaterThan(0);
    }, 120_000);
  }
});

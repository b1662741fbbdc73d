/**
 * Model-based: fast-check draws the run itself (seed, size, which fault classes), so a
 * failure shrinks to the smallest run that still breaks an invariant, and replays from
 * fast-check's seed and path (printed on failure) or from the simulator's seed and flags.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import { FAULT_CLASSES, type FaultClass } from "./faults.js";
import { runSimulation } from "./run.js";
import { simOptions } from "./options.js";
import { replayCommand } from "./batch.js";

const seed = Number(process.env.FC_SEED ?? 20261128);

it(`no drawn run violates an invariant (fast-check seed ${seed})`, () => {
  const run = fc.record({
    sim_seed: fc.integer({ min: 1, max: 1_000_000 }),
    users: fc.integer({ min: 2, max: 10 }),
    groups: fc.integer({ min: 0, max: 3 }),
    messages: fc.integer({ min: 1, max: 60 }),
    gateways: fc.integer({ min: 1, max: 3 }),
    routers: fc.integer({ min: 1, max: 3 }),
    faults: fc.subarray([...FAULT_CLASSES] as FaultClass[]),
  });
  fc.assert(
    fc.property(run, (r) => {
      const options = simOptions(r.sim_seed, {
        users: r.users,
        groups: r.groups,
        messages: r.messages,
        gateways: r.gateways,
        routers: r.routers,
        fault_ms: 15_000,
        only_faults: new Set(r.faults),
      });
      const result = runSimulation(options);
      const v = result.violations[0];
      expect(v === undefined ? null : `${v.message} (replay: ${replayCommand(options)})`).toBeNull();
    }),
    { seed, numRuns: 40 },
  );
}, 300_000);

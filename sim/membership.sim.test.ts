/**
 * Group joins and leaves (the workload class behind --membership). Drawing them found two
 * bugs in the router's handling of membership "as of when the message was ordered":
 *
 * 1. Fixed: a device whose user left the group acked a message ordered while it was a
 *    member; the router ignored the ack of a non-member, so the entry stayed pending and was
 *    replayed forever (no quiescence). A device may always clear its own entry now.
 * 2. Not fixed yet: a send record handled again (redelivered after a crash or rebalance)
 *    keeps its message ID (the durable claim) but is fanned out to the group's members as
 *    they are now. A user who joined since gets a message ordered before they joined
 *    (invariant 9), and one who left since may miss one ordered while they were in
 *    (invariant 1). The fix needs the audience fixed at ordering time (kept with the claim),
 *    a change to the claim's shape in every message store; until then --membership is off
 *    by default and this test records the bug (it.fails turns red once it is fixed).
 */
import { expect, it } from "vitest";
import { runSimulation } from "./run.js";
import { simOptions } from "./options.js";

it("a member who left clears its own pending entries: the run quiesces (seed 10, --membership)", () => {
  const r = runSimulation(simOptions(10, { membership: true }));
  expect(r.world.membership_changes.some((c) => c.kind === "leave")).toBe(true);
  expect(r.violations.map((v) => `[${v.invariant}] ${v.message}`)).toEqual([]);
}, 120_000);

it.fails("known bug: a redelivered group send reaches a user who joined after it was ordered (seed 16, --membership)", () => {
  // One region: the run in which the bug was recorded (seed 16 draws two regions otherwise,
  // and that run happens not to redeliver a group send across a join).
  const r = runSimulation(simOptions(16, { membership: true, regions_max: 1 }));
  expect(r.world.membership_changes.some((c) => c.kind === "join")).toBe(true);
  expect(r.violations.map((v) => `[${v.invariant}] ${v.message}`)).toEqual([]);
}, 120_000);

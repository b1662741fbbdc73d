/**
 * Group joins and leaves (workload classes group_join and group_leave, drawn by default;
 * --no-membership turns them off). Drawing them found two bugs in the router's handling of
 * membership "as of when the message was ordered", both fixed:
 *
 * 1. A device whose user left the group acked a message ordered while it was a member; the
 *    router ignored the ack of a non-member, so the entry stayed pending and was replayed
 *    forever (no quiescence). A device may always clear its own entry now.
 * 2. A send record handled again (redelivered after a crash or rebalance) kept its message ID
 *    (the durable claim) but was fanned out to the group's members as they were then: a user
 *    who joined since got a message ordered before they joined (invariant 9), and one who
 *    left since could miss one ordered while they were in (invariant 1). The claim now
 *    records the audience at ordering time, and a redelivery fans out to it
 *    (core/router/step.ts, rule 5); core/router/planted.ts keeps the old behaviour as the
 *    variant redeliver_to_current_members, which sim/variants.sim.test.ts must catch.
 */
import { expect, it } from "vitest";
import { runSimulation } from "./run.js";
import { simOptions } from "./options.js";

it("a member who left clears its own pending entries: the run quiesces (seed 10)", () => {
  const r = runSimulation(simOptions(10));
  expect(r.world.membership_changes.some((c) => c.kind === "leave")).toBe(true);
  expect(r.violations.map((v) => `[${v.invariant}] ${v.message}`)).toEqual([]);
}, 120_000);

it("a redelivered group send reaches the members it was ordered for, not a user who joined since (seed 16)", () => {
  const r = runSimulation(simOptions(16, { regions_max: 1 })); // one region: the run the bug was found in
  expect(r.world.membership_changes.some((c) => c.kind === "join")).toBe(true);
  expect(r.summary.recoveries["router_send_redelivered"] ?? 0).toBeGreaterThan(0);
  expect(r.violations.map((v) => `[${v.invariant}] ${v.message}`)).toEqual([]);
}, 120_000);

it("the same seed with the audience ignored on redelivery (the old behaviour) leaks to the user who joined: invariant 9 (seed 16)", () => {
  const r = runSimulation(simOptions(16, { router_variant: "redeliver_to_current_members", regions_max: 1 }));
  expect(r.violations.map((v) => v.invariant)).toContain(9);
}, 120_000);

/**
 * Planted bugs for the cross-region relay (see core/gateway/planted.ts for the idea): each
 * wraps the correct step and bends one decision; sim/variants.sim.test.ts proves the swarm
 * catches it, failing the invariant named here.
 */
import { relayStep, type RelayEffect, type RelayInput, type RelayLane, type RelayPolicy } from "./relay.js";

export const RELAY_VARIANTS = ["correct", "relay_gives_up"] as const;
export type RelayVariant = (typeof RELAY_VARIANTS)[number];

/** How many failed attempts the broken relay allows a batch before it drops it. */
export const GIVE_UP_AFTER_ATTEMPTS = 3;

type Step = (lane: RelayLane, input: RelayInput, policy: RelayPolicy) => RelayEffect[];

export function relayStepFor(variant: RelayVariant): Step {
  return variant === "relay_gives_up" ? relayGivesUp : relayStep;
}

/**
 * The relay gives a batch a retry budget and, when a region partition or a region loss
 * outlasts it, trims the batch from the outbox as if it had been sent ("the link is
 * bounded"). The remote members' pending entries are never written: a message answered
 * `sent` never reaches them. Breaks invariant 1 (zero loss), and 10.
 */
function relayGivesUp(lane: RelayLane, input: RelayInput, policy: RelayPolicy): RelayEffect[] {
  const batch = lane.batch;
  const out = relayStep(lane, input, policy);
  if (input.type === "sent" && !input.ok && batch !== null && lane.attempt >= GIVE_UP_AFTER_ATTEMPTS) {
    lane.phase = "trimming";
    return [{ type: "observed", what: "relay_dropped" }, { type: "trim", through: batch[batch.length - 1]!.seq }];
  }
  return out;
}

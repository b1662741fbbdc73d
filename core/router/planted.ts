/**
 * Planted bugs for the router core, kept out of step.ts (see core/gateway/planted.ts for the
 * idea). Each wraps the correct step and bends one decision; the simulator's variant tests
 * prove the swarm catches each, failing the invariant its comment names.
 */
import type { Job, RouterState, RouterVariant } from "./state.js";
import { routerStep } from "./step.js";
import type { RouterEffect, RouterInput } from "./types.js";

export const PLANTED_ROUTER_VARIANTS = ["commit_past_in_flight", "redeliver_to_current_members"] as const satisfies readonly RouterVariant[];

type Step = (state: RouterState, input: RouterInput) => RouterEffect[];

/** The step function a router runs: the correct one, or a planted bug around it. */
export function routerStepFor(variant: RouterVariant): Step {
  switch (variant) {
    case "commit_past_in_flight":
      return commitPastInFlight;
    case "redeliver_to_current_members":
      return redeliverToCurrentMembers;
    default:
      return routerStep;
  }
}

/**
 * The claim's recorded audience is ignored in favour of the group as loaded now (the old
 * behaviour), so a redelivered group send goes to today's members: a user who joined after
 * the message was ordered gets it. Breaks invariant 9 (and 1: one who left since misses it).
 */
function redeliverToCurrentMembers(state: RouterState, input: RouterInput): RouterEffect[] {
  if (input.type !== "effect_completed" || input.result.type !== "claim") return routerStep(state, input);
  const winner = input.result.winner;
  let job: Job | undefined;
  for (const j of state.jobs.values()) if (j.id === input.job) job = j;
  // The loaded group stands in for the recorded audience of an accepted send.
  if (job === undefined || winner.members === null || !winner.members.includes(winner.sender_id)) return routerStep(state, input);
  return routerStep(state, { ...input, result: { ...input.result, winner: { ...winner, members: job.send.members } } });
}

/**
 * A partition's committable offset follows the furthest finished record, not the first
 * unfinished one: a crash or rebalance while an earlier record is still in flight skips it
 * for good. Breaks invariant 1 (a send answered `sent` whose message was never persisted or
 * delivered), or 10.
 */
function commitPastInFlight(state: RouterState, input: RouterInput): RouterEffect[] {
  const out = routerStep(state, input);
  for (const p of state.partitions.values()) {
    let top = -1;
    for (const offset of p.finished) top = Math.max(top, offset);
    if (top >= 0 && (p.committable === null || p.committable < top + 1)) p.committable = top + 1;
  }
  return out;
}

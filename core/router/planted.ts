/**
 * Planted bugs for the router core, kept out of step.ts (see core/gateway/planted.ts for the
 * idea). Each wraps the correct step and bends one decision; the simulator's variant tests
 * prove the swarm catches each, failing the invariant its comment names.
 */
import type { RouterState, RouterVariant } from "./state.js";
import { routerStep } from "./step.js";
import type { RouterEffect, RouterInput } from "./types.js";

export const PLANTED_ROUTER_VARIANTS = ["commit_past_in_flight"] as const satisfies readonly RouterVariant[];

type Step = (state: RouterState, input: RouterInput) => RouterEffect[];

/** The step function a router runs: the correct one, or a planted bug around it. */
export function routerStepFor(variant: RouterVariant): Step {
  return variant === "commit_past_in_flight" ? commitPastInFlight : routerStep;
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

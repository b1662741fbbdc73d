/**
 * Planted bugs for the router core, kept out of step.ts (see core/gateway/planted.ts for the
 * idea). Each wraps the correct step and bends one decision; the simulator's variant tests
 * prove the swarm catches each, failing the invariant its comment names.
 */
import { nextMessageId } from "./ordering.js";
import type { RouterState, RouterVariant } from "./state.js";
import { routerStep } from "./step.js";
import type { RouterEffect, RouterInput } from "./types.js";

export const PLANTED_ROUTER_VARIANTS = ["commit_past_in_flight", "chain_ignores_checkpoint", "id_from_router_clock", "redeliver_to_current_members", "receipt_ignores_store"] as const satisfies readonly RouterVariant[];

type Step = (state: RouterState, input: RouterInput) => RouterEffect[];

/** The step function a router runs: the correct one, or a planted bug around it. */
export function routerStepFor(variant: RouterVariant): Step {
  switch (variant) {
    case "commit_past_in_flight":
      return commitPastInFlight;
    case "chain_ignores_checkpoint":
      return chainIgnoresCheckpoint;
    case "id_from_router_clock":
      return idFromRouterClock;
    case "redeliver_to_current_members":
      return redeliverToCurrentMembers;
    case "receipt_ignores_store":
      return receiptIgnoresStore;
    default:
      return routerStep;
  }
}

/**
 * A partition's ID chain starts afresh in every generation, as if no checkpoint had been
 * written: a router that starts mid-partition numbers records from its gateway clocks alone,
 * below IDs the partition already gave out when those clocks lag. Breaks invariant 3 (a
 * message ordered after another gets a lower ID) or 2 (one ID for two messages).
 */
function chainIgnoresCheckpoint(state: RouterState, input: RouterInput): RouterEffect[] {
  if (input.type === "effect_completed" && input.result.type === "load_chain") {
    return routerStep(state, { ...input, result: { type: "load_chain", checkpoint: null } });
  }
  return routerStep(state, input);
}

/**
 * A new message's ID comes from the router's own generator (its clock and machine number),
 * as before the chain, but without the Paxos claim that used to make the first one win: a
 * record handled by two routers at once (a stale one and the new owner) becomes two
 * messages with two IDs. Breaks invariant 5 (one send, two message IDs) or 2.
 */
function idFromRouterClock(state: RouterState, input: RouterInput): RouterEffect[] {
  if (input.type === "effect_completed" && input.result.type === "prepare_send") {
    for (const job of state.jobs.values()) {
      if (job.id !== input.job) continue;
      const floor = input.result.floor?.last_message_id ?? job.send.floor;
      const next = nextMessageId(state.generator, input.now_ms, floor);
      state.generator = next.generator;
      job.send.candidate = next.message_id;
    }
  }
  return routerStep(state, input);
}

/**
 * A send's dedup record's audience is ignored in favour of the group as loaded now (the
 * behaviour before the records kept it), so a redelivered group send goes to today's
 * members: a user who joined after the message was ordered gets it. Breaks invariant 9
 * (and 1: one who left since misses it). Recorded refusals (the sender not in the audience)
 * are left alone: only accepted sends are bent.
 */
function redeliverToCurrentMembers(state: RouterState, input: RouterInput): RouterEffect[] {
  if (input.type !== "effect_completed" || input.result.type !== "prepare_send") return routerStep(state, input);
  const { found, members } = input.result;
  if (found === null || found.members === null || !found.members.includes(found.sender_id) || members === null) return routerStep(state, input);
  return routerStep(state, { ...input, result: { ...input.result, found: { ...found, members } } });
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

/**
 * The router tells the sender an ack's own status, not what the receipt store answered: a
 * late `delivered` ack handled after `read` is forwarded as `delivered`. The gateway's guard
 * drops it on a connection that already carried `read`, and the client's guard drops it on
 * the screen, so the swarm cannot see this layer's bug; core/router/guards.test.ts tests the
 * guard where it stands. Breaks invariant 6 (receipts move forward) wherever the layers below
 * do not guard.
 */
function receiptIgnoresStore(state: RouterState, input: RouterInput): RouterEffect[] {
  if (input.type !== "effect_completed" || input.result.type !== "apply_ack" || input.result.receipt_status === null) return routerStep(state, input);
  for (const job of state.jobs.values()) {
    if (job.id !== input.job || job.record.record.kind !== "ack") continue;
    return routerStep(state, { ...input, result: { type: "apply_ack", receipt_status: job.record.record.status } });
  }
  return routerStep(state, input);
}

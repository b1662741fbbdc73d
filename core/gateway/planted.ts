/**
 * Planted bugs for the gateway core: one-line mistakes a careful engineer could make, kept
 * out of step.ts. Each wraps the correct step and bends one decision, so the production path
 * carries no trace of them. The simulator's variant tests (sim/variants.sim.test.ts) prove
 * that the swarm catches each one, and that it fails the invariant the bug breaks.
 *
 * Rules of this file: a variant changes only what its comment says; it reads and writes the
 * same plain state the step owns; nothing outside the simulator's tests turns one on.
 */
import { apiError } from "../protocol/errors.js";
import type { GatewayState, GatewayVariant } from "./state.js";
import { gatewayStep, takeFrameToken } from "./step.js";
import type { GatewayEffect, GatewayInput } from "./types.js";

/** The variants implemented here (the others live where they always did, in step.ts). */
export const PLANTED_GATEWAY_VARIANTS = [
  "resync_skips_emitted",
  "ack_given_up_as_durable",
  "acks_rate_limited",
  "scan_stops_at_full_page",
  "frames_limited_by_read_time",
  "subscription_cap_at_max",
  "receipt_goes_back",
] as const satisfies readonly GatewayVariant[];

type Step = (state: GatewayState, input: GatewayInput) => GatewayEffect[];

/** The step function a connection runs: the correct one, or a planted bug around it. */
export function gatewayStepFor(variant: GatewayVariant | undefined): Step {
  switch (variant) {
    case "resync_skips_emitted":
      return resyncSkipsEmitted;
    case "ack_given_up_as_durable":
      return ackGivenUpAsDurable;
    case "acks_rate_limited":
      return acksRateLimited;
    case "scan_stops_at_full_page":
      return scanStopsAtFullPage;
    case "frames_limited_by_read_time":
      return framesLimitedByReadTime;
    case "subscription_cap_at_max":
      return subscriptionCapAtMax;
    case "receipt_goes_back":
      return receiptGoesBack;
    default:
      return gatewayStep;
  }
}

/**
 * A resync does not send again what this connection already emitted (as if "already
 * emitted" meant "already acked"): an ack lost on a live socket leaves its entry pending
 * for good. Breaks invariant 7 (and 10: no quiescence).
 */
function resyncSkipsEmitted(state: GatewayState, input: GatewayInput): GatewayEffect[] {
  if (input.type !== "pending_page_read" || state.phase !== "live" || state.scan?.read_id !== input.read_id || input.entries === null) {
    return gatewayStep(state, input);
  }
  const again = new Set<string>();
  for (const e of input.entries) {
    const stream = state.streams.get(e.message.conversation_id);
    if (stream !== undefined && stream.reading_id === null && stream.last_emitted !== null && e.message.message_id <= stream.last_emitted) {
      again.add(e.message.message_id);
    }
  }
  return gatewayStep(state, input).filter((e) => !(e.type === "send_frame" && e.frame.event === "new_message" && again.has(e.frame.data.message_id)));
}

/**
 * When an ack's append has failed as often as the retry budget allows, the gateway records
 * it as durable anyway ("it was tried"), so neither a resync nor the client's next ack puts
 * it in the log: an outage longer than the budget leaves the entry pending for good.
 * Breaks invariant 7 (and 10).
 */
function ackGivenUpAsDurable(state: GatewayState, input: GatewayInput): GatewayEffect[] {
  if (input.type !== "append_completed" || input.ok || input.record.kind !== "ack") return gatewayStep(state, input);
  const { message_id, status } = input.record;
  const out = gatewayStep(state, input);
  if (!state.ack_retries.has(message_id)) state.acks_durable.set(message_id, status);
  return out;
}

/**
 * Acks take a token from the frame bucket like any other frame. A replay longer than the
 * bucket then has its acks refused, a run of refusals closes the connection, and the
 * reconnect replays the same backlog again. Breaks invariant 10 (and 7).
 */
function acksRateLimited(state: GatewayState, input: GatewayInput): GatewayEffect[] {
  if (input.type !== "frame_received" || input.frame.event !== "ack" || state.phase === "closed") return gatewayStep(state, input);
  if (takeFrameToken(state, input.now_ms)) return gatewayStep(state, input);
  // frame_rejected takes no token it does not have and counts the run, as step.ts does.
  return gatewayStep(state, { type: "frame_rejected", error: apiError("RATE_LIMITED", "Too many frames; slow down and retry."), now_ms: input.now_ms });
}

/**
 * The frame bucket refills up to the moment a frame is read, capped there (what the gateway
 * did before issue 14's fix): a burst the node read late leaves the bucket empty when the
 * frames the client sent meanwhile, within its allowance by its own clock, are read right
 * behind it, and they are refused. Breaks invariant 11 (an honest client is refused for its
 * rate).
 */
function framesLimitedByReadTime(state: GatewayState, input: GatewayInput): GatewayEffect[] {
  const charged = (input.type === "frame_received" && input.frame.event !== "ack") || input.type === "frame_rejected";
  if (charged && state.phase !== "closed" && input.now_ms > state.tokens_at_ms) {
    const { connectionFramesBurst: burst, connectionFramesPerSecond: rate } = state.config.limits;
    state.tokens = Math.min(burst, state.tokens + ((input.now_ms - state.tokens_at_ms) * rate) / 1000);
    state.tokens_at_ms = input.now_ms;
  }
  return gatewayStep(state, input);
}

/**
 * The full pending scan treats a full page as the last one: the rest of a backlog waits for
 * the next resync, a page per resync interval. Shows only with a backlog of several pages.
 * Breaks invariant 10 (delivery within the bound).
 */
function scanStopsAtFullPage(state: GatewayState, input: GatewayInput): GatewayEffect[] {
  if (input.type !== "pending_page_read" || state.scan?.read_id !== input.read_id || input.entries === null) return gatewayStep(state, input);
  const full = input.entries.length >= state.config.limits.pendingPageEntriesMax;
  const out = gatewayStep(state, input);
  if (!full || state.scan === null) return out;
  const next = state.scan.read_id;
  state.deferred_reads = state.deferred_reads.filter((r) => r.read_id !== next);
  if (state.deferred_reads.length === 0) state.deferred_since_ms = null;
  state.scan = null;
  state.last_scan_ms = input.now_ms;
  if (state.phase === "syncing") state.phase = "live";
  return out.filter((e) => !(e.type === "read_pending_page" && e.read_id === next));
}

/**
 * The presence subscription cap is off by one: a subscription that would bring the
 * connection's watch list to exactly the cap is refused as TOO_MANY_SUBSCRIPTIONS (`>=` for
 * `>`), so a client watching as many users as API.md allows never hears of the last ones.
 * Shows only at the boundary. Breaks invariant 8 (a watch never answered).
 */
function subscriptionCapAtMax(state: GatewayState, input: GatewayInput): GatewayEffect[] {
  if (input.type !== "frame_received" || input.frame.event !== "subscribe_presence") return gatewayStep(state, input);
  const fresh = new Set(input.frame.data.user_ids.filter((u) => !state.subscriptions.has(u)));
  if (fresh.size === 0 || state.subscriptions.size + fresh.size !== state.config.limits.presenceSubscriptionsPerConnectionMax) return gatewayStep(state, input);
  // One more (never a real user) makes the correct step refuse it, charging the frame as usual.
  return gatewayStep(state, { ...input, frame: { event: "subscribe_presence", data: { user_ids: [...input.frame.data.user_ids, "planted-one-more"] } } });
}

/**
 * The connection forgets which status it last forwarded per (message, recipient), so a late
 * `delivered` that a router delivers after `read` goes out behind it. The client's own guard
 * hides it from the screen; the frames on the connection go back. Breaks invariant 6 (judged
 * on the wire, history.wire_receipts).
 */
function receiptGoesBack(state: GatewayState, input: GatewayInput): GatewayEffect[] {
  if (input.type === "delivery_received" && input.delivery.kind === "receipt" && input.delivery.receipt.user_id !== undefined) {
    state.receipts_forwarded.delete(`${input.delivery.receipt.message_id}/${input.delivery.receipt.user_id}`);
  }
  return gatewayStep(state, input);
}

/**
 * The machine-number lease: one Snowflake issuer's claim on a machine number, held in a shared
 * store (Redis: a key with a TTL) and renewed while the issuer lives. Rules of this file:
 * - Pure: the host feeds in the outcome of each store call and the time; the core answers with
 *   the next call and the timer it wants. One store call is in flight at a time, so a reply
 *   always belongs to the call the state names.
 * - Time is the host's monotonic clock in ms (never the wall clock: a wall clock that steps
 *   back would stretch a lease). A `now_ms` smaller than one seen before is raised to it.
 * - The store counts a lease's TTL from when it applies the call; we count it from before we
 *   sent it (`sent_ms`), minus `margin_ms` for clocks that run at different rates. So the
 *   holder stops believing in a lease before the store lets anyone else take the number:
 *   `valid_until_ms = sent_ms + ttl_ms - margin_ms`. `leaseMachine` is the only question an
 *   issuer asks, at the moment it issues: no live lease, no ID.
 * - A lease that lapsed locally is not taken back by force: renewing it succeeds only while
 *   the store still holds it under our token (then nobody else held it meanwhile), and
 *   acquiring succeeds only for a number whose key has gone. A restarted issuer has a new
 *   token, so it waits out its own earlier lease like anyone else's.
 * - set_timer replaces any earlier request: the host holds at most one wake-up, and none once
 *   it has reported it as timer_fired.
 */
import { assert, unreachable } from "../result.js";

export type LeaseConfig = {
  /** The lease's TTL in the store. */
  readonly ttl_ms: number;
  /** Renew this long after the previous renewal was sent (well under the TTL). */
  readonly renew_every_ms: number;
  /** Subtracted from the TTL on our side: bounds the drift between our clock and the store's. */
  readonly margin_ms: number;
  /** Pause before retrying a store call that failed or timed out. */
  readonly retry_ms: number;
};

/** The least margin that covers clocks whose rates differ by up to `drift_ratio_max` (e.g. 1e-3). */
export function leaseMarginMin(ttl_ms: number, drift_ratio_max: number): number {
  // Our (ttl - margin) on a clock running fast by d is (ttl - margin)/(1 - d) of real time; the
  // store's ttl on a clock running slow by d is ttl/(1 + d). Margin >= ttl * 2d/(1 + d), plus the
  // store's 1 ms expiry granularity.
  return Math.ceil((ttl_ms * 2 * drift_ratio_max) / (1 + drift_ratio_max)) + 1;
}

/** Checks a configuration; the message names the field (for the node's config validation). */
export function leaseConfigProblem(c: LeaseConfig): string | null {
  if (!(Number.isInteger(c.ttl_ms) && c.ttl_ms >= 100)) return `ttl_ms must be an integer >= 100, got ${c.ttl_ms}`;
  if (!(Number.isInteger(c.margin_ms) && c.margin_ms >= 1)) return `margin_ms must be an integer >= 1, got ${c.margin_ms}`;
  if (!(Number.isInteger(c.renew_every_ms) && c.renew_every_ms >= 1)) return `renew_every_ms must be an integer >= 1, got ${c.renew_every_ms}`;
  if (c.renew_every_ms + c.margin_ms >= c.ttl_ms) return `renew_every_ms (${c.renew_every_ms}) + margin_ms (${c.margin_ms}) must be below ttl_ms (${c.ttl_ms})`;
  if (!(Number.isInteger(c.retry_ms) && c.retry_ms >= 1)) return `retry_ms must be an integer >= 1, got ${c.retry_ms}`;
  return null;
}

export type LeasePhase = "idle" | "acquiring" | "waiting" | "held" | "stopped";

export type LeaseState = {
  readonly config: LeaseConfig;
  phase: LeasePhase;
  /** The number the store gave us (held), or null. */
  machine: number | null;
  /** While held: we may issue IDs while now < valid_until_ms. */
  valid_until_ms: number;
  /** Whether the issuer was told it holds `machine` (and not told since that it lost it). */
  announced: boolean;
  /** The call in flight and when it was sent; one at a time. */
  in_flight: "acquire" | "renew" | null;
  sent_ms: number;
  /** When the last successful acquire or renew was sent: the next renewal is due renew_every_ms later. */
  renewed_from_ms: number;
  /** The wake-up the host holds, if any. */
  timer_at_ms: number | null;
  /** When the store said a number frees up (waiting), or a failed call may be retried. */
  retry_at_ms: number;
  now_ms_max: number;
};

export type LeaseInput =
  | { readonly type: "started"; readonly now_ms: number }
  | { readonly type: "acquired"; readonly machine: number; readonly now_ms: number }
  /** No number is free; the soonest one frees up in `wait_ms` (the store's own estimate). */
  | { readonly type: "acquire_refused"; readonly wait_ms: number; readonly now_ms: number }
  | { readonly type: "renewed"; readonly now_ms: number }
  /** The store no longer holds the lease under our token. */
  | { readonly type: "renew_refused"; readonly now_ms: number }
  /** The call in flight failed or timed out (it may have applied). */
  | { readonly type: "call_failed"; readonly reason: string; readonly now_ms: number }
  | { readonly type: "timer_fired"; readonly now_ms: number }
  | { readonly type: "stop_requested"; readonly now_ms: number };

export type LeaseEffect =
  | { readonly type: "acquire"; readonly ttl_ms: number }
  | { readonly type: "renew"; readonly machine: number; readonly ttl_ms: number }
  | { readonly type: "release"; readonly machine: number }
  | { readonly type: "set_timer"; readonly at_ms: number }
  | { readonly type: "gained"; readonly machine: number }
  | { readonly type: "lost"; readonly machine: number; readonly reason: string };

export function leaseInit(config: LeaseConfig): LeaseState {
  const problem = leaseConfigProblem(config);
  assert(problem === null, `leaseInit: ${problem}`);
  return { config, phase: "idle", machine: null, valid_until_ms: 0, announced: false, in_flight: null, sent_ms: 0, renewed_from_ms: 0, timer_at_ms: null, retry_at_ms: 0, now_ms_max: Number.NEGATIVE_INFINITY };
}

/** The machine number an issuer may use at `now_ms`, or null: the only gate on issuing an ID. */
export function leaseMachine(state: LeaseState, now_ms: number): number | null {
  const now = Math.max(now_ms, state.now_ms_max);
  return state.phase === "held" && state.machine !== null && now < state.valid_until_ms ? state.machine : null;
}

/** Applies one input; updates `state` in place and returns the effects, in order. */
export function leaseStep(state: LeaseState, input: LeaseInput): LeaseEffect[] {
  const now = Math.max(input.now_ms, state.now_ms_max);
  state.now_ms_max = now;
  const effects: LeaseEffect[] = [];
  const c = state.config;
  switch (input.type) {
    case "started":
      assert(state.phase === "idle", `lease: started twice (phase ${state.phase})`);
      state.phase = "acquiring";
      break;
    case "acquired": {
      assert(state.in_flight === "acquire", `lease: acquired without an acquire in flight`);
      state.in_flight = null;
      if (state.phase === "stopped") {
        effects.push({ type: "release", machine: input.machine });
        return effects;
      }
      state.phase = "held";
      state.machine = input.machine;
      state.valid_until_ms = state.sent_ms + c.ttl_ms - c.margin_ms;
      state.renewed_from_ms = state.sent_ms;
      break;
    }
    case "acquire_refused":
      assert(state.in_flight === "acquire", `lease: acquire_refused without an acquire in flight`);
      state.in_flight = null;
      if (state.phase === "stopped") return effects;
      state.phase = "waiting";
      // The store's estimate, and never sooner than a retry pause: a storm of acquires helps nobody.
      state.retry_at_ms = now + Math.max(Math.ceil(input.wait_ms), c.retry_ms);
      break;
    case "renewed":
      assert(state.in_flight === "renew", `lease: renewed without a renew in flight`);
      state.in_flight = null;
      if (state.phase === "stopped") {
        if (state.machine !== null) effects.push({ type: "release", machine: state.machine });
        return effects;
      }
      state.valid_until_ms = Math.max(state.valid_until_ms, state.sent_ms + c.ttl_ms - c.margin_ms);
      state.renewed_from_ms = Math.max(state.renewed_from_ms, state.sent_ms);
      break;
    case "renew_refused": {
      assert(state.in_flight === "renew", `lease: renew_refused without a renew in flight`);
      state.in_flight = null;
      const machine = state.machine;
      assert(machine !== null, "lease: renew_refused without a machine");
      loseLease(state, effects, "the store no longer holds the lease under our token");
      state.machine = null;
      if (state.phase !== "stopped") state.phase = "acquiring";
      break;
    }
    case "call_failed": {
      assert(state.in_flight !== null, `lease: call_failed without a call in flight`);
      const failed = state.in_flight;
      state.in_flight = null;
      if (state.phase === "stopped") {
        // A renew that may have applied leaves the key to expire by itself; nothing to release safely.
        return effects;
      }
      state.retry_at_ms = now + c.retry_ms;
      if (failed === "acquire") state.phase = "waiting";
      break;
    }
    case "timer_fired":
      // The host holds no timer once it fired, early or not (a real timer may fire a
      // millisecond before its monotonic-clock deadline): asked for again below if still due.
      state.timer_at_ms = null;
      break;
    case "stop_requested": {
      if (state.phase === "stopped") return effects;
      const machine = state.machine;
      loseLease(state, effects, "stopping");
      state.phase = "stopped";
      // Released only when no call is in flight; otherwise when its reply comes (above).
      if (machine !== null && state.in_flight === null) effects.push({ type: "release", machine });
      state.timer_at_ms = null;
      return effects;
    }
    default:
      unreachable(input);
  }
  advance(state, now, effects);
  return effects;
}

/** After any input: announce or withdraw the lease, start the call that is due, ask for the next wake-up. */
function advance(state: LeaseState, now: number, effects: LeaseEffect[]): void {
  const c = state.config;
  if (state.phase === "held" && state.machine !== null) {
    const valid = now < state.valid_until_ms;
    if (valid && !state.announced) {
      state.announced = true;
      effects.push({ type: "gained", machine: state.machine });
    } else if (!valid && state.announced) {
      loseLease(state, effects, "the lease lapsed before a renewal got through");
    }
  }
  if (state.in_flight === null) {
    if (state.phase === "acquiring" || (state.phase === "waiting" && now >= state.retry_at_ms)) {
      state.phase = "acquiring";
      state.in_flight = "acquire";
      state.sent_ms = now;
      effects.push({ type: "acquire", ttl_ms: c.ttl_ms });
    } else if (state.phase === "held" && state.machine !== null && now >= Math.max(state.renewed_from_ms + c.renew_every_ms, state.retry_at_ms)) {
      state.in_flight = "renew";
      state.sent_ms = now;
      effects.push({ type: "renew", machine: state.machine, ttl_ms: c.ttl_ms });
    }
  }
  const wake = nextWake(state);
  if (wake !== null && wake !== state.timer_at_ms) {
    state.timer_at_ms = wake;
    effects.push({ type: "set_timer", at_ms: wake });
  }
}

/** The earliest moment something changes by time alone: a renewal due, a lapse, a retry. */
function nextWake(state: LeaseState): number | null {
  const c = state.config;
  const times: number[] = [];
  if (state.phase === "held") {
    if (state.announced) times.push(state.valid_until_ms);
    if (state.in_flight === null) times.push(Math.max(state.renewed_from_ms + c.renew_every_ms, state.retry_at_ms));
  }
  if (state.phase === "waiting" && state.in_flight === null) times.push(state.retry_at_ms);
  return times.length === 0 ? null : Math.min(...times);
}

function loseLease(state: LeaseState, effects: LeaseEffect[], reason: string): void {
  if (state.announced && state.machine !== null) effects.push({ type: "lost", machine: state.machine, reason });
  state.announced = false;
}

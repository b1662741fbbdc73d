/**
 * Fault settings are plain data drawn from the seed (swarm testing: each seed turns each
 * fault class on or off and picks its intensity), so a run is replayable and two seeds
 * explore different mixes. Every class of INVARIANTS.md's fault list is here; `FAULT_CLASSES`
 * names them for the coverage table, and `Coverage` counts what actually fired.
 */
import type { Rng } from "./random.js";

// The fault vocabulary lives with the scenarios (chaos/ sits below sim/: sim reads chaos's
// scenarios, never the other way round); the simulator injects every class it names.
import { FAULT_CLASSES, REGION_FAULT_CLASSES, type FaultClass } from "../chaos/fault-classes.js";
export { FAULT_CLASSES, REGION_FAULT_CLASSES, type FaultClass };

/** Recovery paths worth seeing fire at least once in a batch of seeds. */
export const RECOVERY_PATHS = [
  "router_send_retry_answered",
  "router_send_redelivered",
  /** A redelivered group send went to the audience its claim recorded (the group had changed). */
  "router_send_audience_restored",
  "router_commit_fenced",
  "router_effect_retried",
  "gateway_conversation_read",
  "gateway_resync",
  "client_send_retried",
  "client_duplicate_dropped",
  "client_reconnected",
  "pending_replayed_on_connect",
  /** A relay batch to another region failed (cut, lost region, timeout) and was sent again. */
  "region_relay_retried",
] as const;

export type RecoveryPath = (typeof RECOVERY_PATHS)[number];

/**
 * Workload classes a seed may draw besides the base traffic; like fault classes, one that
 * never fires in a batch is a gap in the coverage table.
 */
export const WORKLOAD_CLASSES = [
  /** Several pages of pending messages in one quiet direct conversation, replayed on reconnect. */
  "backlog_several_pages",
  /** The gateway refused frames for their rate and the connection stayed open. */
  "frames_rate_limited_open",
  /**
   * A client sent the contract's whole burst and kept on just under the rate while its
   * gateway was paused: the burst was read late, what followed right behind it (issue 14).
   */
  "contract_burst_read_late",
  /** An image or file message: the gateway checks its media_id was uploaded by the sender. */
  "media_message",
  /** A media message naming a media_id the sender never uploaded (refused, a definite fail). */
  "media_not_owned",
  /** A push notification to a user none of whose devices was connected. */
  "push_to_offline_user",
  /** A user joins a group during the run (membership window opens). */
  "group_join",
  /** A member leaves a group during the run (membership window closes). */
  "group_leave",
  /** A message ordered in one region reached another region's pending store through the relay. */
  "cross_region_message",
  /** A connection subscribed to presence with exactly as many users as it may watch. */
  "presence_at_cap",
  /** A subscription one past the cap, refused with TOO_MANY_SUBSCRIPTIONS (the watch list stays). */
  "presence_over_cap_refused",
] as const;

export type WorkloadClass = (typeof WORKLOAD_CLASSES)[number];

export type FaultConfig = {
  readonly enabled: ReadonlySet<FaultClass>;
  /** Probability per opportunity, or events per virtual minute for scheduled faults. */
  readonly rate: Readonly<Record<FaultClass, number>>;
};

/** Draws which faults are on and how hard, from the seed's fault stream. */
export function drawFaults(rng: Rng, only: ReadonlySet<FaultClass> | null, off: ReadonlySet<FaultClass>): FaultConfig {
  const enabled = new Set<FaultClass>();
  const rate = {} as Record<FaultClass, number>;
  for (const fault of FAULT_CLASSES) {
    const on = only !== null ? only.has(fault) : rng.chance(0.5);
    // Draw the intensity whether or not the class is on, so toggling one class does not
    // shift the intensities drawn for the others.
    rate[fault] = 0.25 + rng.float() * 0.75;
    if (on && !off.has(fault)) enabled.add(fault);
  }
  return { enabled, rate };
}

export class Coverage {
  readonly faults = new Map<FaultClass, number>();
  readonly recoveries = new Map<RecoveryPath, number>();
  readonly workloads = new Map<WorkloadClass, number>();

  fault(name: FaultClass): void {
    this.faults.set(name, (this.faults.get(name) ?? 0) + 1);
  }

  recovery(name: RecoveryPath): void {
    this.recoveries.set(name, (this.recoveries.get(name) ?? 0) + 1);
  }

  workload(name: WorkloadClass): void {
    this.workloads.set(name, (this.workloads.get(name) ?? 0) + 1);
  }

  toJSON(): { faults: Record<string, number>; recoveries: Record<string, number>; workloads: Record<string, number> } {
    return { faults: Object.fromEntries(this.faults), recoveries: Object.fromEntries(this.recoveries), workloads: Object.fromEntries(this.workloads) };
  }
}

/**
 * What one simulated run is made of: the workload's size, the cluster's shape, which fault
 * classes may fire, and which (deliberately broken) variants of the cores run. Defaults are
 * small enough for hundreds of seeds in CI and large enough to exercise every path.
 */
import type { GatewayVariant } from "../core/gateway/index.js";
import type { RouterVariant } from "../core/router/index.js";
import type { RelayVariant } from "../core/region/index.js";
import type { FaultClass, RecoveryPath, WorkloadClass } from "./faults.js";

export type SimOptions = {
  readonly seed: number;
  readonly users: number;
  /** Devices per user: 1..devices_max, drawn per user. */
  readonly devices_max: number;
  readonly groups: number;
  /** Members per group: 3..group_size_max (capped by users and by 500). */
  readonly group_size_max: number;
  /** Sends invoked during the fault phase. */
  readonly messages: number;
  readonly gateways: number;
  readonly routers: number;
  readonly partitions: number;
  /** Virtual length of the fault phase. */
  readonly fault_ms: number;
  /** After healing, quiescence must come within this much virtual time. */
  readonly heal_deadline_ms: number;
  /** Only these fault classes (null: the seed draws them). */
  readonly only_faults: ReadonlySet<FaultClass> | null;
  readonly off_faults: ReadonlySet<FaultClass>;
  readonly router_variant: RouterVariant;
  readonly gateway_variant: GatewayVariant;
  readonly relay_variant: RelayVariant;
  /**
   * At most this many regions (sim/regions.ts); a seed draws one region half the time, else
   * 2..regions_max. 1 turns regions off (the region fault classes then never fire).
   */
  readonly regions_max: number;
  /** Whether the seed may draw a backlog of several pages in one conversation (workload class). */
  readonly backlog: boolean;
  /**
   * Whether the seed may draw group joins and leaves (workload classes group_join and
   * group_leave; --no-membership turns them off). They found two router bugs, both fixed
   * (sim/membership.sim.test.ts).
   */
  readonly membership: boolean;
  /** Whether the seed may draw a contract burst read late (workload class contract_burst_read_late). */
  readonly contract_burst: boolean;
  /**
   * Whether the seed may draw watch lists at the presence subscription cap and one past it
   * (workload classes presence_at_cap and presence_over_cap_refused; --no-presence-cap).
   */
  readonly presence_cap: boolean;
  /** A hard bound on events, so a livelock ends the run instead of the process. */
  readonly events_max: number;
  /** Keep a readable trace of notable events (costs memory; on when reproducing). */
  readonly trace: boolean;
};

export const DEFAULT_OPTIONS: Omit<SimOptions, "seed"> = {
  users: 12,
  devices_max: 2,
  groups: 3,
  group_size_max: 8,
  messages: 120,
  gateways: 3,
  routers: 2,
  partitions: 4,
  fault_ms: 30_000,
  heal_deadline_ms: 240_000,
  only_faults: null,
  off_faults: new Set(),
  router_variant: "correct",
  gateway_variant: "correct",
  relay_variant: "correct",
  regions_max: 3,
  backlog: true,
  membership: true,
  contract_burst: true,
  presence_cap: true,
  events_max: 5_000_000,
  trace: false,
};

export function simOptions(seed: number, patch: Partial<SimOptions> = {}): SimOptions {
  return { ...DEFAULT_OPTIONS, ...patch, seed };
}

/** Whether `options` lets recovery path `r` fire at all (one that cannot is no gap). */
export function recoveryDrawn(r: RecoveryPath, options: Pick<SimOptions, "membership">): boolean {
  return r === "router_send_audience_restored" ? options.membership : true;
}

/** Whether `options` lets a seed draw workload class `w` (a class it cannot draw is no gap). */
export function workloadDrawn(w: WorkloadClass, options: Pick<SimOptions, "backlog" | "membership" | "regions_max" | "contract_burst" | "presence_cap">): boolean {
  if (w === "contract_burst_read_late") return options.contract_burst;
  if (w === "presence_at_cap" || w === "presence_over_cap_refused") return options.presence_cap;
  if (w === "cross_region_message") return options.regions_max > 1;
  if (w === "backlog_several_pages") return options.backlog;
  if (w === "group_join" || w === "group_leave") return options.membership;
  return true;
}

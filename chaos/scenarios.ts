/**
 * Fault scenarios as data: named mixes of INVARIANTS.md's fault classes, for runs that
 * should stress one area on purpose instead of the swarm's random mix. The simulator runs
 * them (`make sim SEED=n ARGS="--scenario router-failover"`); real-cluster chaos runs will
 * read the same names (the classes marked (real) in INVARIANTS.md).
 */
import type { FaultClass } from "../sim/faults.js";

export type Scenario = {
  readonly summary: string;
  readonly faults: readonly FaultClass[];
  /** Classes a real-cluster chaos run can inject for this scenario (process kills, restarts). */
  readonly real: readonly string[];
};

export const SCENARIOS = {
  "gateway-churn": {
    summary: "gateways crash, pause, drain and write slowly while clients storm back",
    faults: ["gateway_crash", "gateway_pause", "gateway_drain", "gateway_slow_socket", "client_reconnect_storm", "client_retry"],
    real: ["kill -9 a gateway", "SIGTERM (drain) a gateway"],
  },
  "router-failover": {
    summary: "routers crash at every step, rebalance mid-batch and keep working after their partitions moved",
    faults: ["router_crash", "router_stale", "log_rebalance", "log_redelivery", "log_commit_lost"],
    real: ["kill -9 a router", "restart the broker"],
  },
  "storage-flaky": {
    summary: "log and stores time out after applying, fail, slow down and go away for a while",
    faults: ["log_append_timeout_applied", "log_append_fail", "log_outage", "store_timeout_applied", "store_fail", "store_slow", "store_outage"],
    real: ["pause the store process (SIGSTOP/SIGCONT)", "restart the broker"],
  },
  "session-loss": {
    summary: "the session store loses every key, expires them early or late, reads stale, goes down",
    faults: ["session_key_loss", "session_ttl_skew", "session_stale_read", "session_outage"],
    real: ["restart Redis without persistence"],
  },
  "network-chaos": {
    summary: "delay, loss, duplication, reordering, and symmetric and one-way partitions that heal",
    faults: ["net_delay", "net_loss", "net_duplication", "net_reordering", "net_partition", "net_partition_one_way"],
    real: [],
  },
  "clock-chaos": {
    summary: "nodes' clocks skewed, drifting and stepping back and forth",
    faults: ["clock_skew", "clock_drift", "clock_step"],
    real: [],
  },
  "flaky-clients": {
    summary: "clients go offline mid-send, retry with the same client_msg_id, ack late or twice",
    faults: ["client_offline_mid_send", "client_retry", "client_ack_late_or_twice", "client_reconnect_storm"],
    real: [],
  },
} as const satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof SCENARIOS;
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];

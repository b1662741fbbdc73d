/**
 * Fault scenarios as data: named mixes of INVARIANTS.md's fault classes, for runs that
 * should stress one area on purpose instead of the swarm's random mix. The simulator runs
 * them (`make sim SEED=n ARGS="--scenario router-failover"`), and the real-cluster chaos run
 * (`make chaos-cluster SCENARIO=router-failover`, chaos/cluster.ts) injects each scenario's
 * `real` faults into the processes of `make cluster-up`.
 */
import type { FaultClass } from "./fault-classes.js";

/** What a chaos run can do to a real cluster on this machine (processes, not packets). */
export const REAL_FAULTS = {
  gateway_kill: "kill -9 a gateway, restart it a few seconds later",
  gateway_drain: "SIGTERM a gateway (it drains: clients are told to reconnect), restart it",
  router_kill: "kill -9 a router, restart it a few seconds later",
  broker_restart: "stop the Kafka broker and start it again",
  store_pause: "SIGSTOP Cassandra for a few seconds, then SIGCONT",
  redis_restart: "restart Redis (no persistence: every session and presence key is lost)",
} as const;
export type RealFault = keyof typeof REAL_FAULTS;

export type Scenario = {
  readonly summary: string;
  readonly faults: readonly FaultClass[];
  /** What a real-cluster chaos run injects for this scenario; empty when only the simulator can. */
  readonly real: readonly RealFault[];
};

export const SCENARIOS = {
  "gateway-churn": {
    summary: "gateways crash, pause, drain and write slowly while clients storm back",
    faults: ["gateway_crash", "gateway_pause", "gateway_drain", "gateway_slow_socket", "client_reconnect_storm", "client_retry"],
    real: ["gateway_kill", "gateway_drain"],
  },
  "router-failover": {
    summary: "routers crash at every step, rebalance mid-batch and keep working after their partitions moved",
    faults: ["router_crash", "router_stale", "log_rebalance", "log_redelivery", "log_commit_lost"],
    real: ["router_kill", "broker_restart"],
  },
  "storage-flaky": {
    summary: "log and stores time out after applying, fail, slow down and go away for a while",
    faults: ["log_append_timeout_applied", "log_append_fail", "log_outage", "log_outage_long", "store_timeout_applied", "store_fail", "store_slow", "store_outage"],
    real: ["store_pause", "broker_restart"],
  },
  "session-loss": {
    summary: "the session store loses every key, expires them early or late, reads stale, goes down",
    faults: ["session_key_loss", "session_ttl_skew", "session_stale_read", "session_outage"],
    real: ["redis_restart"],
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
    summary: "clients go offline mid-send, retry with the same client_msg_id, ack late or twice, lose frames on a live socket, burst past their rate",
    faults: ["client_offline_mid_send", "client_retry", "client_ack_late_or_twice", "client_reconnect_storm", "socket_frame_lost", "client_frame_burst"],
    real: [],
  },
  "region-chaos": {
    summary: "the WAN between regions is cut or slowed for seconds, and a whole region is lost and comes back",
    faults: ["region_partition", "region_loss"],
    real: [],
  },
} as const satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof SCENARIOS;
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];

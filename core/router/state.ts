/**
 * The router core's state: plain data. See step.ts for the rules and ordering.ts for who
 * orders a conversation.
 */
import type { Limits } from "../limits.js";
import { snowflakeInit, type SnowflakeState } from "../ids/snowflake.js";
import type { ConsumedRecord, DedupClaim, SessionEntry, StoredMessage } from "../model.js";
import { floorCacheInit, type FloorCache } from "./ordering.js";
import type { RouterCall } from "./types.js";

/**
 * Deliberately broken variants, for proving that the simulator catches what they break.
 * Never on outside the simulator's own tests.
 */
export type RouterVariant =
  | "correct"
  /** Commits the offset as soon as records are polled, before anything is durable. */
  | "commit_before_persist"
  /** Orders by the gateway's clock (the record's accepted_at_ms) instead of the log. */
  | "order_by_gateway_clock"
  /** Removes a device's pending entry as soon as a live delivery is handed to its gateway. */
  | "delete_pending_on_delivery"
  /** Deduplicates only in the short-lived session cache, not the durable claim. */
  | "dedup_cache_only";

export type RouterConfig = {
  readonly router_id: string;
  /** Snowflake machine number, leased per process incarnation by the host. */
  readonly machine: number;
  readonly limits: Limits;
  /** Characters of content a push notification may carry; 0 sends no preview. */
  readonly push_preview_chars: number;
  readonly variant: RouterVariant;
};

export type SendJobData = {
  floor: string | null;
  /** The ID this router proposed in its claim (the winner may be another's). */
  candidate: string | null;
  members: readonly string[];
  devices: Readonly<Record<string, readonly string[]>>;
  winner: DedupClaim | null;
  message: StoredMessage | null;
};

export type AckJobData = { message: StoredMessage | null };

export type Job = {
  readonly id: number;
  readonly record: ConsumedRecord;
  /** The call in flight (re-sent on failure); null between steps. */
  call: RouterCall | null;
  attempt: number;
  /** When a failed call is due again; null when none waits. */
  retry_at_ms: number | null;
  send: SendJobData;
  ack: AckJobData;
};

export type RouterState = {
  readonly config: RouterConfig;
  generator: SnowflakeState;
  readonly floors: FloorCache;
  /**
   * Polled records not yet handled, per conversation in log order. Only a conversation's
   * own records need their log order (its messages, then the acks of them), so each
   * conversation has at most one job at a time and conversations proceed concurrently, up
   * to `routerJobsMax`.
   */
  queues: Map<string, ConsumedRecord[]>;
  /** Per partition, the next offset to commit once the batch is done, and its generation. */
  done: Map<number, { offset: number; generation: number }>;
  /** The job in progress per conversation. */
  jobs: Map<string, Job>;
  next_job: number;
  /** A failed commit waiting for its backoff to pass. */
  commit_retry_at_ms: number | null;
  polling: boolean;
  committing: boolean;
  commit_attempt: number;
};

export function routerInit(config: RouterConfig): RouterState {
  return {
    config,
    generator: snowflakeInit(config.machine),
    floors: floorCacheInit(config.limits.routerFloorCacheConversationsMax),
    queues: new Map(),
    done: new Map(),
    jobs: new Map(),
    next_job: 1,
    commit_retry_at_ms: null,
    polling: false,
    committing: false,
    commit_attempt: 0,
  };
}

export type { SessionEntry };

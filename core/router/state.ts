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
  | "dedup_cache_only"
  /**
   * The host's concurrent persist moves on once the message row is written, without waiting
   * for the pending entries and inboxes (their failures go unnoticed).
   */
  | "persist_without_waiting"
  /**
   * Planted around the step (planted.ts): a redelivered send goes to the group as it is now,
   * not to the audience its claim recorded at ordering time.
   */
  | "redeliver_to_current_members"
  /** Planted around the step (planted.ts): commits past a record still in flight. */
  | "commit_past_in_flight"
  /**
   * Planted around the step (planted.ts): a partition's ID chain starts afresh in every
   * generation instead of where the committed offset's checkpoint says it stood.
   */
  | "chain_ignores_checkpoint"
  /** Planted around the step (planted.ts): a new message's ID from the router's own clock and machine. */
  | "id_from_router_clock"
  /**
   * Planted around the step (planted.ts): an ack's status is told to the sender whatever the
   * receipt store answered (a late `delivered` after `read` goes out). Masked downstream by the
   * gateway's and the client's guards; core/router/guards.test.ts tests this guard alone.
   */
  | "receipt_ignores_store";

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
  /** The record's ID from its partition's chain (a redelivery adopts the stored claim's). */
  candidate: string | null;
  /** Who gets the message: the conversation's members as loaded, or as its claim recorded them. */
  members: readonly string[];
  devices: Readonly<Record<string, readonly string[]>>;
  winner: DedupClaim | null;
  message: StoredMessage | null;
};

export type AckJobData = { message: StoredMessage | null };

export type Job = {
  readonly id: number;
  /** Its key in `jobs`: the conversation for a send, the conversation and job ID for an ack. */
  readonly key: string;
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
  /** Only the broken variant "order_by_gateway_clock" and the planted ones draw from it. */
  generator: SnowflakeState;
  /**
   * Each send record's ID from its partition's chain (ordering.ts), from when it is queued
   * until its job begins.
   */
  readonly ids: Map<ConsumedRecord, string>;
  /** Chain loads in flight or waiting for a retry, by job number (negative: not a record's job). */
  readonly chain_loads: Map<number, ChainLoad>;
  readonly floors: FloorCache;
  /**
   * Polled records not yet handled, per conversation in log order. Only a conversation's
   * own records need their log order (its messages, then the acks of them). A record starts
   * only after every record before it in its conversation has started; a send starts only
   * when nothing of its conversation is running, and an ack only when no send of its
   * conversation is running. Acks of one conversation run side by side: their effects are
   * idempotent and commute (a pending removal, receipts that merge by max, read marks that
   * only rise). A 500-member group's message brings 499 acks; handled one at a time they
   * took seconds and held the group's next message behind them. Conversations proceed
   * concurrently; all jobs together stay within `routerJobsMax`.
   */
  queues: Map<string, ConsumedRecord[]>;
  /**
   * Records in `queues` and held in `partitions` for their chain, all conversations together
   * (polling pauses while it is at the batch size).
   */
  queued: number;
  /**
   * The newest consumer-group generation seen in a polled record (or one past a fenced
   * commit's). Only its records are handled; older ones are dropped, since a rebalance
   * restarts fetching at the committed offsets, so they come again or go to the new owner.
   */
  generation: number;
  /** Per partition of `generation`: what was polled and not yet finished, and what may be committed. */
  partitions: Map<number, PartitionProgress>;
  /** The jobs in progress (see `Job.key`). */
  jobs: Map<string, Job>;
  /** Per conversation: its jobs in progress, and whether one of them is a send. */
  running: Map<string, { jobs: number; send: boolean }>;
  next_job: number;
  /** The offsets the commit in flight carries (they become `committed` when it succeeds). */
  commit_in_flight: readonly { partition: number; offset: number }[];
  commit_generation: number;
  /** When the last commit was sent, and the timer waiting for the next one to be due. */
  last_commit_ms: number;
  commit_due_at_ms: number | null;
  /** A failed commit waiting for its backoff to pass. */
  commit_retry_at_ms: number | null;
  polling: boolean;
  committing: boolean;
  commit_attempt: number;
};

export type ChainLoad = {
  readonly partition: number;
  readonly generation: number;
  readonly call: RouterCall & { type: "load_chain" };
  attempt: number;
  retry_at_ms: number | null;
};

export type PartitionProgress = {
  /**
   * The partition's ID chain: the Snowflake state after its last numbered send (null until
   * the checkpoint at the generation's first offset is loaded). Records wait in `held` until
   * then, so every send is numbered in offset order from where the chain stood.
   */
  chain: SnowflakeState | null;
  /** The offset the chain was loaded at, and whether its load is in flight. */
  chain_offset: number;
  chain_loading: boolean;
  held: ConsumedRecord[];
  /** The chain after each numbered send not yet passed by `committable`, ascending offsets. */
  chain_after: { offset: number; state: SnowflakeState }[];
  /** The chain as it stood just before `committable`: what a commit's checkpoint carries. */
  chain_at_committable: SnowflakeState | null;
  /** Offsets polled and not yet finished, ascending (a partition is polled in offset order). */
  outstanding: number[];
  /** Offsets finished out of order, waiting for the ones before them. */
  finished: Set<number>;
  /** Next offset to read once everything before it is done (the commit), null before any. */
  committable: number | null;
  /** The last committable offset a commit succeeded with, or is carrying now. */
  committed: number | null;
};

export function routerInit(config: RouterConfig): RouterState {
  return {
    config,
    generator: snowflakeInit(config.machine),
    ids: new Map(),
    chain_loads: new Map(),
    floors: floorCacheInit(config.limits.routerFloorCacheConversationsMax),
    queues: new Map(),
    queued: 0,
    generation: -1,
    partitions: new Map(),
    jobs: new Map(),
    running: new Map(),
    next_job: 1,
    commit_in_flight: [],
    commit_generation: -1,
    last_commit_ms: Number.NEGATIVE_INFINITY,
    commit_due_at_ms: null,
    commit_retry_at_ms: null,
    polling: false,
    committing: false,
    commit_attempt: 0,
  };
}

export type { SessionEntry };

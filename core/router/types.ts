/**
 * The router core's inputs and effects. The router consumes the log in order, turns each
 * send into a numbered, stored, pending-recorded and delivered message, turns each ack into
 * a pending removal and a receipt, and commits its offsets only when all of that is durable.
 * Effects that must complete carry the `job` they belong to; the host reports each one's
 * outcome as `effect_completed` (with the result) or `effect_failed` (then the core retries
 * the same, idempotent effect after a backoff). `deliver` and `push` are fire-and-forget:
 * the pending store, not the delivery, is what guarantees a message arrives.
 */
import type { ReceiptStatus } from "../protocol/frames.js";
import type {
  ConsumedRecord,
  DedupClaim,
  Delivery,
  IdCheckpoint,
  InboxEntry,
  LogPosition,
  PendingEntry,
  PushNotification,
  SendClaim,
  SessionEntry,
  StoredMessage,
} from "../model.js";

export type AudienceQuery =
  | { readonly kind: "direct"; readonly user_ids: readonly [string, string] }
  | { readonly kind: "group"; readonly group_id: string }
  /**
   * The devices of a fixed list of users: a redelivered group message's audience as its
   * claim recorded it, when the group has changed since (members answers the list itself).
   */
  | { readonly kind: "users"; readonly user_ids: readonly string[] };

/** Effects whose outcome the router waits for. */
export type RouterCall =
  /** The greatest message ID of the conversation below `below` (the send's own ID). */
  | { readonly type: "load_floor"; readonly conversation_id: string; readonly below: string }
  | { readonly type: "load_audience"; readonly query: AudienceQuery }
  /** Where the partition's ID chain stood before `offset` (the first offset of a generation). */
  | { readonly type: "load_chain"; readonly partition: number; readonly offset: number }
  /**
   * A send's reads, made together (they are independent): its audience, the durable dedup
   * record of (sender, conversation, client_msg_id), and, when `floor_below` is set, the
   * conversation's greatest message ID below it (the send's own ID).
   */
  | {
      readonly type: "prepare_send";
      readonly query: AudienceQuery;
      readonly sender_id: string;
      readonly conversation_id: string;
      readonly client_msg_id: string;
      readonly floor_below: string | null;
    }
  /** Only the broken variant "dedup_cache_only": a claim held in the expiring cache. */
  | { readonly type: "claim_cached"; readonly claim: DedupClaim; readonly ttl_ms: number }
  | {
      readonly type: "persist";
      readonly message: StoredMessage;
      readonly pending: readonly PendingEntry[];
      readonly inbox: readonly InboxEntry[];
      /** The send's dedup record, written with the message (null when it exists already). */
      readonly claim: SendClaim | null;
    }
  /**
   * A group send refused because its sender is not a member: its dedup record, whose members
   * leave the sender out, written before the refusal is answered (step.ts, rule 5).
   */
  | { readonly type: "record_refusal"; readonly claim: SendClaim }
  | { readonly type: "locate"; readonly user_ids: readonly string[] }
  | { readonly type: "load_message"; readonly conversation_id: string; readonly message_id: string }
  | { readonly type: "check_member"; readonly group_id: string; readonly user_id: string }
  | {
      readonly type: "apply_ack";
      readonly pending_remove: { readonly user_id: string; readonly device_id: string; readonly conversation_id: string; readonly message_id: string };
      readonly receipt: { readonly message_id: string; readonly user_id: string; readonly status: ReceiptStatus } | null;
      readonly mark_read: { readonly user_id: string; readonly conversation_id: string; readonly message_id: string } | null;
    }
  /**
   * Commits `offsets`; the host first writes `checkpoints` (where each partition's ID chain
   * stands at its new offset), then commits, so a committed offset always has its checkpoint.
   */
  | { readonly type: "commit"; readonly offsets: readonly LogPosition[]; readonly generation: number; readonly checkpoints: readonly IdCheckpoint[] };

export type RouterCallResult =
  | { readonly type: "load_floor"; readonly last_message_id: string | null }
  /** members null: the group (or, for a direct chat, one of the two users) does not exist. */
  | { readonly type: "load_audience"; readonly members: readonly string[] | null; readonly devices: Readonly<Record<string, readonly string[]>> }
  /** Only the broken variant "dedup_cache_only" (its expiring cache's answer). */
  | { readonly type: "claim"; readonly winner: DedupClaim }
  | {
      readonly type: "prepare_send";
      /** As load_audience's. */
      readonly members: readonly string[] | null;
      readonly devices: Readonly<Record<string, readonly string[]>>;
      readonly found: SendClaim | null;
      /** Null when the call asked for no floor. */
      readonly floor: { readonly last_message_id: string | null } | null;
    }
  | { readonly type: "load_chain"; readonly checkpoint: IdCheckpoint | null }
  | { readonly type: "persist" }
  | { readonly type: "record_refusal" }
  | { readonly type: "locate"; readonly sessions: Readonly<Record<string, readonly SessionEntry[]>> }
  | { readonly type: "load_message"; readonly message: StoredMessage | null }
  | { readonly type: "check_member"; readonly is_member: boolean }
  | { readonly type: "apply_ack"; readonly receipt_status: ReceiptStatus | null }
  | { readonly type: "commit"; readonly outcome: "ok" | "fenced" };

export type RouterInput =
  | { readonly type: "records_polled"; readonly records: readonly ConsumedRecord[]; readonly now_ms: number }
  | { readonly type: "effect_completed"; readonly job: number; readonly result: RouterCallResult; readonly now_ms: number }
  | { readonly type: "effect_failed"; readonly job: number; readonly reason: string; readonly now_ms: number }
  | { readonly type: "timer_fired"; readonly now_ms: number };

export type RouterEffect =
  | { readonly type: "call"; readonly job: number; readonly call: RouterCall }
  | { readonly type: "deliver"; readonly gateway_id: string; readonly deliveries: readonly Delivery[] }
  | { readonly type: "push"; readonly user_id: string; readonly notification: PushNotification }
  /** Only the broken variant "delete_pending_on_delivery" emits this. */
  | {
      readonly type: "remove_pending";
      readonly entries: readonly { user_id: string; device_id: string; conversation_id: string; message_id: string }[];
    }
  /** Ask the host for the next records (it answers with records_polled, possibly empty). */
  | { readonly type: "poll"; readonly max_records: number }
  | { readonly type: "set_timer"; readonly at_ms: number }
  /** A fact worth counting (metrics, simulator coverage); changes nothing. */
  | { readonly type: "observed"; readonly what: RouterObservation };

export type RouterObservation =
  | "send_ordered"
  | "send_retry_answered"
  | "send_redelivered"
  /** A redelivered group send fanned out to the audience its claim recorded, not the group as it is now. */
  | "send_audience_restored"
  | "send_rejected"
  /** A group sender outside the group: the refusal was written as the send's dedup record. */
  | "send_refusal_recorded"
  | "ack_applied"
  | "ack_ignored"
  | "commit_fenced"
  | "effect_retried"
  | "floor_loaded"
  | "chain_loaded"
  | "send_id_reused";

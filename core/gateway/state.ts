/**
 * The gateway core's state: plain data, printable and comparable. See step.ts for the rules.
 */
import type { Limits } from "../limits.js";
import type { PendingCursor } from "../ports/pending-store.js";
import type { GatewayEffect } from "./types.js";
import type { AckRecord, Delivery } from "../model.js";
import type { ReceiptStatus } from "../protocol/frames.js";
import { snowflakeInit, type SnowflakeState } from "../ids/snowflake.js";
import { LazyMap, LazySet } from "../lazy-map.js";

export type MessageDelivery = Extract<Delivery, { kind: "message" }>;


/** What this connection knows of one conversation's stream of messages. */
export type ConversationStream = {
  /** The greatest message ID emitted on this connection in order; null until one is. */
  last_emitted: string | null;
  /** The read of this conversation's pending entries in flight, if any. */
  reading_id: number | null;
  /** Deliveries held back while a read is in flight; `covered` ones arrived before it began. */
  held: { delivery: MessageDelivery; covered: boolean }[];
};

export type SendInFlight = {
  readonly client_msg_id: string;
  /**
   * "checking": an image or file send whose media the host is checking (check_media);
   * "appending": the log has not answered yet; "appended": durable, awaiting the router's `sent`.
   */
  phase: "checking" | "appending" | "appended";
  readonly since_ms: number;
  /** While "checking": the send to append once the media is found to be the sender's. */
  held?: HeldSend;
};

/** A send whose media check is out: everything the append needs. */
export type HeldSend = {
  readonly conversation_id: string;
  readonly target: { readonly kind: "direct"; readonly to: string } | { readonly kind: "group"; readonly group_id: string };
  readonly content: string;
  readonly type: "text" | "image" | "file";
};

/**
 * Deliberately broken variants, for proving that the simulator catches what they break.
 * "sent_before_append" answers `sent` with a gateway-made ID before the log has the message;
 * the others are planted around the step, in planted.ts, which says what each breaks.
 */
export type GatewayVariant =
  | "correct"
  | "sent_before_append"
  | "resync_skips_emitted"
  | "ack_given_up_as_durable"
  | "acks_rate_limited"
  | "scan_stops_at_full_page"
  | "frames_limited_by_read_time"
  | "subscription_cap_at_max"
  | "receipt_goes_back";

export type GatewayConfig = {
  readonly gateway_id: string;
  readonly connection_id: string;
  readonly user_id: string;
  readonly device_id: string;
  readonly limits: Limits;
  readonly variant?: GatewayVariant;
};

export type GatewayState = {
  readonly config: GatewayConfig;
  /**
   * opening: registering the session; syncing: reading every pending entry (live deliveries
   * are held); live: normal; closed: nothing more happens.
   */
  phase: "opening" | "syncing" | "live" | "closed";
  /** The full pending scan in flight (at connect and on resync): its read ID and cursor. */
  scan: { read_id: number; after: PendingCursor | null } | null;
  last_scan_ms: number;
  streams: Map<string, ConversationStream>;
  sends: Map<string, SendInFlight>;
  /** message_id -> conversation_id of what this connection delivered, oldest first (bounded). */
  delivered: Map<string, string>;
  /** Users this connection watches, and the status it last told the client (null: none yet). */
  subscriptions: Map<string, "online" | "offline" | null>;
  /** "message_id/user_id" -> the furthest receipt status forwarded (bounded, oldest dropped). */
  receipts_forwarded: Map<string, ReceiptStatus>;
  /** The frame bucket's content as of `tokens_at_ms` (below zero: a debt; see takeFrameToken). */
  tokens: number;
  tokens_at_ms: number;
  /** When the bucket last looked at the clock (a step back is told from it). */
  tokens_read_ms: number;
  /** Consecutive rejected frames; a run this long is abuse and closes the connection. */
  rejected_run: number;
  next_read_id: number;
  draining: boolean;
  /**
   * Acks this connection already made durable (message_id -> furthest status), bounded:
   * a repeated ack is not appended again, and a resync does not resend what is acked but
   * not yet removed by a router (under load that feedback loop would flood the log).
   */
  acks_durable: Map<string, "delivered" | "read">;
  /** Acks whose append failed, retried with backoff (message_id -> record and schedule). */
  ack_retries: Map<string, { record: AckRecord; attempts: number; at_ms: number }>;
  /**
   * `new_message` frames sent and not yet acked, oldest first (bounded by
   * deliveredIndexPerConnectionMax): replay reads further pages only while few are.
   */
  unacked: Set<string>;
  /** Page reads held back until acks come (replay pacing), and since when. */
  deferred_reads: DeferredRead[];
  deferred_since_ms: number | null;
  /** conversation_id -> when typing was last forwarded there, oldest first (bounded). */
  typing_forwarded: Map<string, number>;
  /** Only the broken variant uses it: the gateway's own ID generator. */
  fake_ids: SnowflakeState;
};

/** A read of pending entries whose effect waits for acks (see `unacked`): one of these effects. */
export type DeferredRead = Extract<GatewayEffect, { type: "read_pending_page" | "read_pending_conversation" }>;

export function gatewayInit(config: GatewayConfig, now_ms: number): GatewayState {
  return {
    config,
    phase: "opening",
    scan: null,
    last_scan_ms: now_ms,
    streams: new LazyMap(),
    sends: new LazyMap(),
    delivered: new LazyMap(),
    subscriptions: new LazyMap(),
    receipts_forwarded: new LazyMap(),
    tokens: config.limits.connectionFramesBurst,
    tokens_at_ms: now_ms,
    tokens_read_ms: now_ms,
    rejected_run: 0,
    next_read_id: 1,
    draining: false,
    acks_durable: new LazyMap(),
    ack_retries: new LazyMap(),
    unacked: new LazySet(),
    deferred_reads: [],
    deferred_since_ms: null,
    typing_forwarded: new LazyMap(),
    fake_ids: snowflakeInit(1023),
  };
}

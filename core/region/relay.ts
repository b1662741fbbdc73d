/**
 * The cross-region relay: how a message ordered in one region reaches the devices of members
 * homed in another. It crosses once, as one batch per hop, and never in the sender's path:
 *
 * - The ordering region's router does not write remote users' pending entries (or remove
 *   them on an ack) across the WAN. It appends those operations to its own region's durable
 *   outbox, one lane per destination region, as part of persisting the message (so `sent` still
 *   means durable: in the ordering region's store and outbox).
 * - This relay drains each lane in order: it reads the head of the lane, sends it to the
 *   destination region (which applies it to its pending store and delivers it to the devices
 *   connected there), and trims the lane up to the batch's last sequence number only once the
 *   destination acknowledged it. A failed or timed-out attempt is retried with a capped
 *   exponential backoff, forever: the link is bounded per attempt (a timeout), never in
 *   total, because giving up would lose a message that was answered `sent`.
 * - Retrying is safe because every operation is idempotent at the destination: a pending put
 *   is keyed by (user, device, message), and the pending store is a two-phase set, so a put
 *   relayed again after the device acked cannot bring the entry back. Trimming by sequence
 *   number (not by count) makes a late or repeated trim harmless.
 * - Order: a lane is FIFO and a router appends a conversation's operations in message order,
 *   so each destination gets a conversation's puts in message_id order, which the pending
 *   store's gap-free paging relies on (core/ports/pending-store.ts).
 *
 * The core is a plain state machine per lane, fed the outcomes of the host's calls.
 */
import type { Delivery, PendingEntry, SessionEntry } from "../model.js";
import { isoFromMs, toNewMessage } from "../model.js";

export type RelayOp =
  | { readonly kind: "put"; readonly entries: readonly PendingEntry[] }
  | { readonly kind: "remove"; readonly user_id: string; readonly device_id: string; readonly conversation_id: string; readonly message_id: string };

/** An operation as it sits in a lane of the outbox. */
export type OutboxItem = { readonly seq: number; readonly op: RelayOp };

export type RelayPolicy = {
  /** Items per batch sent to the destination. */
  readonly batch_max: number;
  /** How long an idle lane waits before it reads the outbox again. */
  readonly idle_poll_ms: number;
  readonly retry_base_ms: number;
  readonly retry_max_ms: number;
};

export const DEFAULT_RELAY_POLICY: RelayPolicy = { batch_max: 64, idle_poll_ms: 100, retry_base_ms: 100, retry_max_ms: 4_000 };

export type RelayLane = {
  readonly to: string;
  phase: "idle" | "reading" | "sending" | "trimming" | "backoff";
  batch: readonly OutboxItem[] | null;
  /** Failed attempts at sending the current batch. */
  attempt: number;
};

export type RelayInput =
  | { readonly type: "wake"; readonly now_ms: number }
  | { readonly type: "read"; readonly items: readonly OutboxItem[] | null; readonly now_ms: number }
  | { readonly type: "sent"; readonly ok: boolean; readonly now_ms: number }
  | { readonly type: "trimmed"; readonly ok: boolean; readonly now_ms: number };

export type RelayEffect =
  | { readonly type: "read_head"; readonly max: number }
  | { readonly type: "send"; readonly items: readonly OutboxItem[] }
  /** Remove every item with seq <= through (idempotent). */
  | { readonly type: "trim"; readonly through: number }
  | { readonly type: "set_timer"; readonly at_ms: number }
  | { readonly type: "observed"; readonly what: "relay_sent" | "relay_retried" | "relay_dropped" };

export function relayLaneInit(to: string): RelayLane {
  return { to, phase: "idle", batch: null, attempt: 0 };
}

/** Feeds one input to a lane; mutates the lane and returns the effects. */
export function relayStep(lane: RelayLane, input: RelayInput, policy: RelayPolicy): RelayEffect[] {
  switch (input.type) {
    case "wake":
      if (lane.phase === "idle") {
        lane.phase = "reading";
        return [{ type: "read_head", max: policy.batch_max }];
      }
      if (lane.phase === "backoff") {
        if (lane.batch === null) {
          lane.phase = "reading";
          return [{ type: "read_head", max: policy.batch_max }];
        }
        lane.phase = "sending";
        return [{ type: "send", items: lane.batch }];
      }
      return [];
    case "read":
      if (lane.phase !== "reading") return [];
      if (input.items === null) return backoff(lane, input.now_ms, policy);
      if (input.items.length === 0) {
        lane.phase = "idle";
        return [{ type: "set_timer", at_ms: input.now_ms + policy.idle_poll_ms }];
      }
      lane.batch = input.items;
      lane.attempt = 0;
      lane.phase = "sending";
      return [{ type: "send", items: input.items }];
    case "sent": {
      if (lane.phase !== "sending" || lane.batch === null) return [];
      if (!input.ok) {
        lane.attempt++;
        return [{ type: "observed", what: "relay_retried" }, ...backoff(lane, input.now_ms, policy)];
      }
      lane.phase = "trimming";
      return [{ type: "observed", what: "relay_sent" }, { type: "trim", through: lane.batch[lane.batch.length - 1]!.seq }];
    }
    case "trimmed":
      if (lane.phase !== "trimming") return [];
      // Trimmed or not, read the head again: an untrimmed batch is sent again (idempotent).
      lane.batch = null;
      lane.attempt = 0;
      if (!input.ok) return backoff(lane, input.now_ms, policy);
      lane.phase = "reading";
      return [{ type: "read_head", max: policy.batch_max }];
    default: {
      const never: never = input;
      throw new Error(`relay: unknown input ${JSON.stringify(never)}`);
    }
  }
}

export function relayRetryDelayMs(attempt: number, policy: RelayPolicy): number {
  return Math.min(policy.retry_max_ms, policy.retry_base_ms * 2 ** Math.min(attempt, 20));
}

function backoff(lane: RelayLane, now_ms: number, policy: RelayPolicy): RelayEffect[] {
  lane.phase = "backoff";
  return [{ type: "set_timer", at_ms: now_ms + relayRetryDelayMs(lane.attempt, policy) }];
}

/**
 * What the destination region hands its gateways once a relayed batch is in its pending
 * store: each put entry, to each live connection of that device (grouped by gateway, in
 * batch order). Like a router's delivery it is best effort; the pending entry is the promise.
 */
export function relayDeliveries(entries: readonly PendingEntry[], sessions: ReadonlyMap<string, readonly SessionEntry[]>): Map<string, Delivery[]> {
  const byGateway = new Map<string, Delivery[]>();
  for (const e of entries) {
    for (const s of sessions.get(e.user_id) ?? []) {
      if (s.device_id !== e.device_id) continue;
      let list = byGateway.get(s.gateway_id);
      if (list === undefined) byGateway.set(s.gateway_id, (list = []));
      list.push({ kind: "message", connection_id: s.connection_id, user_id: e.user_id, device_id: e.device_id, message: toNewMessage(e.message, isoFromMs), prev_message_id: e.message.prev_message_id });
    }
  }
  return byGateway;
}

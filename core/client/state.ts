/** The client core's state: plain data. See step.ts for the rules. */
import type { Limits } from "../limits.js";
import type { MessageType, ReceiptStatus } from "../protocol/frames.js";
import type { ClientTarget } from "./types.js";

export type OutboxItem = {
  readonly client_msg_id: string;
  readonly target: ClientTarget;
  readonly content: string;
  readonly message_type: MessageType;
  /** When the current attempt times out and the same send goes again. */
  retry_at_ms: number | null;
  attempts: number;
};

export type ConversationView = {
  /** Message IDs displayed, for dropping repeats (bounded; below `floor` everything counts as seen). */
  seen: Set<string>;
  /** The greatest displayed ID; the order floor once `seen` is trimmed. */
  last_displayed: string | null;
  /** The greatest ID that arrived as a new_message frame (order check; own sends excluded). */
  last_received: string | null;
  /** Displayed messages from others not yet acked as read, in display order. */
  unread: string[];
};

export type ClientState = {
  readonly user_id: string;
  readonly device_id: string;
  readonly limits: Limits;
  phase: "idle" | "connecting" | "connected" | "waiting";
  reconnect_attempt: number;
  reconnect_at_ms: number | null;
  heartbeat_at_ms: number | null;
  /** Unsent or unanswered sends, per FIFO lane (one lane per conversation), in order. */
  lanes: Map<string, OutboxItem[]>;
  conversations: Map<string, ConversationView>;
  /** (message_id/user_id) -> the furthest receipt status seen for our own messages. */
  receipts: Map<string, ReceiptStatus>;
};

export function clientInit(user_id: string, device_id: string, limits: Limits): ClientState {
  return {
    user_id,
    device_id,
    limits,
    phase: "idle",
    reconnect_attempt: 0,
    reconnect_at_ms: null,
    heartbeat_at_ms: null,
    lanes: new Map(),
    conversations: new Map(),
    receipts: new Map(),
  };
}

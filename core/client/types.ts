/**
 * The client core's inputs and effects: one device's side of the protocol, across all of
 * its connections. The web page, the load generator and the simulator all drive this same
 * core; each only supplies a socket, a clock, randomness and a screen.
 */
import type { ClientFrame, DeliveryReceiptData, NewMessageData, ReceiptStatus, ServerFrame } from "../protocol/frames.js";
import type { MessageType } from "../protocol/frames.js";

export type ClientTarget = { readonly kind: "direct"; readonly to: string } | { readonly kind: "group"; readonly group_id: string };

export type ClientInput =
  | {
      readonly type: "send_requested";
      readonly target: ClientTarget;
      readonly content: string;
      readonly message_type: MessageType;
      /** A fresh UUID from the host's randomness. */
      readonly client_msg_id: string;
      readonly now_ms: number;
    }
  | { readonly type: "read_requested"; readonly conversation_id: string; readonly now_ms: number }
  | { readonly type: "connected"; readonly now_ms: number }
  /** `random` is a uniform number in [0, 1) for backoff jitter. */
  | { readonly type: "connection_lost"; readonly now_ms: number; readonly random: number }
  | { readonly type: "frame_received"; readonly frame: ServerFrame; readonly now_ms: number }
  | { readonly type: "timer_fired"; readonly now_ms: number; readonly random: number }
  | { readonly type: "start"; readonly now_ms: number };

export type SendOutcome =
  | { readonly kind: "ok"; readonly message_id: string }
  | { readonly kind: "fail"; readonly code: string; readonly message: string };

export type ClientEffect =
  | { readonly type: "connect" }
  | { readonly type: "disconnect" }
  | { readonly type: "send_frame"; readonly frame: ClientFrame }
  /**
   * Show a message, each message_id once. `own`: our own send, shown when its `sent` came
   * (place it by its ID); otherwise it came as a new_message frame (append it).
   */
  | { readonly type: "display"; readonly message: NewMessageData; readonly own: boolean }
  | { readonly type: "send_settled"; readonly client_msg_id: string; readonly outcome: SendOutcome }
  | { readonly type: "receipt_changed"; readonly receipt: DeliveryReceiptData; readonly status: ReceiptStatus }
  | { readonly type: "presence_changed"; readonly user_id: string; readonly status: "online" | "offline"; readonly last_seen: string | null }
  | { readonly type: "typing_seen"; readonly from: string; readonly conversation_id: string }
  | { readonly type: "set_timer"; readonly at_ms: number }
  | { readonly type: "observed"; readonly what: ClientObservation };

export type ClientObservation =
  | "duplicate_dropped"
  | "send_retried"
  | "reconnect_scheduled"
  | "out_of_order"
  | "server_error";

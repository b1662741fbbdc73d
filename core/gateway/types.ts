/**
 * The gateway core's inputs and effects: one WebSocket connection's session, as a pure state
 * machine. Inputs are facts that happened (a frame arrived, the log acknowledged an append,
 * a read came back); effects are commands for the host (send this frame, append this record,
 * read these pending entries). The host feeds every effect's outcome back as an input.
 */
import type { ApiError } from "../protocol/errors.js";
import type { ClientFrame, ServerFrame } from "../protocol/frames.js";
import type { AckRecord, Delivery, PendingEntry, SendRecord } from "../model.js";
import type { PendingCursor } from "../ports/pending-store.js";

export type GatewayInput =
  /** The socket is open and authenticated as (user, device). */
  | { readonly type: "connection_opened"; readonly now_ms: number }
  /** The host decoded a frame; bad frames arrive as frame_rejected instead. */
  | { readonly type: "frame_received"; readonly frame: ClientFrame; readonly now_ms: number }
  | { readonly type: "frame_rejected"; readonly error: ApiError; readonly now_ms: number }
  /** `missing`: the store had no live entry for this connection before (created, not refreshed). */
  | { readonly type: "session_registered"; readonly ok: boolean; readonly missing?: boolean; readonly now_ms: number }
  /** The log answered an append_to_log (ok: durable; not ok: failed or timed out). */
  | {
      readonly type: "append_completed";
      readonly record: SendRecord | AckRecord;
      readonly ok: boolean;
      /** Not attempted: the host is at its bound of appends in flight (push back, retry later). */
      readonly overloaded?: boolean;
      readonly now_ms: number;
    }
  | {
      readonly type: "pending_page_read";
      readonly read_id: number;
      readonly entries: readonly PendingEntry[] | null;
      readonly now_ms: number;
    }
  | {
      readonly type: "pending_conversation_read";
      readonly read_id: number;
      readonly conversation_id: string;
      readonly entries: readonly PendingEntry[] | null;
      readonly now_ms: number;
    }
  | { readonly type: "delivery_received"; readonly delivery: Delivery; readonly now_ms: number }
  /**
   * The host answered a check_media: "owned" (an uploaded media of this user), "unknown"
   * (no such upload, or another user's), "failed" (the check could not be made).
   */
  | { readonly type: "media_checked"; readonly client_msg_id: string; readonly outcome: "owned" | "unknown" | "failed"; readonly now_ms: number }
  | { readonly type: "timer_fired"; readonly now_ms: number }
  | { readonly type: "drain_requested"; readonly now_ms: number }
  | { readonly type: "connection_closed"; readonly now_ms: number };

export type GatewayEffect =
  | { readonly type: "send_frame"; readonly frame: ServerFrame }
  | { readonly type: "append_to_log"; readonly record: SendRecord | AckRecord }
  /** Is `media_id` an uploaded media of this connection's user? Answered by media_checked. */
  | { readonly type: "check_media"; readonly client_msg_id: string; readonly media_id: string }
  | { readonly type: "register_session" }
  | { readonly type: "unregister_session" }
  | { readonly type: "read_pending_page"; readonly read_id: number; readonly after: PendingCursor | null; readonly limit: number }
  | {
      readonly type: "read_pending_conversation";
      readonly read_id: number;
      readonly conversation_id: string;
      readonly after_message_id: string | null;
      readonly limit: number;
    }
  | { readonly type: "presence_heartbeat" }
  | { readonly type: "presence_disconnect" }
  | { readonly type: "presence_subscribe"; readonly user_ids: readonly string[] }
  | { readonly type: "presence_unsubscribe"; readonly user_ids: readonly string[] }
  | {
      readonly type: "relay_typing";
      readonly target: { readonly kind: "direct"; readonly to: string } | { readonly kind: "group"; readonly group_id: string };
    }
  | { readonly type: "set_timer"; readonly at_ms: number }
  | { readonly type: "close_connection"; readonly code: number; readonly reason: string };

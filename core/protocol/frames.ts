/**
 * The WebSocket frames of API.md, one schema and one type each. Every frame is
 * `{"event": NAME, "data": {...}}`. Client frames are decoded at the gateway's edge with
 * `decodeClientFrame`; server frames are decoded by clients with `decodeServerFrame`.
 */
import { z } from "zod";
import { LIMITS } from "../limits.js";
import * as f from "./fields.js";

// ---- client to server -------------------------------------------------------------------

export const sendMessageData = z.object({
  to: f.userId,
  content: f.content,
  type: f.messageType,
  client_msg_id: f.clientMsgId,
});
export const sendGroupMessageData = z.object({
  group_id: f.groupId,
  content: f.content,
  type: f.messageType,
  client_msg_id: f.clientMsgId,
});
/** Exactly one of `to` and `group_id`. */
export const typingData = z
  .object({ to: f.userId.optional(), group_id: f.groupId.optional() })
  .refine((d) => (d.to === undefined) !== (d.group_id === undefined), {
    message: "must hold exactly one of data.to and data.group_id",
  });
/**
 * `conversation_id` is our extension (docs/API.md): it lets a gateway route an ack for a
 * message that reached the device on an earlier connection. Clients written from the seed
 * API may leave it out; the gateway then uses what it delivered on this connection.
 */
export const ackData = z.object({
  message_id: f.messageId,
  status: f.ackStatus,
  conversation_id: f.conversationId.optional(),
});
export const heartbeatData = z.object({});
export const presenceUserIds = z.array(f.userId).min(1).max(LIMITS.presenceSubscribeBatchMax);
export const subscribePresenceData = z.object({ user_ids: presenceUserIds });
export const unsubscribePresenceData = z.object({ user_ids: presenceUserIds });

export const clientDataSchemas = {
  send_message: sendMessageData,
  send_group_message: sendGroupMessageData,
  typing: typingData,
  ack: ackData,
  heartbeat: heartbeatData,
  subscribe_presence: subscribePresenceData,
  unsubscribe_presence: unsubscribePresenceData,
} as const;

export type ClientEvent = keyof typeof clientDataSchemas;
export type ClientFrame = {
  [E in ClientEvent]: { event: E; data: z.infer<(typeof clientDataSchemas)[E]> };
}[ClientEvent];
export type SendMessageData = z.infer<typeof sendMessageData>;
export type SendGroupMessageData = z.infer<typeof sendGroupMessageData>;
export type TypingData = z.infer<typeof typingData>;
export type AckData = z.infer<typeof ackData>;

// ---- server to client -------------------------------------------------------------------

export const newMessageData = z.object({
  message_id: f.messageId,
  conversation_id: f.conversationId,
  from: f.userId,
  content: f.content,
  type: f.messageType,
  sent_at: f.timestamp,
  group_id: f.groupId.optional(),
  client_msg_id: f.clientMsgId,
});
export const deliveryReceiptData = z.object({
  message_id: f.messageId,
  conversation_id: f.conversationId,
  status: f.receiptStatus,
  user_id: f.userId.optional(),
  client_msg_id: f.clientMsgId.optional(),
});
export const presenceUpdateData = z.object({
  user_id: f.userId,
  status: f.presenceStatus,
  last_seen: f.timestamp.optional(),
});
export const typingEventData = z.object({
  from: f.userId,
  conversation_id: f.conversationId,
  group_id: f.groupId.optional(),
});
export const errorData = z.object({
  code: z.string().regex(/^[A-Z][A-Z0-9_]*$/, "must be an UPPER_SNAKE_CASE code"),
  message: z.string(),
  client_msg_id: f.clientMsgId.optional(),
  retryable: z.boolean(),
});
export const reconnectData = z.object({ reason: z.string() });

export const serverDataSchemas = {
  new_message: newMessageData,
  delivery_receipt: deliveryReceiptData,
  presence_update: presenceUpdateData,
  typing: typingEventData,
  error: errorData,
  reconnect: reconnectData,
} as const;

export type ServerEvent = keyof typeof serverDataSchemas;
export type ServerFrame = {
  [E in ServerEvent]: { event: E; data: z.infer<(typeof serverDataSchemas)[E]> };
}[ServerEvent];
export type NewMessageData = z.infer<typeof newMessageData>;
export type DeliveryReceiptData = z.infer<typeof deliveryReceiptData>;
export type PresenceUpdateData = z.infer<typeof presenceUpdateData>;
export type TypingEventData = z.infer<typeof typingEventData>;
export type ErrorData = z.infer<typeof errorData>;
export type MessageType = z.infer<typeof f.messageType>;
export type ReceiptStatus = z.infer<typeof f.receiptStatus>;
export type AckStatus = z.infer<typeof f.ackStatus>;

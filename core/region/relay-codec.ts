/**
 * The relay's operations as they travel and rest outside a process (the outbox rows, the batch
 * one region's relay sends another's): the schema every reader applies, since a row or a
 * request body is an edge. Structure only; the router that wrote the entries checked the rest.
 */
import { z } from "zod";
import { messageType } from "../protocol/fields.js";

const id = z.string().min(1).max(200);

const storedMessage = z.object({
  message_id: id,
  conversation_id: id,
  sender_id: id,
  sender_device_id: id,
  group_id: id.nullable(),
  content: z.string().max(1_000_000),
  type: messageType,
  client_msg_id: id,
  sent_at_ms: z.number().int().nonnegative(),
  prev_message_id: id.nullable(),
});

const pendingEntry = z.object({ user_id: id, device_id: id, message: storedMessage });

export const relayOpSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("put"), entries: z.array(pendingEntry).min(1).max(10_000) }),
  z.object({ kind: z.literal("remove"), user_id: id, device_id: id, conversation_id: id, message_id: id }),
]);

/** What one region's relay POSTs to another's: the source region, and a lane's batch in order. */
export const relayBatchSchema = z.object({
  from: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  ops: z.array(relayOpSchema).min(1).max(1_000),
});
export type RelayBatch = z.infer<typeof relayBatchSchema>;

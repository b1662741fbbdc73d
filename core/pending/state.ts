/**
 * The pending core's state: one offline store's entries, per (user, device), as a two-phase
 * set keyed by message ID. Rules of this file:
 * - Plain data: nested Maps and sorted string arrays, printable and comparable. Only the
 *   functions of write.ts change it, and they change it in place (see there).
 * - Per device, entries are grouped by conversation; within a conversation the live message
 *   IDs and the tombstones are each kept ascending, and the conversations that have a live
 *   entry are kept ascending too, so that a read in (conversation_id, message_id) order is a
 *   bisection plus a walk of `limit` entries.
 * - Bounds: live entries are at most what routers put and devices have not acked (each put
 *   stands for a record in the log); tombstones grow with acks until
 *   `pendingForgetTombstonesBefore` trims them, which the owner calls with the log's
 *   retention; records with neither entries nor tombstones are dropped.
 */
import type { PendingEntry } from "../model.js";

export type ConversationPending = {
  /** Live message IDs, ascending. */
  message_ids: string[];
  /** message_id -> its entry, for exactly the IDs in `message_ids`. */
  entries: Map<string, PendingEntry>;
  /** Removed message IDs, ascending: the second phase, which a put can never undo. */
  tombstones: string[];
};

export type DevicePending = {
  conversations: Map<string, ConversationPending>;
  /** IDs of the conversations with at least one live entry, ascending. */
  live_conversation_ids: string[];
  /** Live entries across the device's conversations. */
  live_count: number;
};

export type PendingState = {
  /** user_id -> device_id -> that device's entries. */
  users: Map<string, Map<string, DevicePending>>;
};

export function pendingInit(): PendingState {
  return { users: new Map() };
}

/** A deep copy (entries themselves are immutable and shared). */
export function pendingClone(state: PendingState): PendingState {
  const users = new Map<string, Map<string, DevicePending>>();
  for (const [user_id, devices] of state.users) {
    const copied = new Map<string, DevicePending>();
    for (const [device_id, device] of devices) {
      const conversations = new Map<string, ConversationPending>();
      for (const [conversation_id, conversation] of device.conversations) {
        conversations.set(conversation_id, {
          message_ids: [...conversation.message_ids],
          entries: new Map(conversation.entries),
          tombstones: [...conversation.tombstones],
        });
      }
      copied.set(device_id, { conversations, live_conversation_ids: [...device.live_conversation_ids], live_count: device.live_count });
    }
    users.set(user_id, copied);
  }
  return { users };
}

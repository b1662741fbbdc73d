/**
 * Writes to a pending state: put, remove (the two-phase set's second phase) and the trim of
 * old tombstones. Rules of this file:
 * - For speed, every function here changes the state it is given in place and returns only
 *   a count: the memory adapter and the simulator call them on every message and every ack,
 *   and a copy per call would cost O(store). A caller that wants the state from before keeps
 *   a `pendingClone`.
 * - A tombstone wins over any put, before or after it: remove of an entry never put records
 *   the tombstone too, because an ack can overtake a stale router's put.
 * - The first put of an entry wins; a later put of the same (user, device, conversation,
 *   message_id) is a no-op even if its content differs (a redelivered record carries the same).
 * - Message IDs must be 19-digit decimals; anything else is a bug in the caller (they come
 *   from our routers, never straight from a client), so it fails an assertion.
 */
import { ID_DIGITS } from "../ids/snowflake.js";
import type { PendingEntry } from "../model.js";
import { assert } from "../result.js";
import { lowerBound, sortedDelete, sortedHas, sortedInsert } from "./sorted.js";
import type { ConversationPending, DevicePending, PendingState } from "./state.js";

const MESSAGE_ID = new RegExp(`^[0-9]{${ID_DIGITS}}$`);

export function assertMessageId(message_id: string, where: string): void {
  assert(MESSAGE_ID.test(message_id), `${where}: message_id ${JSON.stringify(message_id)} is not ${ID_DIGITS} decimal digits`);
}

function deviceOf(state: PendingState, user_id: string, device_id: string): DevicePending {
  let devices = state.users.get(user_id);
  if (devices === undefined) {
    devices = new Map();
    state.users.set(user_id, devices);
  }
  let device = devices.get(device_id);
  if (device === undefined) {
    device = { conversations: new Map(), live_conversation_ids: [], live_count: 0 };
    devices.set(device_id, device);
  }
  return device;
}

function conversationOf(device: DevicePending, conversation_id: string): ConversationPending {
  let conversation = device.conversations.get(conversation_id);
  if (conversation === undefined) {
    conversation = { message_ids: [], entries: new Map(), tombstones: [] };
    device.conversations.set(conversation_id, conversation);
  }
  return conversation;
}

/** Adds the entries that are neither present nor removed; answers how many it added. */
export function pendingPut(state: PendingState, entries: readonly PendingEntry[]): number {
  let added = 0;
  for (const entry of entries) {
    const { message_id, conversation_id } = entry.message;
    assertMessageId(message_id, "pendingPut");
    const device = deviceOf(state, entry.user_id, entry.device_id);
    const conversation = conversationOf(device, conversation_id);
    if (conversation.entries.has(message_id) || sortedHas(conversation.tombstones, message_id)) continue;
    assert(sortedInsert(conversation.message_ids, message_id), "pendingPut: message_ids mirrors entries");
    conversation.entries.set(message_id, entry);
    if (conversation.message_ids.length === 1) sortedInsert(device.live_conversation_ids, conversation_id);
    device.live_count += 1;
    added += 1;
  }
  return added;
}

/**
 * Removes an entry for good: it leaves a tombstone whether or not the entry was there.
 * Answers whether a live entry went.
 */
export function pendingRemove(
  state: PendingState,
  user_id: string,
  device_id: string,
  conversation_id: string,
  message_id: string,
): boolean {
  assertMessageId(message_id, "pendingRemove");
  const device = deviceOf(state, user_id, device_id);
  const conversation = conversationOf(device, conversation_id);
  sortedInsert(conversation.tombstones, message_id);
  if (!conversation.entries.delete(message_id)) return false;
  assert(sortedDelete(conversation.message_ids, message_id), "pendingRemove: message_ids mirrors entries");
  if (conversation.message_ids.length === 0) {
    assert(sortedDelete(device.live_conversation_ids, conversation_id), "pendingRemove: live conversations mirror entries");
  }
  device.live_count -= 1;
  assert(device.live_count >= 0, "pendingRemove: live_count >= 0");
  return true;
}

/**
 * Drops every entry and tombstone of a device that no longer exists (signed out, or retired by
 * newer sign-ins). Answers how many live entries went. Unlike pendingRemove it leaves no
 * tombstones: nothing may ever be delivered to that device again, so a late put for it is
 * garbage to be dropped by a second call, not an entry to be kept from coming back.
 */
export function pendingRemoveDevice(state: PendingState, user_id: string, device_id: string): number {
  const devices = state.users.get(user_id);
  const device = devices?.get(device_id);
  if (devices === undefined || device === undefined) return 0;
  devices.delete(device_id);
  if (devices.size === 0) state.users.delete(user_id);
  return device.live_count;
}

/**
 * Forgets the tombstones of message IDs below `before_message_id` (for Snowflake IDs, those
 * ordered before a time), and drops records left with nothing in them. After this, a put of
 * such an old entry would be taken again, so call it only with a bound older than anything
 * the log can still redeliver. Answers how many tombstones it forgot.
 */
export function pendingForgetTombstonesBefore(state: PendingState, before_message_id: string): number {
  assertMessageId(before_message_id, "pendingForgetTombstonesBefore");
  let forgotten = 0;
  for (const [user_id, devices] of state.users) {
    for (const [device_id, device] of devices) {
      for (const [conversation_id, conversation] of device.conversations) {
        const count = lowerBound(conversation.tombstones, before_message_id);
        if (count > 0) conversation.tombstones.splice(0, count);
        forgotten += count;
        if (conversation.tombstones.length === 0 && conversation.message_ids.length === 0) device.conversations.delete(conversation_id);
      }
      if (device.conversations.size === 0) devices.delete(device_id);
    }
    if (devices.size === 0) state.users.delete(user_id);
  }
  return forgotten;
}

/**
 * Reads of a pending state. They never change it; the arrays they answer are fresh, the
 * entries in them are the stored (immutable) objects.
 *
 * Order: `pendingList` walks a device's entries by (conversation_id, message_id), which is
 * what the port promises (a page that reaches message m of conversation C holds every entry
 * of C below m); `pendingListConversation` walks one conversation by message_id. Both start
 * strictly after their cursor and stop at `limit`. A limit that is not a non-negative
 * integer is a bug in the caller (it comes from Limits), so it fails an assertion.
 */
import type { PendingEntry } from "../model.js";
import type { PendingCursor } from "../ports/pending-store.js";
import { assert } from "../result.js";
import { lowerBound, upperBound } from "./sorted.js";
import type { ConversationPending, DevicePending, PendingState } from "./state.js";
import { assertMessageId } from "./write.js";

function deviceOf(state: PendingState, user_id: string, device_id: string): DevicePending | undefined {
  return state.users.get(user_id)?.get(device_id);
}

function assertLimit(limit: number, where: string): void {
  assert(Number.isInteger(limit) && limit >= 0, `${where}: limit ${limit} is not a non-negative integer`);
}

/** Appends the conversation's entries from index `start` to `out` until it holds `limit`. */
function take(conversation: ConversationPending, start: number, out: PendingEntry[], limit: number): void {
  for (let index = start; index < conversation.message_ids.length && out.length < limit; index++) {
    const entry = conversation.entries.get(conversation.message_ids[index] as string);
    assert(entry !== undefined, "take: entries mirrors message_ids");
    out.push(entry);
  }
}

/** A device's entries after `after` in (conversation_id, message_id) order, at most `limit`. */
export function pendingList(
  state: PendingState,
  user_id: string,
  device_id: string,
  after: PendingCursor | null,
  limit: number,
): PendingEntry[] {
  assertLimit(limit, "pendingList");
  if (after !== null) assertMessageId(after.message_id, "pendingList");
  const out: PendingEntry[] = [];
  const device = deviceOf(state, user_id, device_id);
  if (device === undefined || limit === 0) return out;
  const ids = device.live_conversation_ids;
  for (let index = after === null ? 0 : lowerBound(ids, after.conversation_id); index < ids.length && out.length < limit; index++) {
    const conversation_id = ids[index] as string;
    const conversation = device.conversations.get(conversation_id);
    assert(conversation !== undefined, "pendingList: live conversations exist");
    const start = after !== null && conversation_id === after.conversation_id ? upperBound(conversation.message_ids, after.message_id) : 0;
    take(conversation, start, out, limit);
  }
  return out;
}

/** One conversation's entries with message_id > `after_message_id`, ascending, at most `limit`. */
export function pendingListConversation(
  state: PendingState,
  user_id: string,
  device_id: string,
  conversation_id: string,
  after_message_id: string | null,
  limit: number,
): PendingEntry[] {
  assertLimit(limit, "pendingListConversation");
  if (after_message_id !== null) assertMessageId(after_message_id, "pendingListConversation");
  const out: PendingEntry[] = [];
  const conversation = deviceOf(state, user_id, device_id)?.conversations.get(conversation_id);
  if (conversation === undefined || limit === 0) return out;
  take(conversation, after_message_id === null ? 0 : upperBound(conversation.message_ids, after_message_id), out, limit);
  return out;
}

/** Live entries for the device. */
export function pendingCount(state: PendingState, user_id: string, device_id: string): number {
  return deviceOf(state, user_id, device_id)?.live_count ?? 0;
}

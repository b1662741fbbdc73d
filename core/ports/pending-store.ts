/**
 * PendingStore: the offline store of the seed design, per device. An entry is written for
 * every device that must receive a message before anything tries to deliver it, and removed
 * only when that device acks it.
 *
 * Contract (adapters/contract/pending-store.contract.ts checks it):
 * - put is idempotent per (user, device, message_id).
 * - It is a two-phase set: once removed, an entry never comes back, even if put again
 *   (a stale or redelivered router must not resurrect what a device acked). Adapters keep
 *   tombstones at least as long as the log keeps records.
 * - list returns a device's entries ordered by (conversation_id, message_id), strictly after
 *   the cursor (from the start when null), at most `limit`. Ordering by conversation first
 *   is what makes a paged read gap-free per conversation: puts within one conversation
 *   happen in message_id order, so a page that reaches message m of conversation C holds
 *   every entry of C below m that was put before the read.
 * - listConversation returns one conversation's entries with message_id > after (all when
 *   null), ascending, at most `limit`.
 * - count is the number of live entries for the device.
 * - removeDevice drops every entry of a device that no longer exists (signed out or retired):
 *   afterwards list and count find none. A put for that device racing it (a router that read
 *   the device list just before) may still land; the caller repeats removeDevice once such a
 *   put has settled (nodes/sessions.ts).
 */
import type { PendingEntry } from "../model.js";

/** Where a paged read of a device's pending entries stopped. */
export type PendingCursor = { readonly conversation_id: string; readonly message_id: string };

export interface PendingStore {
  put(entries: readonly PendingEntry[]): Promise<void>;
  list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): Promise<PendingEntry[]>;
  listConversation(
    user_id: string,
    device_id: string,
    conversation_id: string,
    after_message_id: string | null,
    limit: number,
  ): Promise<PendingEntry[]>;
  remove(user_id: string, device_id: string, conversation_id: string, message_id: string): Promise<void>;
  count(user_id: string, device_id: string): Promise<number>;
  removeDevice(user_id: string, device_id: string): Promise<void>;
  close(): Promise<void>;
}

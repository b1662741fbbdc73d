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
 * - list returns entries with message_id > after (all when null), ascending by message_id,
 *   at most `limit`; listConversation does the same within one conversation.
 * - count is the number of live entries for the device.
 */
import type { PendingEntry } from "../model.js";

export interface PendingStore {
  put(entries: readonly PendingEntry[]): Promise<void>;
  list(user_id: string, device_id: string, after_message_id: string | null, limit: number): Promise<PendingEntry[]>;
  listConversation(
    user_id: string,
    device_id: string,
    conversation_id: string,
    after_message_id: string | null,
    limit: number,
  ): Promise<PendingEntry[]>;
  remove(user_id: string, device_id: string, message_id: string): Promise<void>;
  count(user_id: string, device_id: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * PendingStoreMemory: the PendingStore port in process, a thin wrapper around the pending
 * core (core/pending), which holds the semantics: a two-phase set per device, read in
 * (conversation_id, message_id) order.
 *
 * Rules:
 * - One state, owned here; the core's functions change it in place (core/pending/write.ts).
 * - Answers are fresh arrays of the stored entries, which are immutable (readonly types);
 *   stored entries are the caller's objects, so a caller must not mutate what it put.
 * - Tombstones stay until `forgetTombstonesBefore` is called (beyond the port): the owner
 *   calls it with the oldest message ID its log can still redeliver. Without a call, memory
 *   grows by one ID per ack, which suits tests and the simulator.
 * - After close, every method but close fails an assertion.
 */
import type { PendingEntry } from "../../core/model.js";
import type { PendingCursor, PendingStore } from "../../core/ports/pending-store.js";
import {
  pendingCount,
  pendingForgetTombstonesBefore,
  pendingInit,
  pendingList,
  pendingListConversation,
  pendingPut,
  pendingRemove,
  pendingRemoveDevice,
} from "../../core/pending/index.js";
import type { PendingState } from "../../core/pending/index.js";
import { assert } from "../../core/result.js";

export class PendingStoreMemory implements PendingStore {
  private readonly state: PendingState = pendingInit();
  private closed = false;

  async put(entries: readonly PendingEntry[]): Promise<void> {
    this.assertOpen("put");
    pendingPut(this.state, entries);
  }

  async list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): Promise<PendingEntry[]> {
    this.assertOpen("list");
    return pendingList(this.state, user_id, device_id, after, limit);
  }

  async listConversation(
    user_id: string,
    device_id: string,
    conversation_id: string,
    after_message_id: string | null,
    limit: number,
  ): Promise<PendingEntry[]> {
    this.assertOpen("listConversation");
    return pendingListConversation(this.state, user_id, device_id, conversation_id, after_message_id, limit);
  }

  async remove(user_id: string, device_id: string, conversation_id: string, message_id: string): Promise<void> {
    this.assertOpen("remove");
    pendingRemove(this.state, user_id, device_id, conversation_id, message_id);
  }

  async removeDevice(user_id: string, device_id: string): Promise<void> {
    this.assertOpen("removeDevice");
    pendingRemoveDevice(this.state, user_id, device_id);
  }

  async count(user_id: string, device_id: string): Promise<number> {
    this.assertOpen("count");
    return pendingCount(this.state, user_id, device_id);
  }

  /** Forgets tombstones of message IDs below `before_message_id`; answers how many. */
  forgetTombstonesBefore(before_message_id: string): number {
    this.assertOpen("forgetTombstonesBefore");
    return pendingForgetTombstonesBefore(this.state, before_message_id);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(method: string): void {
    assert(!this.closed, `PendingStoreMemory.${method}: called after close`);
  }
}

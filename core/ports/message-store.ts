/**
 * MessageStore: history, the durable dedup record, receipts, and the inbox (Cassandra /
 * ScyllaDB in production, SQLite embedded). Every write is idempotent, so a router that
 * handles a record twice leaves the store as if it had handled it once.
 *
 * Contract (adapters/contract/message-store.contract.ts checks it):
 * - putMessage is keyed by (conversation_id, message_id); writing it again changes nothing.
 * - history returns messages with message_id < before (all when null), newest first.
 * - lastMessageId is the greatest message_id stored in the conversation.
 * - claim is first-writer-wins per (sender_id, client_msg_id) and answers the winning claim
 *   (the router no longer uses it: it kept the Paxos round per message; see putSendClaim).
 * - putSendClaim stores a SendClaim under (sender_id, conversation_id, client_msg_id) with a
 *   plain write (a repeat with the same value changes nothing); findSendClaim reads it back.
 *   First-writer-wins is the router's: only a conversation's partition owner writes these,
 *   in log order, and it looks the key up before writing (core/router/ordering.ts).
 * - putIdCheckpoints stores per (partition, offset) where a partition's ID chain stood;
 *   idCheckpoint reads one back (null when none was written). A repeat changes nothing.
 * - advanceReceipt keeps the furthest status (sent < delivered < read) and answers it.
 * - touchInbox keeps, per (user, conversation), the entry with the greatest last_message_id.
 * - markRead keeps the greatest message_id per (user, conversation).
 * - inbox lists a user's conversations by last_message_id descending, strictly below `before`.
 * - linkMedia records that a message carrying `media_id` was persisted in `conversation_id`
 *   (idempotent); mediaConversations lists those conversations in ascending order, strictly
 *   after `after_conversation_id` (from the start when null), at most `limit`. The link is
 *   what lets every member of such a conversation fetch the media (docs/API.md), with no
 *   window: it is kept as long as the message.
 */
import type { ReceiptStatus } from "../protocol/frames.js";
import type { DedupClaim, IdCheckpoint, InboxEntry, ReceiptRow, SendClaim, StoredMessage } from "../model.js";

export interface MessageStore {
  putMessage(message: StoredMessage): Promise<void>;
  getMessage(conversation_id: string, message_id: string): Promise<StoredMessage | null>;
  history(conversation_id: string, before_message_id: string | null, limit: number): Promise<StoredMessage[]>;
  lastMessageId(conversation_id: string): Promise<string | null>;
  /** Messages after `after_message_id` (all when null) not sent by `excluding_sender_id`. */
  countAfter(conversation_id: string, after_message_id: string | null, excluding_sender_id: string): Promise<number>;

  claim(claim: DedupClaim): Promise<DedupClaim>;
  getClaim(sender_id: string, client_msg_id: string): Promise<DedupClaim | null>;

  putSendClaim(claim: SendClaim): Promise<void>;
  findSendClaim(sender_id: string, conversation_id: string, client_msg_id: string): Promise<SendClaim | null>;
  putIdCheckpoints(checkpoints: readonly IdCheckpoint[]): Promise<void>;
  idCheckpoint(partition: number, offset: number): Promise<IdCheckpoint | null>;

  advanceReceipt(message_id: string, user_id: string, status: ReceiptStatus): Promise<ReceiptStatus>;
  receipts(message_id: string): Promise<ReceiptRow[]>;

  touchInbox(entry: InboxEntry): Promise<void>;
  markRead(user_id: string, conversation_id: string, message_id: string): Promise<void>;
  readUpTo(user_id: string, conversation_id: string): Promise<string | null>;
  inbox(user_id: string, before_message_id: string | null, limit: number): Promise<InboxEntry[]>;

  linkMedia(media_id: string, conversation_id: string): Promise<void>;
  mediaConversations(media_id: string, after_conversation_id: string | null, limit: number): Promise<string[]>;
  close(): Promise<void>;
}

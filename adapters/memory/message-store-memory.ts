/**
 * MessageStoreMemory: history, the durable dedup record, receipts and inboxes in process
 * (tests; the embedded node uses SQLite). A Promise shell over the message store's one state
 * machine (core/ports/message-store-machine.ts, whose header states the rules), which the
 * simulator's store wraps too.
 *
 * What this shell adds: values are copied in and out, as a real database would, so neither a
 * caller nor a reader can change what is stored; after close every method rejects.
 */
import type { MessageStore } from "../../core/ports/message-store.js";
import { MessageStoreMachine } from "../../core/ports/message-store-machine.js";
import type { ReceiptStatus } from "../../core/protocol/frames.js";
import type { DedupClaim, IdCheckpoint, InboxEntry, SendClaim, ReceiptRow, StoredMessage } from "../../core/model.js";

export class MessageStoreMemory implements MessageStore {
  private readonly machine = new MessageStoreMachine();
  private closed = false;

  async putMessage(message: StoredMessage): Promise<void> {
    this.assertOpen("putMessage");
    this.machine.put({ ...message });
  }

  async getMessage(conversation_id: string, message_id: string): Promise<StoredMessage | null> {
    this.assertOpen("getMessage");
    const message = this.machine.message(conversation_id, message_id);
    return message === null ? null : { ...message };
  }

  async history(conversation_id: string, before_message_id: string | null, limit: number): Promise<StoredMessage[]> {
    this.assertOpen("history");
    return this.machine.history(conversation_id, before_message_id, limit).map((m) => ({ ...m }));
  }

  async lastMessageId(conversation_id: string): Promise<string | null> {
    this.assertOpen("lastMessageId");
    return this.machine.lastMessageId(conversation_id);
  }

  async countAfter(conversation_id: string, after_message_id: string | null, excluding_sender_id: string): Promise<number> {
    this.assertOpen("countAfter");
    return this.machine.countAfter(conversation_id, after_message_id, excluding_sender_id);
  }

  async claim(claim: DedupClaim): Promise<DedupClaim> {
    this.assertOpen("claim");
    return copyClaim(this.machine.claim(copyClaim(claim)));
  }

  async getClaim(sender_id: string, client_msg_id: string): Promise<DedupClaim | null> {
    this.assertOpen("getClaim");
    const existing = this.machine.getClaim(sender_id, client_msg_id);
    return existing === null ? null : copyClaim(existing);
  }

  async putSendClaim(claim: SendClaim): Promise<void> {
    this.assertOpen("putSendClaim");
    this.machine.putSendClaim(copySendClaim(claim));
  }

  async findSendClaim(sender_id: string, conversation_id: string, client_msg_id: string): Promise<SendClaim | null> {
    this.assertOpen("findSendClaim");
    const found = this.machine.findSendClaim(sender_id, conversation_id, client_msg_id);
    return found === null ? null : copySendClaim(found);
  }

  async putIdCheckpoints(checkpoints: readonly IdCheckpoint[]): Promise<void> {
    this.assertOpen("putIdCheckpoints");
    this.machine.putIdCheckpoints(checkpoints.map((c) => ({ ...c })));
  }

  async idCheckpoint(partition: number, offset: number): Promise<IdCheckpoint | null> {
    this.assertOpen("idCheckpoint");
    const found = this.machine.idCheckpoint(partition, offset);
    return found === null ? null : { ...found };
  }

  async advanceReceipt(message_id: string, user_id: string, status: ReceiptStatus): Promise<ReceiptStatus> {
    this.assertOpen("advanceReceipt");
    return this.machine.advanceReceipt(message_id, user_id, status);
  }

  async receipts(message_id: string): Promise<ReceiptRow[]> {
    this.assertOpen("receipts");
    return this.machine.receipts(message_id);
  }

  async touchInbox(entry: InboxEntry): Promise<void> {
    this.assertOpen("touchInbox");
    this.machine.touchInbox({ ...entry });
  }

  async markRead(user_id: string, conversation_id: string, message_id: string): Promise<void> {
    this.assertOpen("markRead");
    this.machine.markRead(user_id, conversation_id, message_id);
  }

  async readUpTo(user_id: string, conversation_id: string): Promise<string | null> {
    this.assertOpen("readUpTo");
    return this.machine.readUpTo(user_id, conversation_id);
  }

  async inbox(user_id: string, before_message_id: string | null, limit: number): Promise<InboxEntry[]> {
    this.assertOpen("inbox");
    return this.machine.inbox(user_id, before_message_id, limit).map((entry) => ({ ...entry }));
  }

  async linkMedia(media_id: string, conversation_id: string): Promise<void> {
    this.assertOpen("linkMedia");
    this.machine.linkMedia(media_id, conversation_id);
  }

  async mediaConversations(media_id: string, after_conversation_id: string | null, limit: number): Promise<string[]> {
    this.assertOpen("mediaConversations");
    return this.machine.mediaConversations(media_id, after_conversation_id, limit);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`MessageStoreMemory.${method}: the store is closed`);
  }
}

function copyClaim(claim: DedupClaim): DedupClaim {
  return { ...claim, position: { ...claim.position } };
}

/** A copy: the stored audience must not follow the caller's array (a group's list, later). */
function copySendClaim(claim: SendClaim): SendClaim {
  return { ...claim, position: { ...claim.position }, members: claim.members === null ? null : [...claim.members] };
}

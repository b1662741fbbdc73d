/**
 * MessageStoreMemory: history, the durable dedup record, receipts and inboxes in process
 * (tests and the simulator; the embedded node uses SQLite).
 *
 * Rules:
 * - Every write is idempotent, as the port demands. putMessage keeps the first write of a
 *   (conversation_id, message_id): a second one, even with other content, changes nothing.
 * - Message IDs are 19-digit decimals, so string order is numeric order (core/ids).
 *   History is kept sorted per conversation, so a page costs O(log n + limit).
 * - claim is first-writer-wins per (sender_id, client_msg_id) and answers the stored claim.
 * - putSendClaim and putIdCheckpoints are plain writes (the last one stays, as in Cassandra).
 * - A receipt only moves forwards: sent < delivered < read.
 * - touchInbox keeps the entry with the greatest last_message_id; markRead the greatest ID.
 * - Values are copied in and out, as a real database would.
 */
import type { MessageStore } from "../../core/ports/message-store.js";
import type { ReceiptStatus } from "../../core/protocol/frames.js";
import type { DedupClaim, IdCheckpoint, InboxEntry, SendClaim, ReceiptRow, StoredMessage } from "../../core/model.js";
import { assert } from "../../core/result.js";

const RECEIPT_RANK: Readonly<Record<ReceiptStatus, number>> = { sent: 0, delivered: 1, read: 2 };

type Conversation = {
  /** Ascending message IDs. */
  readonly ids: string[];
  readonly by_id: Map<string, StoredMessage>;
};

export class MessageStoreMemory implements MessageStore {
  private readonly conversations = new Map<string, Conversation>();
  private readonly claims = new Map<string, DedupClaim>();
  private readonly send_claims = new Map<string, SendClaim>();
  private readonly checkpoints = new Map<string, IdCheckpoint>();
  /** message_id -> user_id -> furthest status, users in first-receipt order. */
  private readonly receipt_rows = new Map<string, Map<string, ReceiptStatus>>();
  /** user_id -> conversation_id -> entry. */
  private readonly inboxes = new Map<string, Map<string, InboxEntry>>();
  private readonly read_up_to = new Map<string, string>();
  /** media_id -> conversations a message carrying it was persisted in. */
  private readonly media_links = new Map<string, Set<string>>();
  private closed = false;

  async putMessage(message: StoredMessage): Promise<void> {
    this.assertOpen("putMessage");
    let conversation = this.conversations.get(message.conversation_id);
    if (conversation === undefined) {
      conversation = { ids: [], by_id: new Map() };
      this.conversations.set(message.conversation_id, conversation);
    }
    if (conversation.by_id.has(message.message_id)) return;
    conversation.by_id.set(message.message_id, { ...message });
    conversation.ids.splice(lowerBound(conversation.ids, message.message_id), 0, message.message_id);
  }

  async getMessage(conversation_id: string, message_id: string): Promise<StoredMessage | null> {
    this.assertOpen("getMessage");
    const message = this.conversations.get(conversation_id)?.by_id.get(message_id);
    return message === undefined ? null : { ...message };
  }

  async history(conversation_id: string, before_message_id: string | null, limit: number): Promise<StoredMessage[]> {
    this.assertOpen("history");
    assertLimit("history", limit);
    const conversation = this.conversations.get(conversation_id);
    if (conversation === undefined) return [];
    const end = before_message_id === null ? conversation.ids.length : lowerBound(conversation.ids, before_message_id);
    const page: StoredMessage[] = [];
    for (let i = end - 1; i >= 0 && page.length < limit; i--) {
      page.push(this.messageAt(conversation, i));
    }
    return page;
  }

  async lastMessageId(conversation_id: string): Promise<string | null> {
    this.assertOpen("lastMessageId");
    const ids = this.conversations.get(conversation_id)?.ids;
    return ids === undefined || ids.length === 0 ? null : (ids[ids.length - 1] ?? null);
  }

  async countAfter(conversation_id: string, after_message_id: string | null, excluding_sender_id: string): Promise<number> {
    this.assertOpen("countAfter");
    const conversation = this.conversations.get(conversation_id);
    if (conversation === undefined) return 0;
    const start = after_message_id === null ? 0 : upperBound(conversation.ids, after_message_id);
    let count = 0;
    for (let i = start; i < conversation.ids.length; i++) {
      if (this.messageAt(conversation, i).sender_id !== excluding_sender_id) count++;
    }
    return count;
  }

  async claim(claim: DedupClaim): Promise<DedupClaim> {
    this.assertOpen("claim");
    const key = pairKey(claim.sender_id, claim.client_msg_id);
    const existing = this.claims.get(key);
    if (existing !== undefined) return copyClaim(existing);
    this.claims.set(key, copyClaim(claim));
    return copyClaim(claim);
  }

  async getClaim(sender_id: string, client_msg_id: string): Promise<DedupClaim | null> {
    this.assertOpen("getClaim");
    const existing = this.claims.get(pairKey(sender_id, client_msg_id));
    return existing === undefined ? null : copyClaim(existing);
  }

  async putSendClaim(claim: SendClaim): Promise<void> {
    this.assertOpen("putSendClaim");
    this.send_claims.set(sendClaimKey(claim.sender_id, claim.conversation_id, claim.client_msg_id), copySendClaim(claim));
  }

  async findSendClaim(sender_id: string, conversation_id: string, client_msg_id: string): Promise<SendClaim | null> {
    this.assertOpen("findSendClaim");
    const found = this.send_claims.get(sendClaimKey(sender_id, conversation_id, client_msg_id));
    return found === undefined ? null : copySendClaim(found);
  }

  async putIdCheckpoints(checkpoints: readonly IdCheckpoint[]): Promise<void> {
    this.assertOpen("putIdCheckpoints");
    for (const c of checkpoints) this.checkpoints.set(`${c.partition}\u0000${c.offset}`, { ...c });
  }

  async idCheckpoint(partition: number, offset: number): Promise<IdCheckpoint | null> {
    this.assertOpen("idCheckpoint");
    const found = this.checkpoints.get(`${partition}\u0000${offset}`);
    return found === undefined ? null : { ...found };
  }

  async advanceReceipt(message_id: string, user_id: string, status: ReceiptStatus): Promise<ReceiptStatus> {
    this.assertOpen("advanceReceipt");
    let rows = this.receipt_rows.get(message_id);
    if (rows === undefined) {
      rows = new Map();
      this.receipt_rows.set(message_id, rows);
    }
    const current = rows.get(user_id);
    if (current !== undefined && RECEIPT_RANK[current] >= RECEIPT_RANK[status]) return current;
    rows.set(user_id, status);
    return status;
  }

  async receipts(message_id: string): Promise<ReceiptRow[]> {
    this.assertOpen("receipts");
    return [...(this.receipt_rows.get(message_id) ?? [])].map(([user_id, status]) => ({ user_id, status }));
  }

  async touchInbox(entry: InboxEntry): Promise<void> {
    this.assertOpen("touchInbox");
    let inbox = this.inboxes.get(entry.user_id);
    if (inbox === undefined) {
      inbox = new Map();
      this.inboxes.set(entry.user_id, inbox);
    }
    const current = inbox.get(entry.conversation_id);
    if (current !== undefined && current.last_message_id >= entry.last_message_id) return;
    inbox.set(entry.conversation_id, { ...entry });
  }

  async markRead(user_id: string, conversation_id: string, message_id: string): Promise<void> {
    this.assertOpen("markRead");
    const key = pairKey(user_id, conversation_id);
    const current = this.read_up_to.get(key);
    if (current !== undefined && current >= message_id) return;
    this.read_up_to.set(key, message_id);
  }

  async readUpTo(user_id: string, conversation_id: string): Promise<string | null> {
    this.assertOpen("readUpTo");
    return this.read_up_to.get(pairKey(user_id, conversation_id)) ?? null;
  }

  async inbox(user_id: string, before_message_id: string | null, limit: number): Promise<InboxEntry[]> {
    this.assertOpen("inbox");
    assertLimit("inbox", limit);
    const entries = [...(this.inboxes.get(user_id)?.values() ?? [])]
      .filter((entry) => before_message_id === null || entry.last_message_id < before_message_id)
      .sort((a, b) => (a.last_message_id < b.last_message_id ? 1 : a.last_message_id > b.last_message_id ? -1 : 0));
    return entries.slice(0, limit).map((entry) => ({ ...entry }));
  }

  async linkMedia(media_id: string, conversation_id: string): Promise<void> {
    this.assertOpen("linkMedia");
    let links = this.media_links.get(media_id);
    if (links === undefined) this.media_links.set(media_id, (links = new Set()));
    links.add(conversation_id);
  }

  async mediaConversations(media_id: string, after_conversation_id: string | null, limit: number): Promise<string[]> {
    this.assertOpen("mediaConversations");
    assertLimit("mediaConversations", limit);
    return [...(this.media_links.get(media_id) ?? [])]
      .filter((c) => after_conversation_id === null || c > after_conversation_id)
      .sort()
      .slice(0, limit);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private messageAt(conversation: Conversation, index: number): StoredMessage {
    const id = conversation.ids[index];
    const message = id === undefined ? undefined : conversation.by_id.get(id);
    assert(message !== undefined, "MessageStoreMemory: the sorted ID list and the map agree");
    return { ...message };
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`MessageStoreMemory.${method}: the store is closed`);
  }
}

function assertLimit(method: string, limit: number): void {
  assert(Number.isInteger(limit) && limit >= 0, `MessageStoreMemory.${method}: limit must be a non-negative integer, got ${limit}`);
}

function pairKey(a: string, b: string): string {
  return JSON.stringify([a, b]);
}

function copyClaim(claim: DedupClaim): DedupClaim {
  return { ...claim, position: { ...claim.position } };
}

/** A copy: the stored audience must not follow the caller's array (a group's list, later). */
function copySendClaim(claim: SendClaim): SendClaim {
  return { ...claim, position: { ...claim.position }, members: claim.members === null ? null : [...claim.members] };
}

/** The first index whose ID is >= `id`. */
function lowerBound(ids: readonly string[], id: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((ids[mid] as string) < id) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The first index whose ID is > `id`. */
function upperBound(ids: readonly string[], id: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((ids[mid] as string) <= id) low = mid + 1;
    else high = mid;
  }
  return low;
}

function sendClaimKey(sender_id: string, conversation_id: string, client_msg_id: string): string {
  return `${sender_id}\u0000${conversation_id}\u0000${client_msg_id}`;
}

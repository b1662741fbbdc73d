/**
 * MessageStoreMachine: the one ground truth of the MessageStore port (message-store.ts), a
 * synchronous in-process state machine. `adapters/memory/message-store-memory.ts` is a
 * Promise shell over it (it copies values in and out, as a database would), and the
 * simulator's `MessageStoreSim` a fault-injecting shell over it; both run the MessageStore
 * contract suite.
 *
 * Rules:
 * - Every write is idempotent, as the port demands. put keeps the first write of a
 *   (conversation_id, message_id): a second one, even with other content, changes nothing.
 * - Message IDs are 19-digit decimals, so string order is numeric order (core/ids). Each
 *   conversation keeps its IDs sorted, so a page costs O(log n + limit).
 * - claim is first-writer-wins per (sender_id, client_msg_id) and answers the stored claim.
 * - putSendClaim and putIdCheckpoints are plain writes (the last one stays, as in Cassandra);
 *   a send claim's audience is copied, so it does not follow the caller's array.
 * - A receipt only moves forwards: sent < delivered < read.
 * - touchInbox keeps the entry with the greatest last_message_id; markRead the greatest ID.
 * - Values are stored as given: a shell that hands them to code that may change them copies.
 */
import type { ReceiptStatus } from "../protocol/frames.js";
import type { DedupClaim, IdCheckpoint, InboxEntry, ReceiptRow, SendClaim, StoredMessage } from "../model.js";
import { receiptMax } from "../receipts/receipts.js";
import { assert } from "../result.js";

export class MessageStoreMachine {
  /** conversation -> message_id -> message. */
  readonly messages = new Map<string, Map<string, StoredMessage>>();
  /** conversation -> its message IDs, ascending. */
  readonly ids = new Map<string, string[]>();
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

  put(message: StoredMessage): void {
    let conversation = this.messages.get(message.conversation_id);
    let ids = this.ids.get(message.conversation_id);
    if (conversation === undefined || ids === undefined) {
      conversation = new Map();
      ids = [];
      this.messages.set(message.conversation_id, conversation);
      this.ids.set(message.conversation_id, ids);
    }
    if (conversation.has(message.message_id)) return;
    conversation.set(message.message_id, message);
    // Nearly every message is the newest of its conversation: append, else insert in order.
    if (ids.length === 0 || ids[ids.length - 1]! < message.message_id) ids.push(message.message_id);
    else ids.splice(lowerBound(ids, message.message_id), 0, message.message_id);
  }

  message(conversation_id: string, message_id: string): StoredMessage | null {
    return this.messages.get(conversation_id)?.get(message_id) ?? null;
  }

  history(conversation_id: string, before_message_id: string | null, limit: number): StoredMessage[] {
    assertLimit("history", limit);
    const ids = this.ids.get(conversation_id);
    const conversation = this.messages.get(conversation_id);
    if (ids === undefined || conversation === undefined) return [];
    const end = before_message_id === null ? ids.length : lowerBound(ids, before_message_id);
    const page: StoredMessage[] = [];
    for (let i = end - 1; i >= 0 && page.length < limit; i--) page.push(conversation.get(ids[i]!)!);
    return page;
  }

  lastMessageId(conversation_id: string): string | null {
    return this.ids.get(conversation_id)?.at(-1) ?? null;
  }

  countAfter(conversation_id: string, after_message_id: string | null, excluding_sender_id: string): number {
    const ids = this.ids.get(conversation_id);
    const conversation = this.messages.get(conversation_id);
    if (ids === undefined || conversation === undefined) return 0;
    let count = 0;
    for (let i = after_message_id === null ? 0 : upperBound(ids, after_message_id); i < ids.length; i++) {
      if (conversation.get(ids[i]!)!.sender_id !== excluding_sender_id) count++;
    }
    return count;
  }

  claim(claim: DedupClaim): DedupClaim {
    const key = `${claim.sender_id}\u0000${claim.client_msg_id}`;
    const existing = this.claims.get(key);
    if (existing !== undefined) return existing;
    this.claims.set(key, claim);
    return claim;
  }

  getClaim(sender_id: string, client_msg_id: string): DedupClaim | null {
    return this.claims.get(`${sender_id}\u0000${client_msg_id}`) ?? null;
  }

  putSendClaim(claim: SendClaim): void {
    const stored = claim.members === null ? claim : { ...claim, members: [...claim.members] };
    this.send_claims.set(`${claim.sender_id}\u0000${claim.conversation_id}\u0000${claim.client_msg_id}`, stored);
  }

  findSendClaim(sender_id: string, conversation_id: string, client_msg_id: string): SendClaim | null {
    return this.send_claims.get(`${sender_id}\u0000${conversation_id}\u0000${client_msg_id}`) ?? null;
  }

  putIdCheckpoints(checkpoints: readonly IdCheckpoint[]): void {
    for (const c of checkpoints) this.checkpoints.set(`${c.partition}\u0000${c.offset}`, c);
  }

  idCheckpoint(partition: number, offset: number): IdCheckpoint | null {
    return this.checkpoints.get(`${partition}\u0000${offset}`) ?? null;
  }

  advanceReceipt(message_id: string, user_id: string, status: ReceiptStatus): ReceiptStatus {
    let rows = this.receipt_rows.get(message_id);
    if (rows === undefined) this.receipt_rows.set(message_id, (rows = new Map()));
    const next = receiptMax(rows.get(user_id) ?? "sent", status);
    rows.set(user_id, next);
    return next;
  }

  receipts(message_id: string): ReceiptRow[] {
    const rows = this.receipt_rows.get(message_id);
    return rows === undefined ? [] : [...rows].map(([user_id, status]) => ({ user_id, status }));
  }

  touchInbox(entry: InboxEntry): void {
    let inbox = this.inboxes.get(entry.user_id);
    if (inbox === undefined) this.inboxes.set(entry.user_id, (inbox = new Map()));
    const current = inbox.get(entry.conversation_id);
    if (current === undefined || current.last_message_id < entry.last_message_id) inbox.set(entry.conversation_id, entry);
  }

  markRead(user_id: string, conversation_id: string, message_id: string): void {
    const key = `${user_id}\u0000${conversation_id}`;
    const current = this.read_up_to.get(key);
    if (current === undefined || current < message_id) this.read_up_to.set(key, message_id);
  }

  readUpTo(user_id: string, conversation_id: string): string | null {
    return this.read_up_to.get(`${user_id}\u0000${conversation_id}`) ?? null;
  }

  inbox(user_id: string, before_message_id: string | null, limit: number): InboxEntry[] {
    assertLimit("inbox", limit);
    return [...(this.inboxes.get(user_id)?.values() ?? [])]
      .filter((entry) => before_message_id === null || entry.last_message_id < before_message_id)
      .sort((a, b) => (a.last_message_id < b.last_message_id ? 1 : a.last_message_id > b.last_message_id ? -1 : 0))
      .slice(0, limit);
  }

  linkMedia(media_id: string, conversation_id: string): void {
    let links = this.media_links.get(media_id);
    if (links === undefined) this.media_links.set(media_id, (links = new Set()));
    links.add(conversation_id);
  }

  mediaConversations(media_id: string, after_conversation_id: string | null, limit: number): string[] {
    assertLimit("mediaConversations", limit);
    return [...(this.media_links.get(media_id) ?? [])]
      .filter((c) => after_conversation_id === null || c > after_conversation_id)
      .sort()
      .slice(0, limit);
  }
}

function assertLimit(method: string, limit: number): void {
  assert(Number.isInteger(limit) && limit >= 0, `MessageStore.${method}: limit must be a non-negative integer, got ${limit}`);
}

/** The first index whose ID is >= `id`. */
function lowerBound(ids: readonly string[], id: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ids[mid]! < id) low = mid + 1;
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
    if (ids[mid]! <= id) low = mid + 1;
    else high = mid;
  }
  return low;
}

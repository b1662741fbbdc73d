/**
 * The conversation list: previews, last activity, unread counts. Rules of this file:
 *
 * 1. A conversation's unread count is the server's count at the last inbox load plus the
 *    live messages from others that arrived after it and are not read yet. A live message
 *    the server's count already included (sent at or before the entry's last_message_at,
 *    such as a pending message replayed on connect) is not counted twice.
 * 2. Reading a conversation clears both parts. When the server's part was not zero, the
 *    messages behind it may have reached this device before this session (so the client
 *    core never saw them and cannot ack them): `needs_history_read_ack` asks the page to
 *    ack the newest message it holds as read, which moves the server's read watermark.
 * 3. The list is ordered by last activity, newest first; ties by conversation_id so the
 *    order is stable.
 * 4. Pure: times come in as values.
 */
import { msFromIso } from "../../../core/model.js";
import type { MessageType, NewMessageData } from "../../../core/protocol/frames.js";

export type InboxEntry = {
  readonly conversation_id: string;
  readonly kind: "direct" | "group";
  readonly other_user_id?: string;
  readonly group_id?: string;
  readonly last_message_preview: string;
  readonly last_message_at: string;
  readonly unread_count: number;
};

export type InboxItem = {
  readonly conversation_id: string;
  readonly kind: "direct" | "group";
  readonly other_user_id: string | null;
  readonly group_id: string | null;
  preview: string;
  /** Who wrote the preview's message (null when the server's preview does not say). */
  preview_from: string | null;
  last_at_ms: number;
  last_message_id: string | null;
  /** The server's unread count at the last load, and the time it covers up to. */
  unread_server: number;
  server_covered_ms: number;
  /** Live messages from others since then, not read yet: message_id -> sent time. */
  unread_live: Map<string, number>;
  needs_history_read_ack: boolean;
};

export type Inbox = Map<string, InboxItem>;

export const PREVIEW_CHARS_MAX = 80;

export function inboxEmpty(): Inbox {
  return new Map();
}

/** One line of text for a message, as a list row shows it. */
export function previewOf(type: MessageType, content: string): string {
  if (type === "image") return "📷 Photo";
  if (type === "file") return "📎 File";
  const line = content.replace(/\s+/g, " ").trim();
  return line.length > PREVIEW_CHARS_MAX ? `${line.slice(0, PREVIEW_CHARS_MAX - 1)}…` : line;
}

function fromEntry(entry: InboxEntry): InboxItem {
  const at = msFromIso(entry.last_message_at);
  return {
    conversation_id: entry.conversation_id,
    kind: entry.kind,
    other_user_id: entry.other_user_id ?? null,
    group_id: entry.group_id ?? null,
    preview: entry.last_message_preview,
    preview_from: null,
    last_at_ms: Number.isNaN(at) ? 0 : at,
    last_message_id: null,
    unread_server: entry.unread_count,
    server_covered_ms: Number.isNaN(at) ? 0 : at,
    unread_live: new Map(),
    needs_history_read_ack: false,
  };
}

/**
 * Applies an inbox page from the server. Entries replace what we had for their
 * conversations, except that a newer live message keeps its preview and live messages newer
 * than the server's answer stay counted.
 */
export function inboxApplyPage(inbox: Inbox, entries: readonly InboxEntry[]): void {
  for (const entry of entries) {
    const fresh = fromEntry(entry);
    const old = inbox.get(entry.conversation_id);
    if (old !== undefined) {
      if (old.last_at_ms > fresh.last_at_ms) {
        fresh.preview = old.preview;
        fresh.preview_from = old.preview_from;
        fresh.last_at_ms = old.last_at_ms;
        fresh.last_message_id = old.last_message_id;
      }
      // Live messages stay counted only if the server's answer cannot have included them.
      for (const [id, at] of old.unread_live) if (at > fresh.server_covered_ms) fresh.unread_live.set(id, at);
      fresh.needs_history_read_ack = old.needs_history_read_ack && fresh.unread_server > 0;
    }
    inbox.set(entry.conversation_id, fresh);
  }
}

/** Makes sure a conversation has a row (a chat just started, a message from a new chat). */
export function inboxEnsure(
  inbox: Inbox,
  conversation_id: string,
  target: { kind: "direct"; other_user_id: string } | { kind: "group"; group_id: string },
  now_ms: number,
): InboxItem {
  const have = inbox.get(conversation_id);
  if (have !== undefined) return have;
  const item: InboxItem = {
    conversation_id,
    kind: target.kind,
    other_user_id: target.kind === "direct" ? target.other_user_id : null,
    group_id: target.kind === "group" ? target.group_id : null,
    preview: "",
    preview_from: null,
    last_at_ms: now_ms,
    last_message_id: null,
    unread_server: 0,
    // The server told us nothing about this one yet: every live message counts.
    server_covered_ms: 0,
    unread_live: new Map(),
    needs_history_read_ack: false,
  };
  inbox.set(conversation_id, item);
  return item;
}

/**
 * A message shown in a conversation (live, or our own once sent). `counts_unread`: the
 * conversation is not on screen, so a message from someone else is unread.
 */
export function inboxNoteMessage(inbox: Inbox, self: string, message: NewMessageData, counts_unread: boolean, peer: string | null): void {
  const item = inboxEnsure(
    inbox,
    message.conversation_id,
    message.group_id !== undefined ? { kind: "group", group_id: message.group_id } : { kind: "direct", other_user_id: peer ?? message.from },
    msFromIso(message.sent_at),
  );
  const at = msFromIso(message.sent_at);
  if (item.last_message_id === null || message.message_id >= item.last_message_id) {
    item.preview = previewOf(message.type, message.content);
    item.preview_from = message.from;
    item.last_message_id = message.message_id;
    if (!Number.isNaN(at)) item.last_at_ms = Math.max(item.last_at_ms, at);
  }
  if (counts_unread && message.from !== self && !Number.isNaN(at) && at > item.server_covered_ms) {
    item.unread_live.set(message.message_id, at);
  }
}

export function inboxUnread(item: InboxItem): number {
  return item.unread_server + item.unread_live.size;
}

export function inboxTotalUnread(inbox: Inbox): number {
  let total = 0;
  for (const item of inbox.values()) total += inboxUnread(item);
  return total;
}

/** The conversation was read on screen. */
export function inboxMarkRead(inbox: Inbox, conversation_id: string): void {
  const item = inbox.get(conversation_id);
  if (item === undefined) return;
  if (item.unread_server > 0) item.needs_history_read_ack = true;
  item.unread_server = 0;
  item.unread_live.clear();
}

/** Newest activity first. */
export function inboxSorted(inbox: Inbox): InboxItem[] {
  return [...inbox.values()].sort((a, b) =>
    b.last_at_ms !== a.last_at_ms ? b.last_at_ms - a.last_at_ms : a.conversation_id < b.conversation_id ? -1 : a.conversation_id > b.conversation_id ? 1 : 0,
  );
}

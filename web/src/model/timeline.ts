/**
 * One conversation's messages as the screen shows them. Rules of this file:
 *
 * 1. `messages` is ascending by message_id and holds each message_id once, whichever way it
 *    came (a live new_message, our own send's `sent`, a history page, a refresh).
 * 2. The messages held are contiguous: no message of the conversation between the oldest
 *    and the newest held is missing. A history page that cannot be proven to join what we
 *    hold replaces it rather than leave a hole; scroll-back then fills in from its cursor.
 * 3. `older_cursor` is the `before` of the next older page, null once the start is reached
 *    or before any page was loaded (`history` tells which).
 * 4. Pure: no clock, no IO. The page calls these and re-renders.
 */
import type { NewMessageData, ReceiptStatus } from "../../../core/protocol/frames.js";
import { receiptMax } from "../../../core/receipts/receipts.js";

/** A displayed message; `status` is what a history page said about our own message. */
export type ChatMessage = NewMessageData & { readonly status?: ReceiptStatus };

export type HistoryState = "none" | "partial" | "complete";

export type Timeline = {
  messages: ChatMessage[];
  older_cursor: string | null;
  history: HistoryState;
  /** Set on reconnect: the newest page is fetched again when the chat is shown. */
  stale: boolean;
};

/** A history answer as the REST call gives it: newest first. */
export type HistoryPage = { readonly messages: readonly ChatMessage[]; readonly next_cursor: string | null };

export function timelineEmpty(): Timeline {
  return { messages: [], older_cursor: null, history: "none", stale: false };
}

/** Index of the first message whose ID is >= `id` (binary search). */
function lowerBound(messages: readonly ChatMessage[], id: string): number {
  let low = 0;
  let high = messages.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (messages[mid]!.message_id < id) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Inserts by ID; answers false for a message_id already held (a history `status` still merges in). */
function insert(timeline: Timeline, message: ChatMessage): boolean {
  const at = lowerBound(timeline.messages, message.message_id);
  const there = timeline.messages[at];
  if (there !== undefined && there.message_id === message.message_id) {
    if (message.status !== undefined) {
      const status = there.status === undefined ? message.status : receiptMax(there.status, message.status);
      if (status !== there.status) timeline.messages[at] = { ...there, status };
    }
    return false;
  }
  timeline.messages.splice(at, 0, message);
  return true;
}

/** A live message (a new_message frame, or our own send once `sent`). False for a repeat. */
export function timelineAddLive(timeline: Timeline, message: ChatMessage): boolean {
  return insert(timeline, message);
}

function ascending(page: HistoryPage): ChatMessage[] {
  return [...page.messages].sort((a, b) => (a.message_id < b.message_id ? -1 : a.message_id > b.message_id ? 1 : 0));
}

/**
 * The newest page (no `before`): on first open, and again after a reconnect. It joins what
 * we hold when it reaches back to our newest message (or to the conversation's start);
 * otherwise what we hold might not join it, so only the messages newer than the page are
 * kept and scroll-back starts again from the page's cursor.
 */
export function timelineApplyNewest(timeline: Timeline, page: HistoryPage): void {
  const asc = ascending(page);
  timeline.stale = false;
  const oldest = asc[0];
  if (oldest === undefined) {
    // The server holds nothing (yet): whatever arrived live is the whole conversation.
    if (timeline.history === "none") timeline.history = "complete";
    return;
  }
  const newestHeld = timeline.messages[timeline.messages.length - 1];
  const joins =
    page.next_cursor === null ||
    (timeline.history !== "none" && newestHeld !== undefined && oldest.message_id <= newestHeld.message_id);
  if (!joins) {
    timeline.messages = timeline.messages.filter((m) => m.message_id > oldest.message_id);
    timeline.older_cursor = page.next_cursor;
    timeline.history = "partial";
  } else if (page.next_cursor === null) {
    timeline.older_cursor = null;
    timeline.history = "complete";
  }
  // Otherwise the page joins our newest message: our own older boundary still holds.
  for (const m of asc) insert(timeline, m);
}

/**
 * An older page, fetched with `before = cursor`. A page for a cursor that is no longer ours
 * (the timeline was reset while it was in flight) is dropped: applying it could leave a hole.
 * Answers how many messages were new.
 */
export function timelineApplyOlder(timeline: Timeline, cursor: string, page: HistoryPage): number {
  if (timeline.older_cursor !== cursor) return 0;
  let added = 0;
  for (const m of ascending(page)) if (insert(timeline, m)) added++;
  timeline.older_cursor = page.next_cursor;
  timeline.history = page.next_cursor === null ? "complete" : "partial";
  return added;
}

/** Whether scrolling to the top should fetch another page. */
export function timelineHasOlder(timeline: Timeline): boolean {
  return timeline.history === "partial" && timeline.older_cursor !== null;
}

/** The newest message from someone else: what a read watermark ack names. */
export function newestFromOthers(timeline: Timeline, self: string): ChatMessage | null {
  for (let i = timeline.messages.length - 1; i >= 0; i--) {
    const m = timeline.messages[i]!;
    if (m.from !== self) return m;
  }
  return null;
}

/**
 * Typing indicators, both ways. Rules of this file:
 *
 * 1. While we type, a `typing` frame goes out at most once per TYPING_SEND_INTERVAL_MS per
 *    conversation.
 * 2. A `typing` event from someone shows "typing…" for TYPING_SHOW_MS after it; a message
 *    from that person ends it at once.
 * 3. Pure: the page passes the time in and asks for the next expiry to schedule a redraw.
 */

/**
 * The server forwards typing at most once per 3 s per connection and conversation
 * (docs/API.md) and drops the rest; half a second of slack keeps a frame that travelled
 * faster than the one before it from landing inside that window and being dropped (the
 * indicator, shown for TYPING_SHOW_MS, would blink off).
 */
export const TYPING_SEND_INTERVAL_MS = 3_500;
export const TYPING_SHOW_MS = 5_000;

/** conversation_id -> user_id -> shown until (ms). */
export type TypingBook = Map<string, Map<string, number>>;

export function typingBookEmpty(): TypingBook {
  return new Map();
}

/** Whether to send a typing frame now, given when the last one for this conversation went. */
export function typingShouldSend(last_sent_ms: number | undefined, now_ms: number): boolean {
  return last_sent_ms === undefined || now_ms - last_sent_ms >= TYPING_SEND_INTERVAL_MS;
}

export function typingSeen(book: TypingBook, conversation_id: string, user_id: string, now_ms: number): void {
  let users = book.get(conversation_id);
  if (users === undefined) book.set(conversation_id, (users = new Map()));
  users.set(user_id, now_ms + TYPING_SHOW_MS);
}

/** A message from `user_id` ends their indicator. */
export function typingStopped(book: TypingBook, conversation_id: string, user_id: string): void {
  const users = book.get(conversation_id);
  if (users === undefined) return;
  users.delete(user_id);
  if (users.size === 0) book.delete(conversation_id);
}

/** Who is typing in a conversation now, in the order they started. */
export function typingActive(book: TypingBook, conversation_id: string, now_ms: number): string[] {
  const users = book.get(conversation_id);
  if (users === undefined) return [];
  const out: string[] = [];
  for (const [user, until] of users) if (until > now_ms) out.push(user);
  return out;
}

/** Drops lapsed entries; answers the next time one lapses (null for none), for one redraw timer. */
export function typingSweep(book: TypingBook, now_ms: number): number | null {
  let next: number | null = null;
  for (const [conversation_id, users] of book) {
    for (const [user, until] of users) {
      if (until <= now_ms) users.delete(user);
      else if (next === null || until < next) next = until;
    }
    if (users.size === 0) book.delete(conversation_id);
  }
  return next;
}

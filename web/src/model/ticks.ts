/**
 * Ticks on our own messages: one grey tick = sent, two grey = delivered, two blue = read.
 * Rules of this file:
 *
 * 1. Receipts are kept per (message, recipient) and only move forward (receiptMax), so late
 *    or repeated receipts never take a tick back.
 * 2. A direct chat shows the furthest status of its one recipient. A group shows delivered
 *    (read) only once every other member has reached delivered (read): the minimum over the
 *    members. Until the member list is known a group message shows what its history said,
 *    or `sent`.
 * 3. A history page's `status` for our message is a floor, never a ceiling.
 */
import type { ReceiptStatus } from "../../../core/protocol/frames.js";
import { receiptMax, receiptRank } from "../../../core/receipts/receipts.js";

/** message_id -> recipient user_id ("" when a direct receipt names none) -> status. */
export type ReceiptBook = Map<string, Map<string, ReceiptStatus>>;

export type TickAudience =
  | { readonly kind: "direct" }
  /** `member_ids` null while the group's members are not known yet. */
  | { readonly kind: "group"; readonly member_ids: readonly string[] | null; readonly self: string };

export function receiptBookEmpty(): ReceiptBook {
  return new Map();
}

/** Records one receipt; answers whether anything moved. */
export function receiptRecord(book: ReceiptBook, message_id: string, user_id: string | null, status: ReceiptStatus): boolean {
  let perUser = book.get(message_id);
  if (perUser === undefined) book.set(message_id, (perUser = new Map()));
  const key = user_id ?? "";
  const current = perUser.get(key);
  const next = current === undefined ? status : receiptMax(current, status);
  perUser.set(key, next);
  return next !== current;
}

/** The status to draw for one of our own messages. */
export function ownStatus(book: ReceiptBook, message_id: string, audience: TickAudience, floor: ReceiptStatus | undefined): ReceiptStatus {
  const base: ReceiptStatus = floor ?? "sent";
  const perUser = book.get(message_id);
  if (audience.kind === "direct") {
    let best = base;
    if (perUser !== undefined) for (const s of perUser.values()) best = receiptMax(best, s);
    return best;
  }
  const others = audience.member_ids?.filter((id) => id !== audience.self) ?? null;
  if (others === null || others.length === 0) return base;
  let least: ReceiptStatus = "read";
  for (const member of others) {
    const s = perUser?.get(member) ?? "sent";
    if (receiptRank(s) < receiptRank(least)) least = s;
  }
  return receiptMax(base, least);
}

/** How a tick is drawn and read aloud. */
export function tickLabel(status: ReceiptStatus): { glyph: "tick1" | "tick2"; label: string; className: string } {
  switch (status) {
    case "sent":
      return { glyph: "tick1", label: "Sent", className: "tick tick-sent" };
    case "delivered":
      return { glyph: "tick2", label: "Delivered", className: "tick tick-delivered" };
    case "read":
      return { glyph: "tick2", label: "Read", className: "tick tick-read" };
  }
}

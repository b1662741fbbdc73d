/**
 * Receipts: per (message, recipient) status that only moves forward, sent -> delivered ->
 * read. A `read` ack implies `delivered`. Merging is a max, so it is commutative,
 * associative and idempotent: acks that arrive late, twice or out of order, from any router,
 * always converge to the same status (a join-semilattice, which is what lets stores apply it
 * as an upsert-max without coordination).
 */
import type { ReceiptStatus } from "../protocol/frames.js";

const RANK: Readonly<Record<ReceiptStatus, number>> = { sent: 0, delivered: 1, read: 2 };

export function receiptRank(status: ReceiptStatus): number {
  return RANK[status];
}

/** The furthest of two statuses. */
export function receiptMax(a: ReceiptStatus, b: ReceiptStatus): ReceiptStatus {
  return RANK[a] >= RANK[b] ? a : b;
}

/** Applies an update; `changed` says whether the sender should hear of it. */
export function receiptAdvance(
  current: ReceiptStatus | null,
  update: ReceiptStatus,
): { status: ReceiptStatus; changed: boolean } {
  if (current === null) return { status: update, changed: true };
  const status = receiptMax(current, update);
  return { status, changed: status !== current };
}

/**
 * The statuses a sender must be shown when one jumps from `from` to `to`, in order, so a
 * sender never sees `read` without having seen `delivered` (API.md rule 6).
 */
export function receiptSteps(from: ReceiptStatus | null, to: ReceiptStatus): ReceiptStatus[] {
  const start = from === null ? -1 : RANK[from];
  const out: ReceiptStatus[] = [];
  for (const s of ["sent", "delivered", "read"] as const) {
    if (RANK[s] > start && RANK[s] <= RANK[to]) out.push(s);
  }
  return out;
}

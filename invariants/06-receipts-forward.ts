/**
 * Invariant 6, receipts move forward: per (message, recipient) what the sender sees goes
 * sent -> delivered -> read and never back; `delivered` only for a message the recipient's
 * device actually received; `read` implies delivered.
 *
 * Decisions where INVARIANTS.md is silent:
 * - The sequence is per (sender device, message_id, recipient user_id), in the device's list
 *   order. A repeat is fine; a lower status after a higher one is a regression.
 * - `sent` names no recipient and is not part of any sequence: it is the answer to each
 *   attempt of a send, and an attempt retried while the first was in flight is answered
 *   `sent` again (API rule 3), possibly after `delivered` or `read` arrived. The history
 *   records frames, not attempts, so such a repeat cannot be told from a regression, and
 *   the client settles on the first `sent` anyway; a `sent` is therefore never judged here.
 * - `delivered`/`read` about recipient R seen at t needs a display or an ack of the message
 *   by some device of R at or before t (one clock per history); `read` also needs a `read` ack
 *   by some device of R at or before t. A jump from `sent` straight to `read` is forward.
 * - `delivered`/`read` without a recipient user_id is malformed and reported.
 * - With the optional `history.wire_receipts`, the frames themselves are judged too: on one
 *   connection, a frame about a (message, recipient) never carries a lower status than an
 *   earlier one (the gateway keeps each connection's statuses forward). Across a reconnect a
 *   late frame may repeat an older status; the client drops it, and the screen is what the
 *   rules above judge. Without this, the client's guard would hide a server that lets a
 *   status go back.
 */
import type { History, ReceiptEvent, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, SEP, type Derived } from "./internal/derive.js";
import { dev, msg } from "./internal/describe.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 6;
export const NAME = "receipts-forward";

const RANK: Readonly<Record<ReceiptEvent["status"], number>> = { sent: 0, delivered: 1, read: 2 };

export function checkReceiptsForward(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  const perRecipient = new Map<string, ReceiptEvent>();

  let delivered = 0;
  let read = 0;
  for (const r of history.receipts) {
    if (r.status === "sent") continue;
    if (r.status === "read") read += 1;
    else delivered += 1;
    const device = deviceKey(r.device);
    const what = (): string => msg(r.message_id, d.messages.get(r.message_id)?.client_msg_id);
    if (r.user_id === null) {
      report.add(`${dev(r.device)} saw a ${r.status} receipt for ${what()} at ${r.at} that names no recipient.`);
      continue;
    }

    const key = device + SEP + r.message_id + SEP + r.user_id;
    const previous = perRecipient.get(key);
    if (previous !== undefined && RANK[r.status] < RANK[previous.status]) {
      report.add(`${dev(r.device)} saw ${what()} about ${r.user_id} go back from ${previous.status} (at ${previous.at}) to ${r.status} (at ${r.at}).`);
    } else {
      perRecipient.set(key, r);
    }

    const seen = d.firstSeenByUser.get(r.user_id + SEP + r.message_id);
    if (seen === undefined || seen > r.at) {
      report.add(
        `${dev(r.device)} saw ${what()} ${r.status} by ${r.user_id} at ${r.at}, but no device of ${r.user_id} had displayed or acked it by then${seen === undefined ? "" : ` (first at ${seen})`}.`,
      );
    } else if (r.status === "read") {
      const readAt = d.firstReadAckByUser.get(r.user_id + SEP + r.message_id);
      if (readAt === undefined || readAt > r.at) {
        report.add(
          `${dev(r.device)} saw ${what()} read by ${r.user_id} at ${r.at}, but no device of ${r.user_id} had acked it read by then${readAt === undefined ? "" : ` (first at ${readAt})`}.`,
        );
      }
    }
  }
  const perConnection = new Map<string, ReceiptEvent>();
  let wire = 0;
  for (const r of history.wire_receipts ?? []) {
    if (r.status === "sent" || r.user_id === null) continue;
    wire++;
    const key = deviceKey(r.device) + SEP + r.connection + SEP + r.message_id + SEP + r.user_id;
    const previous = perConnection.get(key);
    if (previous !== undefined && RANK[r.status] < RANK[previous.status]) {
      report.add(
        `${dev(r.device)} was sent ${msg(r.message_id, d.messages.get(r.message_id)?.client_msg_id)} about ${r.user_id} going back from ${previous.status} (at ${previous.at}) to ${r.status} (at ${r.at}) on its connection ${r.connection}.`,
      );
    } else perConnection.set(key, r);
  }
  report.judge("delivered receipts", delivered);
  report.judge("read receipts", read);
  if (history.wire_receipts !== undefined) report.judge("receipt frames per connection", wire);
  return report.violations();
}

/**
 * Invariant 9, no leaks across users: no message, receipt or typing event reaches a user who
 * is not a member of its conversation. (History pages are not in the history format, so they
 * are not judged here.)
 *
 * Decisions where INVARIANTS.md is silent — "a member at that time" needs a time, and each
 * kind of event has its own:
 * - A displayed message belongs to the moment it was ordered, which the history bounds by
 *   [first invocation of its send, min(its first `sent`, its first display anywhere, this
 *   display)]. It leaks when the displaying user was a member at no moment of that window: a
 *   member who left after it was ordered may still get it from the pending store, and one
 *   who joined after it never may. This applies to "own" displays too (the router must refuse
 *   a send from a non-member).
 * - A receipt reaches only the message's sender's devices (sender known from an ok send or a
 *   display); for a message the history knows nothing about, the receiving user must have
 *   been a member at some moment up to the receipt.
 * - A push notification (optional `history.pushes`) is judged as a display: it leaks when its
 *   user was a member at no moment of the message's ordering window, bounded by the push.
 * - A typing event received at t leaks when the user was a member at no moment of
 *   [t - delivery_bound_ms, t]: the gateway checks membership when it routes, and a frame
 *   routed just before a removal may land just after it, within the delivery bound.
 */
import type { History, Violation } from "./history.js";
import { derive, sendKey, type Derived } from "./internal/derive.js";
import { dev, msg } from "./internal/describe.js";
import { memberAtSomeMoment } from "./internal/required.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 9;
export const NAME = "no-leaks";

export function checkNoLeaks(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  report.judge("displays", history.displays.length);
  report.judge("receipts", history.receipts.length);

  for (const shown of history.displays) {
    const facts = d.messages.get(shown.message_id);
    const after = d.firstInvokedByKey.get(sendKey(shown.from, shown.client_msg_id)) ?? -Infinity;
    const by = Math.min(shown.at, facts?.ordered_by ?? Infinity);
    if (memberAtSomeMoment(d, shown.conversation_id, shown.device.user_id, after, by)) continue;
    if (report.full) {
      report.count();
      continue;
    }
    report.add(
      `${msg(shown.message_id, shown.client_msg_id)} of ${shown.conversation_id} from ${shown.from} reached ${dev(shown.device)}, but ${shown.device.user_id} was not a member when it was ordered (${after === -Infinity ? `by ${by}` : `between ${after} and ${by}`}).`,
    );
  }

  for (const r of history.receipts) {
    const facts = d.messages.get(r.message_id);
    if (facts !== undefined) {
      if (facts.sender === r.device.user_id) continue;
      report.add(`A ${r.status} receipt for ${msg(r.message_id, facts.client_msg_id)}, sent by ${facts.sender}, reached ${dev(r.device)}, a device of another user.`);
    } else if (!memberAtSomeMoment(d, r.conversation_id, r.device.user_id, -Infinity, r.at)) {
      report.add(`A ${r.status} receipt for ${msg(r.message_id)} of ${r.conversation_id} reached ${dev(r.device)}, whose user had never been a member of it by ${r.at}.`);
    }
  }

  if (history.pushes !== undefined) report.judge("pushes", history.pushes.length);
  for (const p of history.pushes ?? []) {
    const facts = d.messages.get(p.message_id);
    const after = facts?.ordered_after ?? -Infinity;
    const by = Math.min(p.at, facts?.ordered_by ?? Infinity);
    if (memberAtSomeMoment(d, p.conversation_id, p.user_id, after, by)) continue;
    if (report.full) {
      report.count();
      continue;
    }
    report.add(
      `A push notification for ${msg(p.message_id, facts?.client_msg_id)} of ${p.conversation_id} from ${p.from} went to ${p.user_id} at ${p.at}, who was not a member when it was ordered (${after === -Infinity ? `by ${by}` : `between ${after} and ${by}`}).`,
    );
  }

  let typing = 0;
  for (const e of history.received) {
    if (e.kind !== "typing") continue;
    typing += 1;
    if (memberAtSomeMoment(d, e.conversation_id, e.device.user_id, e.at - history.delivery_bound_ms, e.at)) continue;
    report.add(`A typing event from ${e.from} in ${e.conversation_id} reached ${dev(e.device)} at ${e.at}, but ${e.device.user_id} was not a member then, nor in the ${history.delivery_bound_ms} ms before.`);
  }
  report.judge("typing events", typing);
  return report.violations();
}

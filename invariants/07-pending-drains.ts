/**
 * Invariant 7, the pending store drains: nothing leaves it before the recipient acks it; at
 * quiescence it is empty for every connected device, and every unread count equals what the
 * user has not yet marked read.
 *
 * Decisions where INVARIANTS.md is silent:
 * - "Nothing leaves before the ack" is judged on the final snapshot, at any end (it is a
 *   safety rule): for an `ok` message, a device that must have it (invariant 1's rule), is
 *   not the device that sent it (the router writes no entry for the sending device), is not
 *   connected at the end, and neither displayed nor acked it, must still hold its entry. A
 *   device that displayed it but never acked may or may not still hold it.
 * - At quiescence (nothing in flight), an entry left for a connected device is a violation.
 *   An entry left for a disconnected device that acked it `delivered` or `read` is one only
 *   when that ack must have landed: sent at or after healed_at (no faults to lose it) and, if
 *   `history.connections` is given, on a connection of that device that stayed open for
 *   delivery_bound_ms after it. An AckEvent is an ack the device SENT, and one sent during
 *   faults, or just before its socket closed, may be lost; then the entry rightly stays.
 *   Without quiescence an ack may still be in flight, so neither is judged.
 * - Unread counts (only if final.unread is given, only at quiescence) are per user: the
 *   messages of final.history from others, that the user must have (member for the whole
 *   ordering window), not acked `read` by any device of the user. A message whose sender or
 *   window the history cannot tell (an undisplayed info send) widens the allowed range
 *   instead of being guessed.
 */
import type { History, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, SEP, type Derived } from "./internal/derive.js";
import { dev, list, msg } from "./internal/describe.js";
import { memberAtSomeMoment, memberThroughout, requiredDevices } from "./internal/required.js";
import { Report } from "./internal/report.js";
import { coversWindow, mergeSpans, type Span } from "./internal/spans.js";

export const INVARIANT = 7;
export const NAME = "pending-drains";

export function checkPendingDrains(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  const pending = d.pending;

  if (history.final.quiescent) {
    const landed = landedAcks(history, d);
    report.judge("pending entries", history.final.pending.length);
    // Each connected device's share of the store was judged empty (an empty store counts too).
    report.judge("connected devices drained", d.connected.size);
    report.judge("acks that must have landed", landed.size);
    for (const entry of history.final.pending) {
      const device = deviceKey(entry.device);
      const what = msg(entry.message_id, d.messages.get(entry.message_id)?.client_msg_id);
      if (d.connected.has(device)) {
        report.add(`The pending store still holds ${what} for ${dev(entry.device)}, which is connected at quiescence.`);
        continue;
      }
      const at = landed.get(device + SEP + entry.message_id);
      if (at !== undefined) report.add(`The pending store still holds ${what} for ${dev(entry.device)} at quiescence although that device acked it at ${at}.`);
    }
  }

  let held = 0;
  for (const facts of d.messages.values()) {
    if (!facts.ok) continue;
    for (const device of requiredDevices(d, facts)) {
      const key = deviceKey(device);
      if (facts.sending_devices.has(key) || d.connected.has(key)) continue;
      if (d.firstDisplay.get(key)?.has(facts.message_id) === true || d.acksByDevice.has(key + SEP + facts.message_id)) continue;
      held += 1;
      if (pending.has(key + SEP + facts.message_id)) continue;
      if (report.full) {
        report.count();
        continue;
      }
      report.add(
        `${msg(facts.message_id, facts.client_msg_id)} from ${facts.sender} left the pending store of ${dev(device)}, which is disconnected at the end and never displayed or acked it.`,
      );
    }
  }

  report.judge("unacked deliveries that must stay pending", held);
  if (history.final.quiescent && history.final.unread !== undefined) checkUnread(history, d, report);
  return report.violations();
}

/**
 * deviceKey SEP message_id -> the first ack, by a device disconnected at the end, of a message
 * still pending for it, that must have reached the server (see the header).
 */
function landedAcks(history: History, d: Derived): Map<string, number> {
  const suspects = new Set<string>();
  for (const entry of history.final.pending) {
    const device = deviceKey(entry.device);
    if (!d.connected.has(device)) suspects.add(device + SEP + entry.message_id);
  }
  const landed = new Map<string, number>();
  if (suspects.size === 0) return landed;
  const spansByDevice = new Map<string, Span[]>();
  for (const c of history.connections ?? []) {
    const device = deviceKey(c.device);
    const spans = spansByDevice.get(device);
    const span = { start: c.opened_at, end: c.closed_at ?? Infinity };
    if (spans === undefined) spansByDevice.set(device, [span]);
    else spans.push(span);
  }
  const merged = new Map<string, Span[]>();
  for (const [device, spans] of spansByDevice) merged.set(device, mergeSpans(spans));
  for (const a of history.acks) {
    const device = deviceKey(a.device);
    const key = device + SEP + a.message_id;
    if (!suspects.has(key) || landed.has(key) || a.at < history.final.healed_at) continue;
    if (history.connections !== undefined && !coversWindow(merged.get(device) ?? [], a.at, a.at + history.delivery_bound_ms)) continue;
    landed.set(key, a.at);
  }
  return landed;
}

function checkUnread(history: History, d: Derived, report: Report): void {
  report.judge("unread counts", history.final.unread?.length ?? 0);
  for (const { user_id, conversation_id, count } of history.final.unread ?? []) {
    let least = 0;
    let most = 0;
    const unread: string[] = [];
    for (const message_id of history.final.history[conversation_id] ?? []) {
      if (d.firstReadAckByUser.has(user_id + SEP + message_id)) continue;
      const facts = d.messages.get(message_id);
      if (facts === undefined) {
        if (memberAtSomeMoment(d, conversation_id, user_id, -Infinity, Infinity)) most += 1;
        continue;
      }
      if (facts.sender === user_id) continue;
      if (memberThroughout(d, conversation_id, user_id, facts.ordered_after, facts.ordered_by)) {
        least += 1;
        most += 1;
        unread.push(message_id);
      } else if (memberAtSomeMoment(d, conversation_id, user_id, facts.ordered_after, facts.ordered_by)) {
        most += 1;
      }
    }
    if (count < least || count > most) {
      const expected = least === most ? `${least}` : `between ${least} and ${most}`;
      report.add(
        `The unread count of ${user_id} in ${conversation_id} is ${count} at quiescence but should be ${expected}${unread.length > 0 ? ` (unread: ${list(unread.map((id) => msg(id)))})` : ""}.`,
      );
    }
  }
}

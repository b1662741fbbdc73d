/**
 * Invariant 10, liveness: after healing, every `ok` send reaches every online member within
 * delivery_bound_ms, and the system reaches quiescence before its deadline.
 *
 * Decisions where INVARIANTS.md is silent:
 * - final.quiescent false is one violation (the deadline passed with work left).
 * - Every ok message is judged, whenever it was sent: on each device that must have it
 *   (invariant 1's rule) and is in final.connected, its first display must come at or before
 *   max(first ok, healed_at, when that device's final connection opened) + delivery_bound_ms.
 *   The last term needs the optional `history.connections`; without it the deadline is
 *   max(first ok, healed_at) + bound, which assumes every client reconnects as soon as the
 *   heal begins.
 * - Messages that ended `info` carry no promise of delivery and are not judged.
 * - A client doing only what it must is never refused for rate (API.md: acks never count,
 *   and nothing a client is obliged to send can get it closed). Judged only where it is
 *   certain, from the optional `history.rate_refusals`: a connection starts with a full
 *   burst, so a `RATE_LIMITED` refusal (or the close after a run of them) on a connection
 *   whose client had sent no more than the burst of frames other than acks is a violation,
 *   at any time, faults or not. A client past the burst is not judged (clocks, pauses and
 *   the network reshape its rate on the way).
 */
import type { History, RateRefusal, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, type Derived } from "./internal/derive.js";
import { dev, msg } from "./internal/describe.js";
import { displayOn, requiredDevices } from "./internal/required.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 10;
export const NAME = "liveness";

export function checkLiveness(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  const { final } = history;
  report.judge("quiescence");
  if (!final.quiescent) {
    const stuck = final.stuck === undefined || final.stuck.length === 0 ? "" : ` Still pending or in flight: ${final.stuck.join("; ")}.`;
    report.add(`The run did not reach quiescence before its deadline (healed at ${final.healed_at}; pending entries left: ${final.pending.length}).${stuck}`);
  }

  // One violation per connection: its first unearned refusal, with how many followed.
  const unearned = new Map<string, { first: RateRefusal; more: number; closed: boolean }>();
  if (history.rate_refusals !== undefined) report.judge("rate refusals", history.rate_refusals.length);
  for (const r of history.rate_refusals ?? []) {
    if (r.frames_sent > r.frames_burst) continue;
    const key = `${deviceKey(r.device)}#${r.connection}`;
    const seen = unearned.get(key);
    if (seen === undefined) unearned.set(key, { first: r, more: 0, closed: r.closed });
    else {
      seen.more += 1;
      seen.closed ||= r.closed;
    }
  }
  for (const { first: r, more, closed } of unearned.values()) {
    if (report.full) {
      report.count();
      continue;
    }
    report.add(
      `${dev(r.device)} was refused as RATE_LIMITED at ${r.at} on its connection ${r.connection} after sending only ${r.frames_sent} frames other than acks there (every connection may send a burst of ${r.frames_burst}; acks never count)${more > 0 ? `, and ${more} times more` : ""}${closed ? ", then closed for its rate" : ""}.`,
    );
  }

  let judged = 0;
  for (const facts of d.messages.values()) {
    if (!facts.ok) continue;
    let ok_at = Infinity;
    for (const op of d.okSendsById.get(facts.message_id) ?? []) if (op.completed_at !== null) ok_at = Math.min(ok_at, op.completed_at);
    if (ok_at === Infinity) continue;
    for (const device of requiredDevices(d, facts)) {
      const key = deviceKey(device);
      if (!d.connected.has(key)) continue;
      judged += 1;
      const deadline = Math.max(ok_at, final.healed_at, d.openSinceByDevice?.get(key) ?? -Infinity) + history.delivery_bound_ms;
      const shown = displayOn(d, device, facts.message_id);
      if (shown !== undefined && shown.at <= deadline) continue;
      if (report.full) {
        report.count();
        continue;
      }
      const what = `${msg(facts.message_id, facts.client_msg_id)} from ${facts.sender}, ok at ${ok_at}`;
      report.add(
        shown === undefined
          ? `${what}, never reached the connected ${dev(device)} (deadline ${deadline}).`
          : `${what}, reached the connected ${dev(device)} only at ${shown.at}, after its deadline ${deadline}.`,
      );
    }
  }
  report.judge("deliveries to connected devices", judged);
  return report.violations();
}

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
 */
import type { History, Violation } from "./history.js";
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

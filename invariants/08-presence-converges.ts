/**
 * Invariant 8, presence converges: after quiescence plus the presence bound, each subscriber
 * sees a user online exactly when that user has a live connection; during faults a stale
 * `online` lasts at most the bound (TTL + heartbeat interval + allowed clock skew).
 *
 * Decisions where INVARIANTS.md is silent:
 * - Convergence is judged only when the run reached quiescence and lasted at least
 *   presence_bound_ms after healing (final.quiescent_at - final.healed_at >= bound); it is
 *   judged for each final.presence_watches entry whose watching device is connected at the
 *   end (a disconnected device holds no live subscription). The LAST presence event the
 *   watching device received about the user, in its list order, must say `online` iff some
 *   device of that user is in final.connected. A watch that never got any presence event
 *   about its user is a violation too: subscribing is answered at once with the status.
 * - Stale `online` during the run needs connection ends, which only the optional
 *   `history.connections` gives; without it that part is skipped. With it, an `online` about
 *   X received at t is stale when no connection of any device of X was open at any moment
 *   of [t - presence_bound_ms, t + presence_bound_ms]: every one had closed more than the bound
 *   before t, or opened more than the bound after it. Spans are as the clients saw them; a
 *   server that noticed a close later, or an observer that heard of a connect before the
 *   connecting client recorded it, is what the bound's slack on both sides allows for.
 */
import type { History, ReceivedEvent, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, SEP, type Derived } from "./internal/derive.js";
import { dev } from "./internal/describe.js";
import { lastEndBy } from "./internal/spans.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 8;
export const NAME = "presence-converges";

type PresenceEvent = Extract<ReceivedEvent, { kind: "presence" }>;

export function checkPresenceConverges(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  const { final } = history;
  const bound = history.presence_bound_ms;

  const settled = final.quiescent && final.quiescent_at !== null && final.quiescent_at - final.healed_at >= bound;
  if (settled && final.presence_watches !== undefined) {
    const last = new Map<string, PresenceEvent>();
    for (const e of history.received) if (e.kind === "presence") last.set(deviceKey(e.device) + SEP + e.user_id, e);
    const online = new Set(final.connected.map((c) => c.user_id));
    for (const watch of final.presence_watches) {
      if (!d.connected.has(deviceKey(watch.device))) continue;
      report.judge("watches at the end");
      const seen = last.get(deviceKey(watch.device) + SEP + watch.user_id);
      const expected = online.has(watch.user_id) ? "online" : "offline";
      if (seen === undefined) {
        report.add(`${dev(watch.device)} watches ${watch.user_id} but never received a presence update about them; ${watch.user_id} is ${expected} at the end.`);
      } else if (seen.status !== expected) {
        report.add(
          `${dev(watch.device)} last saw ${watch.user_id} ${seen.status} (at ${seen.at}), but at the end ${watch.user_id} is ${expected} ${expected === "online" ? "(has a connected device)" : "(no device connected)"}.`,
        );
      }
    }
  }

  const spansByUser = d.connectionSpansByUser;
  if (spansByUser !== null) {
    let onlines = 0;
    for (const e of history.received) {
      if (e.kind !== "presence" || e.status !== "online") continue;
      onlines += 1;
      const ended = lastEndBy(spansByUser.get(e.user_id) ?? [], e.at + bound);
      if (ended !== undefined && ended >= e.at - bound) continue;
      report.add(
        ended === undefined
          ? `${dev(e.device)} received ${e.user_id} online at ${e.at}, but no device of ${e.user_id} connected until more than ${bound} ms later.`
          : `${dev(e.device)} received ${e.user_id} online at ${e.at}, but the last connection of ${e.user_id} had ended at ${ended}, more than ${bound} ms earlier.`,
      );
    }
    report.judge("online updates", onlines);
  }
  return report.violations();
}

/**
 * Invariant 1, zero loss: at quiescence every `ok` send is displayed on every device of every
 * member of its conversation and is in the conversation's history; an `info` send is displayed
 * on all of those devices or on none.
 *
 * Decisions where INVARIANTS.md is silent:
 * - "Member" means a member for the message's whole ordering window, from the first
 *   invocation of its (sender, client_msg_id) to its first `sent` or first display anywhere
 *   (see internal/required.ts): someone who joined or left inside that window is excused.
 * - Devices are `history.devices` of those users, the sending device included; any display
 *   counts (the sending device usually shows it "own", but after a reconnect it may get its
 *   own message as new_message first, and the client then drops the `sent` display as a repeat).
 * - `info` sends are matched to displays by (sender user, client_msg_id). Once any device shows
 *   one, every required device must, except the devices that invoked it (they never got `sent`,
 *   and the server skips the sending connection); and its message_id must be in the history.
 * - A device disconnected at the end (it went offline for good; only real-cluster runs have
 *   such devices) cannot display: the message must be held for it in final.pending instead,
 *   which invariant 7 also judges (internal/required.ts, missingDisplays).
 * - Without quiescence nothing here can be judged: one violation says so (liveness is 10's job).
 * - An `ok` send without a message_id is a producer bug that blinds this check; it is reported.
 */
import type { History, Violation } from "./history.js";
import { derive, type Derived } from "./internal/derive.js";
import { dev, msg } from "./internal/describe.js";
import { missingDisplays } from "./internal/required.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 1;
export const NAME = "zero-loss";

export function checkZeroLoss(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  if (!history.final.quiescent) {
    const ok = history.sends.filter((s) => s.outcome === "ok").length;
    report.add(`The run never reached quiescence (final.quiescent is false), so zero loss cannot be judged for its ${ok} ok sends.`);
    return report.violations();
  }

  let ok = 0;
  for (const op of history.sends) {
    if (op.outcome === "ok") ok += 1;
    if (op.outcome === "ok" && op.message_id === null) {
      report.add(`The ok ${msg(null, op.client_msg_id)} by ${dev(op.device)} in ${op.conversation_id} records no message_id, so its delivery cannot be checked.`);
    }
  }

  report.judge("ok sends", ok);
  const counted = { required: 0 };
  for (const { facts, device } of missingDisplays(d, counted)) {
    if (report.full) {
      report.count();
      continue;
    }
    const what = msg(facts.message_id, facts.client_msg_id);
    report.add(
      facts.ok
        ? `${what} from ${facts.sender} in ${facts.conversation_id} was sent ok but never displayed on ${dev(device)}, a device of a member.`
        : `${what} from ${facts.sender} in ${facts.conversation_id} ended info and was displayed on some devices but never on ${dev(device)}, a device of a member (all or none).`,
    );
  }

  report.judge("deliveries", counted.required);
  let stored = 0;
  for (const facts of d.messages.values()) {
    if (!facts.ok && !facts.info) continue;
    stored += 1;
    if (d.historyIds.get(facts.conversation_id)?.has(facts.message_id) === true) continue;
    const senders = [...facts.sending_devices].join(", ");
    report.add(
      `${msg(facts.message_id, facts.client_msg_id)} sent by ${senders || facts.sender} (${facts.ok ? "ok" : "info, yet displayed"}) is missing from final.history of ${facts.conversation_id}.`,
    );
  }
  report.judge("messages", stored);
  return report.violations();
}

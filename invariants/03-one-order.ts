/**
 * Invariant 3, one order: all devices and the history agree on one order per conversation,
 * the order of message_id, and at quiescence there are no gaps.
 *
 * A device's relative order of two messages is their message_id order (a screen keeps a
 * conversation sorted by ID, own sends placed by ID), so "same relative order everywhere"
 * reduces to three checks:
 * - final.history of each conversation is strictly ascending (no duplicate, no inversion);
 * - on each device and connection, the new_message displays of one conversation arrive in
 *   strictly increasing message_id order (API rule 5: a client never re-sorts). Only distinct
 *   IDs are compared: a repeat of an ID the device already showed is invariant 5's business;
 * - at quiescence, every displayed ID is in the history of its conversation, and a device
 *   that displayed message m displayed every earlier history message of that conversation it
 *   must have (internal/required.ts: its user was a member for that message's whole ordering
 *   window; a message in the history that no send or display explains counts as ordered at
 *   an unknown time, so only a member for the whole run must have it). A device disconnected
 *   at the end is excused for an earlier message the pending store still holds for it
 *   (final.pending): it arrives on the next connection (invariants 1 and 7 judge the same).
 */
import type { History, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, SEP, type Derived } from "./internal/derive.js";
import { dev, msg } from "./internal/describe.js";
import { compareIds, maxId } from "./internal/ids.js";
import { mustHave } from "./internal/required.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 3;
export const NAME = "one-order";

export function checkOneOrder(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  checkHistoryOrder(history, report);
  checkConnectionOrder(history, report);
  if (history.final.quiescent) checkNoGaps(history, d, report);
  return report.violations();
}

function checkHistoryOrder(history: History, report: Report): void {
  for (const [conversation_id, ids] of Object.entries(history.final.history)) {
    report.judge("history entries", ids.length);
    for (let i = 1; i < ids.length; i++) {
      const before = ids[i - 1] as string;
      const after = ids[i] as string;
      const order = compareIds(before, after);
      if (order === 0) report.add(`final.history of ${conversation_id} holds ${msg(after)} twice in a row (position ${i}).`);
      else if (order > 0) report.add(`final.history of ${conversation_id} lists ${msg(after)} after the later ${msg(before)} (position ${i}).`);
    }
  }
}

function checkConnectionOrder(history: History, report: Report): void {
  const shownOnDevice = new Set<string>();
  const latestOnConnection = new Map<string, { message_id: string; client_msg_id: string }>();
  let judged = 0;
  for (const shown of history.displays) {
    const device = deviceKey(shown.device);
    const seenKey = device + SEP + shown.message_id;
    if (shownOnDevice.has(seenKey)) continue;
    shownOnDevice.add(seenKey);
    if (shown.via !== "new_message") continue;
    judged += 1;
    const lane = device + SEP + shown.connection + SEP + shown.conversation_id;
    const latest = latestOnConnection.get(lane);
    if (latest !== undefined && compareIds(shown.message_id, latest.message_id) < 0) {
      report.add(
        `On ${dev(shown.device)} connection ${shown.connection}, ${msg(shown.message_id, shown.client_msg_id)} of ${shown.conversation_id} arrived after the later ${msg(latest.message_id, latest.client_msg_id)}.`,
      );
      continue;
    }
    latestOnConnection.set(lane, { message_id: shown.message_id, client_msg_id: shown.client_msg_id });
  }
  report.judge("deliveries in connection order", judged);
}

function checkNoGaps(history: History, d: Derived, report: Report): void {
  const devices = new Map(history.devices.map((device) => [deviceKey(device), device]));
  for (const [key, shown] of d.firstDisplay) {
    const latestByConversation = new Map<string, string>();
    for (const display of shown.values()) {
      const ids = d.historyIds.get(display.conversation_id);
      if (ids?.has(display.message_id) !== true) {
        report.add(
          `${msg(display.message_id, display.client_msg_id)} displayed on ${dev(display.device)} in ${display.conversation_id} is missing from that conversation's final.history.`,
        );
      }
      latestByConversation.set(display.conversation_id, maxId(latestByConversation.get(display.conversation_id), display.message_id));
    }
    const device = devices.get(key) ?? shown.values().next().value?.device;
    if (device === undefined) continue;
    report.judge("device conversations without gaps", latestByConversation.size);
    for (const [conversation_id, latest] of latestByConversation) {
      for (const earlier of history.final.history[conversation_id] ?? []) {
        if (compareIds(earlier, latest) >= 0) continue;
        if (shown.has(earlier) || !mustHave(d, conversation_id, earlier, device)) continue;
        if (!d.connected.has(key) && d.pending.has(key + SEP + earlier)) continue;
        if (report.full) {
          report.count();
          continue;
        }
        const facts = d.messages.get(earlier);
        report.add(
          `${dev(device)} displayed ${msg(latest)} of ${conversation_id} but never the earlier ${msg(earlier, facts?.client_msg_id)}, a gap at quiescence.`,
        );
      }
    }
  }
}

/**
 * Invariant 5, exactly-once display: each (sender, client_msg_id) becomes exactly one
 * message_id; each device displays each message_id at most once, and exactly once at
 * quiescence when it must have it.
 *
 * Decisions where INVARIANTS.md is silent:
 * - "Becomes" is judged over ok sends (the `sent` receipt's ID) and displays (from +
 *   client_msg_id). ReceiptEvent carries no client_msg_id, so receipts cannot be tied to a
 *   send here; invariant 6 judges them by message_id.
 * - A repeat is a second display of one message_id on one device, on any connection.
 * - "Must have" is invariant 1's rule (internal/required.ts), so a missing display at
 *   quiescence is reported both here (never displayed) and under invariant 1 (lost).
 */
import type { History, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, SEP, sendKey, type Derived } from "./internal/derive.js";
import { dev, list, msg } from "./internal/describe.js";
import { missingDisplays } from "./internal/required.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 5;
export const NAME = "exactly-once";

export function checkExactlyOnce(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {

  const idsByKey = new Map<string, { user_id: string; client_msg_id: string; ids: Set<string> }>();
  const note = (user_id: string, client_msg_id: string, message_id: string): void => {
    const key = sendKey(user_id, client_msg_id);
    let entry = idsByKey.get(key);
    if (entry === undefined) idsByKey.set(key, (entry = { user_id, client_msg_id, ids: new Set() }));
    entry.ids.add(message_id);
  };
  for (const op of history.sends) if (op.outcome === "ok" && op.message_id !== null) note(op.device.user_id, op.client_msg_id, op.message_id);
  for (const shown of history.displays) note(shown.from, shown.client_msg_id, shown.message_id);
  report.judge("sends", idsByKey.size);
  report.judge("displays", history.displays.length);
  for (const { user_id, client_msg_id, ids } of idsByKey.values()) {
    if (ids.size > 1) {
      report.add(`client_msg_id ${client_msg_id} from ${user_id} became ${ids.size} different messages: ${list([...ids].map((id) => msg(id)))}.`);
    }
  }

  const repeats = new Map<string, { first_at: number; connections: Set<number>; count: number; message_id: string; client_msg_id: string; device: string }>();
  for (const shown of d.repeats) {
    const device = deviceKey(shown.device);
    const key = device + SEP + shown.message_id;
    let entry = repeats.get(key);
    if (entry === undefined) {
      const first = d.firstDisplay.get(device)?.get(shown.message_id);
      entry = { first_at: first?.at ?? shown.at, connections: new Set(first === undefined ? [] : [first.connection]), count: 1, message_id: shown.message_id, client_msg_id: shown.client_msg_id, device };
      repeats.set(key, entry);
    }
    entry.count += 1;
    entry.connections.add(shown.connection);
  }
  for (const r of repeats.values()) {
    report.add(
      `${msg(r.message_id, r.client_msg_id)} was displayed ${r.count} times on ${r.device} (first at ${r.first_at}, connections ${[...r.connections].join(", ")}).`,
    );
  }

  if (history.final.quiescent) {
    const counted = { required: 0 };
    for (const { facts, device } of missingDisplays(d, counted)) {
      if (report.full) {
        report.count();
        continue;
      }
      report.add(`${msg(facts.message_id, facts.client_msg_id)} from ${facts.sender} was displayed 0 times on ${dev(device)} at quiescence; it must be displayed exactly once.`);
    }
    report.judge("deliveries", counted.required);
  }
  return report.violations();
}

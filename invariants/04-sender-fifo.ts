/**
 * Invariant 4, sender FIFO: if a device invoked b after a's send was `ok`, in the same
 * conversation, then a is ordered before b (a.message_id < b.message_id). The history names
 * no gateways, so "even across gateways with skewed clocks" is simply the rule, for every pair.
 *
 * Decisions where INVARIANTS.md is silent:
 * - A message's sends are all the ops with its (sender, client_msg_id): retries are one
 *   message. b counts as invoked when its FIRST attempt was (any outcome; an early attempt
 *   that timed out may be the one that was ordered), a as ok when its FIRST `ok` came back.
 * - "invoked after ok" is inclusive: b.invoked_at >= a.completed_at.
 * - Only ok messages are compared; a pair whose IDs are equal is invariant 2's or 5's problem.
 *
 * Per (device, conversation) this is one sweep: messages sorted by ok time feed a running
 * maximum ID, and each b, in invocation order, is compared with the maximum of those ok by then.
 */
import type { History, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, SEP, sendKey, type Derived } from "./internal/derive.js";
import { dev, msg } from "./internal/describe.js";
import { compareIds } from "./internal/ids.js";
import { Report } from "./internal/report.js";
import type { DeviceRef } from "./history.js";

export const INVARIANT = 4;
export const NAME = "sender-fifo";

type Sent = { message_id: string; client_msg_id: string; invoked_at: number; ok_at: number; device: DeviceRef; conversation_id: string };

export function checkSenderFifo(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {

  const lanes = new Map<string, Map<string, Sent>>();
  for (const [message_id, ops] of d.okSendsById) {
    for (const op of ops) {
      if (op.completed_at === null) continue;
      const lane = deviceKey(op.device) + SEP + op.conversation_id;
      let sent = lanes.get(lane);
      if (sent === undefined) lanes.set(lane, (sent = new Map()));
      const invoked_at = d.firstInvokedByKey.get(sendKey(op.device.user_id, op.client_msg_id)) ?? op.invoked_at;
      const earlier = sent.get(message_id);
      if (earlier === undefined) {
        sent.set(message_id, { message_id, client_msg_id: op.client_msg_id, invoked_at, ok_at: op.completed_at, device: op.device, conversation_id: op.conversation_id });
      } else {
        earlier.invoked_at = Math.min(earlier.invoked_at, invoked_at);
        earlier.ok_at = Math.min(earlier.ok_at, op.completed_at);
      }
    }
  }

  for (const sent of lanes.values()) {
    report.judge("messages", sent.size);
    const byOk = [...sent.values()].sort((a, b) => a.ok_at - b.ok_at);
    const byInvocation = [...sent.values()].sort((a, b) => a.invoked_at - b.invoked_at);
    let next = 0;
    let highest: Sent | undefined;
    for (const b of byInvocation) {
      for (; next < byOk.length; next++) {
        const a = byOk[next] as Sent;
        if (a.ok_at > b.invoked_at) break;
        if (highest === undefined || compareIds(a.message_id, highest.message_id) > 0) highest = a;
      }
      if (highest === undefined || highest.message_id === b.message_id) continue;
      if (compareIds(highest.message_id, b.message_id) > 0) {
        report.add(
          `On ${dev(b.device)} in ${b.conversation_id}, ${msg(b.message_id, b.client_msg_id)} was invoked at ${b.invoked_at}, after ${msg(highest.message_id, highest.client_msg_id)} was ok at ${highest.ok_at}, yet was ordered before it.`,
        );
      }
    }
  }
  return report.violations();
}

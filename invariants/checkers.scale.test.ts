/**
 * The checkers at simulator scale: a synthetic, correct history of 10,000 messages across 100
 * group conversations, 500 users with two devices each (1,000 devices), about 100,000
 * displays and as many acks and receipts, must pass every checker. No timing assertion: a
 * quadratic checker shows up as this test timing out, not as a flaky threshold.
 */
import { describe, expect, it } from "vitest";
import type { AckEvent, DeviceRef, DisplayEvent, History, Membership, ReceiptEvent, SendOp } from "./history.js";
import { checkAll } from "./index.js";
import { id } from "./test-support.js";

const CONVERSATIONS = 100;
const USERS_PER_CONVERSATION = 5;
const DEVICES_PER_USER = 2;
const MESSAGES_PER_CONVERSATION = 100;

function syntheticHistory(): History {
  const devices: DeviceRef[] = [];
  const memberships: Membership[] = [];
  const sends: SendOp[] = [];
  const displays: DisplayEvent[] = [];
  const receipts: ReceiptEvent[] = [];
  const acks: AckEvent[] = [];
  const history: Record<string, string[]> = {};
  let next_id = 1;

  for (let c = 0; c < CONVERSATIONS; c++) {
    const conversation_id = `group:g${c}`;
    const members: DeviceRef[][] = [];
    for (let u = 0; u < USERS_PER_CONVERSATION; u++) {
      const user_id = `user-${c}-${u}`;
      memberships.push({ conversation_id, user_id, joined_at: null, left_at: null });
      const own: DeviceRef[] = [];
      for (let k = 0; k < DEVICES_PER_USER; k++) own.push({ user_id, device_id: `d${k}` });
      devices.push(...own);
      members.push(own);
    }
    const ids: string[] = (history[conversation_id] = []);
    for (let m = 0; m < MESSAGES_PER_CONVERSATION; m++) {
      // Conversations interleave in time; IDs grow with time, so every sender's FIFO holds.
      const at = m * 1000 + c;
      const message_id = id(next_id++);
      const sender = members[m % USERS_PER_CONVERSATION]?.[m % DEVICES_PER_USER] as DeviceRef;
      const client_msg_id = `cm-${c}-${m}`;
      const content = `message ${m} in ${c}`;
      sends.push({ device: sender, conversation_id, client_msg_id, content, invoked_at: at, outcome: "ok", message_id, completed_at: at + 10 });
      receipts.push({ device: sender, conversation_id, message_id, user_id: null, status: "sent", at: at + 10 });
      ids.push(message_id);
      for (const own of members) {
        for (const device of own) {
          const isSender = device === sender;
          displays.push({ device, conversation_id, message_id, from: sender.user_id, client_msg_id, content, at: isSender ? at + 10 : at + 20, connection: 1, via: isSender ? "own" : "new_message" });
          if (isSender) continue;
          acks.push({ device, conversation_id, message_id, status: "delivered", at: at + 21 });
          if (device.user_id !== sender.user_id && device.device_id === "d0") {
            receipts.push({ device: sender, conversation_id, message_id, user_id: device.user_id, status: "delivered", at: at + 22 });
          }
        }
      }
    }
  }

  const end = MESSAGES_PER_CONVERSATION * 1000;
  return {
    devices,
    memberships,
    sends,
    displays,
    receipts,
    acks,
    received: [],
    connections: devices.map((device) => ({ device, connection: 1, opened_at: 0, closed_at: null })),
    final: { quiescent: true, quiescent_at: end + 500, healed_at: end, history, pending: [], connected: devices, presence_watches: [] },
    delivery_bound_ms: 100,
    presence_bound_ms: 150,
  };
}

describe("checkers at scale", () => {
  it("pass a correct history of 10,000 messages, 1,000 devices and ~100,000 displays", () => {
    const h = syntheticHistory();
    expect(h.sends).toHaveLength(10_000);
    expect(h.devices).toHaveLength(1_000);
    expect(h.displays.length).toBe(100_000);
    expect(checkAll(h)).toEqual([]);
  });
});

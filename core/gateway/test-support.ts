/**
 * Builders shared by the gateway's unit and property tests: messages, live deliveries and an
 * opened connection. Pure, like the core.
 */
import { defaultLimits } from "../limits.js";
import type { Delivery, StoredMessage } from "../model.js";
import { isoFromMs } from "../model.js";
import type { ServerFrame } from "../protocol/frames.js";
import { gatewayInit, gatewayStep, type GatewayEffect, type GatewayState } from "./index.js";

export const CONV = "d.u0.u1";
export const UUID = "7f1c2b9e-8a4d-4c3b-9f2e-1a2b3c4d5e6f";

export function mid(n: number): string {
  return String(n).padStart(19, "0");
}

export function stored(n: number, prev: number | null, from = "u0", conversation_id = CONV): StoredMessage {
  return {
    message_id: mid(n),
    conversation_id,
    sender_id: from,
    sender_device_id: `${from}-d`,
    group_id: null,
    content: `m${n}`,
    type: "text",
    client_msg_id: UUID,
    sent_at_ms: 1_800_000_000_000 + n,
    prev_message_id: prev === null ? null : mid(prev),
  };
}

export function live(n: number, prev: number | null, conversation_id = CONV): Delivery {
  const m = stored(n, prev, "u0", conversation_id);
  return {
    kind: "message",
    connection_id: "c1",
    user_id: "u1",
    device_id: "d1",
    message: {
      message_id: m.message_id,
      conversation_id: m.conversation_id,
      from: m.sender_id,
      content: m.content,
      type: m.type,
      sent_at: isoFromMs(m.sent_at_ms),
      client_msg_id: m.client_msg_id,
    },
    prev_message_id: m.prev_message_id,
  };
}

export function open(limitsPatch: Partial<ReturnType<typeof defaultLimits>> = {}): { state: GatewayState; effects: GatewayEffect[] } {
  const limits = { ...defaultLimits(), ...limitsPatch };
  const state = gatewayInit({ gateway_id: "g1", connection_id: "c1", user_id: "u1", device_id: "d1", limits }, 0);
  const effects = [...gatewayStep(state, { type: "connection_opened", now_ms: 0 })];
  effects.push(...gatewayStep(state, { type: "session_registered", ok: true, now_ms: 0 }));
  return { state, effects };
}

export function frames(effects: GatewayEffect[]): ServerFrame[] {
  return effects.flatMap((e) => (e.type === "send_frame" ? [e.frame] : []));
}


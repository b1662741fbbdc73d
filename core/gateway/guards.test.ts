/**
 * Each guard of the gateway core, tested where it stands. In a whole system one layer's
 * guard masks another's bug (the client drops a backward receipt the gateway should not have
 * forwarded; a reconnect replays what a resync should have resent), so a swarm can miss a
 * broken guard that these tests cannot. Every guard's test runs twice: on the correct step,
 * where it must hold, and on the planted bug that breaks it (planted.ts), where it must fail
 * — a test that cannot fail checks nothing.
 */
import { describe, expect, it } from "vitest";
import type { PendingEntry } from "../model.js";
import type { ClientFrame } from "../protocol/frames.js";
import { gatewayInit, gatewayStep, gatewayStepFor, type GatewayEffect, type GatewayInput, type GatewayState, type GatewayVariant } from "./index.js";
import { CONV, frames, live, mid, stored } from "./test-support.js";
import { defaultLimits, type Limits } from "../limits.js";

type Step = (state: GatewayState, input: GatewayInput) => GatewayEffect[];

function entry(n: number, prev: number | null): PendingEntry {
  return { user_id: "u1", device_id: "d1", message: stored(n, prev) };
}

function ackFrame(n: number, status: "delivered" | "read" = "delivered"): ClientFrame {
  return { event: "ack", data: { message_id: mid(n), status, conversation_id: CONV } };
}

/** A connection through `step`, live after an empty first scan. */
function liveConnection(step: Step, patch: Partial<Limits> = {}): GatewayState {
  const state = gatewayInit({ gateway_id: "g1", connection_id: "c1", user_id: "u1", device_id: "d1", limits: { ...defaultLimits(), ...patch } }, 0);
  step(state, { type: "connection_opened", now_ms: 0 });
  step(state, { type: "session_registered", ok: true, now_ms: 0 });
  step(state, { type: "pending_page_read", read_id: 1, entries: [], now_ms: 1 });
  expect(state.phase).toBe("live");
  return state;
}

function newMessages(effects: GatewayEffect[]): string[] {
  return frames(effects).flatMap((f) => (f.event === "new_message" ? [f.data.message_id] : []));
}

function appendsAck(effects: GatewayEffect[], n: number): boolean {
  return effects.some((e) => e.type === "append_to_log" && e.record.kind === "ack" && e.record.message_id === mid(n));
}

/** Each guard: a scenario that returns whether the guard held. */
const guards: { name: string; planted: GatewayVariant; holds: (step: Step) => boolean }[] = [
  {
    name: "a resync sends again what this connection emitted but no ack made durable (an ack lost on a live socket)",
    planted: "resync_skips_emitted",
    holds: (step) => {
      const state = liveConnection(step);
      expect(newMessages(step(state, { type: "delivery_received", delivery: live(1, null), now_ms: 2 }))).toEqual([mid(1)]);
      // The client's ack never arrives. The next resync finds the entry still pending.
      const at = 2 + state.config.limits.pendingResyncIntervalMs;
      const resync = step(state, { type: "frame_received", frame: { event: "heartbeat", data: {} }, now_ms: at });
      const read = resync.find((e) => e.type === "read_pending_page");
      if (read === undefined || read.type !== "read_pending_page") throw new Error("no resync was started");
      return newMessages(step(state, { type: "pending_page_read", read_id: read.read_id, entries: [entry(1, null)], now_ms: at + 1 })).includes(mid(1));
    },
  },
  {
    name: "an ack whose append failed past the retry budget is appended again when the client acks again",
    planted: "ack_given_up_as_durable",
    holds: (step) => {
      const state = liveConnection(step);
      step(state, { type: "delivery_received", delivery: live(1, null), now_ms: 2 });
      const first = step(state, { type: "frame_received", frame: ackFrame(1), now_ms: 3 });
      const record = first.find((e) => e.type === "append_to_log");
      if (record === undefined || record.type !== "append_to_log") throw new Error("the ack was not appended");
      for (let attempt = 0; attempt <= state.config.limits.ackAppendAttemptsMax; attempt++) {
        step(state, { type: "append_completed", record: record.record, ok: false, now_ms: 4 + attempt });
      }
      expect(state.ack_retries.size).toBe(0); // the budget is spent
      return appendsAck(step(state, { type: "frame_received", frame: ackFrame(1), now_ms: 100 }), 1);
    },
  },
  {
    name: "an ack is taken with the frame bucket empty: a client must be able to ack a replay of any size",
    planted: "acks_rate_limited",
    holds: (step) => {
      const state = liveConnection(step, { connectionFramesBurst: 2, connectionFramesPerSecond: 1 });
      step(state, { type: "delivery_received", delivery: live(1, null), now_ms: 2 });
      for (let i = 0; i < 3; i++) step(state, { type: "frame_received", frame: { event: "typing", data: { to: "u9" } }, now_ms: 2 });
      expect(state.tokens).toBeLessThan(1);
      const out = step(state, { type: "frame_received", frame: ackFrame(1), now_ms: 2 });
      return appendsAck(out, 1) && !frames(out).some((f) => f.event === "error");
    },
  },
  {
    name: "a frame sent within the contract right after a burst the node read late is taken (the bucket runs by when frames may have arrived)",
    planted: "frames_limited_by_read_time",
    holds: (step) => {
      const state = liveConnection(step, { connectionFramesBurst: 5, connectionFramesPerSecond: 1 });
      // Five frames at 0 ms and one at 2 s, all read at 3 s (the node was busy): the client
      // kept to 5 + 1/s by its own clock.
      let refused = 0;
      for (let i = 0; i < 6; i++) {
        refused += frames(step(state, { type: "frame_received", frame: { event: "typing", data: { to: "u9" } }, now_ms: 3_000 })).filter((f) => f.event === "error").length;
      }
      return refused === 0;
    },
  },
  {
    name: "the pending scan reads the next page after a full one",
    planted: "scan_stops_at_full_page",
    holds: (step) => {
      const state = gatewayInit({ gateway_id: "g1", connection_id: "c1", user_id: "u1", device_id: "d1", limits: { ...defaultLimits(), pendingPageEntriesMax: 2 } }, 0);
      step(state, { type: "connection_opened", now_ms: 0 });
      step(state, { type: "session_registered", ok: true, now_ms: 0 });
      const out = step(state, { type: "pending_page_read", read_id: 1, entries: [entry(1, null), entry(2, 1)], now_ms: 1 });
      return out.some((e) => e.type === "read_pending_page" && e.after !== null && e.after.message_id === mid(2));
    },
  },
  {
    // The client's own guard is not relied on: the gateway's must hold where it stands.
    name: "forwards a recipient's receipt only when it moves forward",
    planted: "receipt_goes_back",
    holds: (step) => {
      const state = liveConnection(step);
      const receipt = (status: "delivered" | "read") => ({
        kind: "receipt" as const,
        connection_id: "c1",
        prev_message_id: null,
        receipt: { message_id: mid(1), conversation_id: CONV, status, user_id: "u2" },
      });
      const statuses = (["delivered", "read", "delivered", "read"] as const).flatMap((s) =>
        frames(step(state, { type: "delivery_received", delivery: receipt(s), now_ms: 5 })).flatMap((f) => (f.event === "delivery_receipt" ? [f.data.status] : [])),
      );
      return statuses.join(",") === "delivered,read";
    },
  },
  {
    name: "a subscription that brings the watch list to exactly the cap is accepted (only one past it is refused)",
    planted: "subscription_cap_at_max",
    holds: (step) => {
      const state = liveConnection(step, { presenceSubscriptionsPerConnectionMax: 3 });
      step(state, { type: "frame_received", frame: { event: "subscribe_presence", data: { user_ids: ["u2"] } }, now_ms: 2 });
      const at_cap = step(state, { type: "frame_received", frame: { event: "subscribe_presence", data: { user_ids: ["u2", "u3", "u4"] } }, now_ms: 3 });
      const over = step(state, { type: "frame_received", frame: { event: "subscribe_presence", data: { user_ids: ["u5"] } }, now_ms: 4 });
      const refused = (out: GatewayEffect[]): boolean => frames(out).some((f) => f.event === "error" && f.data.code === "TOO_MANY_SUBSCRIPTIONS");
      return at_cap.some((e) => e.type === "presence_subscribe") && !refused(at_cap) && refused(over) && state.subscriptions.size === 3;
    },
  },
];

describe("gateway guards, each where it stands", () => {
  for (const g of guards) {
    it(`${g.name}: holds on the correct step`, () => {
      expect(g.holds(gatewayStep)).toBe(true);
    });
    it(`${g.name}: fails on the planted bug ${g.planted}`, () => {
      expect(g.holds(gatewayStepFor(g.planted))).toBe(false);
    });
  }
});

describe("the per-connection bound on conversation streams (conversationStreamsPerConnectionMax)", () => {
  const convo = (k: number): string => `d.u1.x${k}`;
  const readsOf = (effects: GatewayEffect[]): Extract<GatewayEffect, { type: "read_pending_conversation" }>[] =>
    effects.flatMap((e) => (e.type === "read_pending_conversation" ? [e] : []));

  it("forgets the oldest idle stream past the bound; that conversation's next message comes through a pending read", () => {
    const state = liveConnection(gatewayStep, { conversationStreamsPerConnectionMax: 2 });
    // Contiguous first messages in three conversations: each is emitted at once.
    for (const k of [1, 2, 3]) expect(newMessages(gatewayStep(state, { type: "delivery_received", delivery: live(10 * k, null, convo(k)), now_ms: 2 }))).toEqual([mid(10 * k)]);
    expect([...state.streams.keys()]).toEqual([convo(2), convo(3)]);
    // Conversation 1 was forgotten: its next message, though contiguous, is not emitted blind.
    const next = gatewayStep(state, { type: "delivery_received", delivery: live(11, 10, convo(1)), now_ms: 3 });
    expect(newMessages(next)).toEqual([]);
    const [read] = readsOf(next);
    expect(read).toMatchObject({ conversation_id: convo(1), after_message_id: null });
    const entries = [10, 11].map((n) => ({ user_id: "u1", device_id: "d1", message: stored(n, n === 10 ? null : n - 1, "u0", convo(1)) }));
    // What is still pending is emitted again (the client drops 10 as a repeat), in order.
    expect(newMessages(gatewayStep(state, { type: "pending_conversation_read", read_id: read!.read_id, conversation_id: convo(1), entries, now_ms: 4 }))).toEqual([mid(10), mid(11)]);
    expect(state.streams.size).toBe(2);
  });

  it("keeps a stream with a read in flight; a message for a new conversation then stays pending", () => {
    const state = liveConnection(gatewayStep, { conversationStreamsPerConnectionMax: 1 });
    // A gap: the stream reads the conversation's pending entries, and is not idle meanwhile.
    expect(readsOf(gatewayStep(state, { type: "delivery_received", delivery: live(12, 11, convo(1)), now_ms: 2 }))).toHaveLength(1);
    const other = gatewayStep(state, { type: "delivery_received", delivery: live(20, null, convo(2)), now_ms: 3 });
    expect(newMessages(other)).toEqual([]);
    expect([...state.streams.keys()]).toEqual([convo(1)]);
  });

  it("asserts every table's bound after each step", () => {
    const state = liveConnection(gatewayStep);
    for (let i = 0; i <= state.config.limits.sendsInFlightPerConnectionMax; i++) state.sends.set(`s${i}`, { client_msg_id: `s${i}`, phase: "appending", since_ms: 0 });
    expect(() => gatewayStep(state, { type: "timer_fired", now_ms: 5 })).toThrow(/sends holds 1001, over its bound 1000/);
  });
});

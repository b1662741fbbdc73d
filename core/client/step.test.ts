import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { defaultLimits } from "../limits.js";
import type { NewMessageData, ServerFrame } from "../protocol/frames.js";
import { clientInit, clientStep, type ClientEffect, type ClientState } from "./index.js";

const seed = Number(process.env.FC_SEED ?? 20261128);
const U = (n: number): string => `7f1c2b9e-8a4d-4c3b-9f2e-${String(n).padStart(12, "0")}`;
const mid = (n: number): string => String(n).padStart(19, "0");

function connected(): ClientState {
  const s = clientInit("u1", "d1", defaultLimits());
  clientStep(s, { type: "start", now_ms: 0 });
  clientStep(s, { type: "connected", now_ms: 0 });
  return s;
}

function msg(n: number, conversation_id = "d.u0.u1", from = "u0"): NewMessageData {
  return { message_id: mid(n), conversation_id, from, content: `m${n}`, type: "text", sent_at: "2026-11-28T00:00:00.000Z", client_msg_id: U(900 + n) };
}

function sentFrames(out: ClientEffect[]): string[] {
  return out.flatMap((e) => (e.type === "send_frame" ? [`${e.frame.event}:${"client_msg_id" in e.frame.data ? e.frame.data.client_msg_id : ""}`] : []));
}

function frame(f: ServerFrame, now_ms = 1): { type: "frame_received"; frame: ServerFrame; now_ms: number } {
  return { type: "frame_received", frame: f, now_ms };
}

describe("client: sends", () => {
  it("connects on start and sends what was queued once connected", () => {
    const s = clientInit("u1", "d1", defaultLimits());
    expect(clientStep(s, { type: "start", now_ms: 0 })).toEqual([{ type: "connect" }]);
    expect(clientStep(s, { type: "send_requested", target: { kind: "direct", to: "u0" }, content: "hi", message_type: "text", client_msg_id: U(1), now_ms: 0 })).toEqual([]);
    expect(sentFrames(clientStep(s, { type: "connected", now_ms: 1 }))).toEqual([`send_message:${U(1)}`]);
  });

  it("keeps one send in flight per conversation, so the server sees our order", () => {
    const s = connected();
    const a = clientStep(s, { type: "send_requested", target: { kind: "direct", to: "u0" }, content: "a", message_type: "text", client_msg_id: U(1), now_ms: 1 });
    const b = clientStep(s, { type: "send_requested", target: { kind: "direct", to: "u0" }, content: "b", message_type: "text", client_msg_id: U(2), now_ms: 1 });
    const g = clientStep(s, { type: "send_requested", target: { kind: "group", group_id: "g1" }, content: "g", message_type: "text", client_msg_id: U(3), now_ms: 1 });
    expect(sentFrames(a)).toEqual([`send_message:${U(1)}`]);
    expect(sentFrames(b)).toEqual([]);
    expect(sentFrames(g)).toEqual([`send_group_message:${U(3)}`]);
    const out = clientStep(s, frame({ event: "delivery_receipt", data: { message_id: mid(5), conversation_id: "d.u0.u1", status: "sent", client_msg_id: U(1) } }));
    expect(out.filter((e) => e.type === "send_settled")).toEqual([{ type: "send_settled", client_msg_id: U(1), outcome: { kind: "ok", message_id: mid(5) } }]);
    expect(out.find((e) => e.type === "display")).toMatchObject({ message: { message_id: mid(5), from: "u1", content: "a" } });
    expect(sentFrames(out)).toEqual([`send_message:${U(2)}`]);
  });

  it("retries with the same client_msg_id after a timeout, with backoff", () => {
    const s = connected();
    clientStep(s, { type: "send_requested", target: { kind: "direct", to: "u0" }, content: "a", message_type: "text", client_msg_id: U(1), now_ms: 0 });
    expect(sentFrames(clientStep(s, { type: "timer_fired", now_ms: 4_999, random: 0 }))).toEqual([]);
    expect(sentFrames(clientStep(s, { type: "timer_fired", now_ms: 5_000, random: 0 }))).toEqual([`send_message:${U(1)}`]);
    expect(sentFrames(clientStep(s, { type: "timer_fired", now_ms: 14_999, random: 0 }))).toEqual([]);
    expect(sentFrames(clientStep(s, { type: "timer_fired", now_ms: 15_000, random: 0 }))).toEqual([`send_message:${U(1)}`]);
  });

  it("fails a send on a non-retryable error and retries a retryable one", () => {
    const s = connected();
    clientStep(s, { type: "send_requested", target: { kind: "group", group_id: "g1" }, content: "a", message_type: "text", client_msg_id: U(1), now_ms: 0 });
    const retry = clientStep(s, frame({ event: "error", data: { code: "LOG_UNAVAILABLE", message: "x", client_msg_id: U(1), retryable: true } }));
    expect(retry.some((e) => e.type === "send_settled")).toBe(false);
    const fail = clientStep(s, frame({ event: "error", data: { code: "NOT_A_MEMBER", message: "no", client_msg_id: U(1), retryable: false } }));
    expect(fail.filter((e) => e.type === "send_settled")).toEqual([
      { type: "send_settled", client_msg_id: U(1), outcome: { kind: "fail", code: "NOT_A_MEMBER", message: "no" } },
    ]);
  });
});

describe("client: receiving", () => {
  it("displays once, acks every copy, and reports out-of-order frames", () => {
    const s = connected();
    const first = clientStep(s, frame({ event: "new_message", data: msg(2) }));
    expect(first.filter((e) => e.type === "display")).toHaveLength(1);
    expect(sentFrames(first)).toEqual(["ack:"]);
    const again = clientStep(s, frame({ event: "new_message", data: msg(2) }));
    expect(again.filter((e) => e.type === "display")).toHaveLength(0);
    expect(again).toContainEqual({ type: "observed", what: "duplicate_dropped" });
    expect(sentFrames(again)).toEqual(["ack:"]);
    expect(clientStep(s, frame({ event: "new_message", data: msg(1) }))).toContainEqual({ type: "observed", what: "out_of_order" });
  });

  it("acks read for what it displayed from others when asked", () => {
    const s = connected();
    clientStep(s, frame({ event: "new_message", data: msg(1) }));
    clientStep(s, frame({ event: "new_message", data: msg(2) }));
    const out = clientStep(s, { type: "read_requested", conversation_id: "d.u0.u1", now_ms: 2 });
    expect(out.map((e) => (e.type === "send_frame" && e.frame.event === "ack" ? `${e.frame.data.message_id}:${e.frame.data.status}` : ""))).toEqual([
      `${mid(1)}:read`,
      `${mid(2)}:read`,
    ]);
    expect(clientStep(s, { type: "read_requested", conversation_id: "d.u0.u1", now_ms: 3 })).toEqual([]);
  });

  it("shows receipts only when they move forward", () => {
    const s = connected();
    const r = (status: "delivered" | "read") => clientStep(s, frame({ event: "delivery_receipt", data: { message_id: mid(1), conversation_id: "d.u0.u1", status, user_id: "u0" } }));
    expect(r("read").map((e) => e.type)).toEqual(["receipt_changed"]);
    expect(r("delivered")).toEqual([]);
  });
});

describe("client: connection", () => {
  it("reconnects with capped, jittered exponential backoff", () => {
    const s = connected();
    const lost = clientStep(s, { type: "connection_lost", now_ms: 0, random: 0 });
    expect(lost).toContainEqual({ type: "set_timer", at_ms: 125 });
    expect(clientStep(s, { type: "timer_fired", now_ms: 125, random: 0 })).toEqual([{ type: "connect" }]);
    clientStep(s, { type: "connection_lost", now_ms: 200, random: 1 });
    expect(s.reconnect_at_ms).toBe(200 + 500);
    for (let i = 0; i < 30; i++) clientStep(s, { type: "connection_lost", now_ms: 1_000, random: 0.5 });
    expect(s.reconnect_at_ms).toBe(1_000 + 22_500);
  });

  it("asks again for its reconnect timer when woken early", () => {
    const s = connected();
    clientStep(s, { type: "connection_lost", now_ms: 0, random: 0 });
    expect(clientStep(s, { type: "timer_fired", now_ms: 50, random: 0 })).toEqual([{ type: "set_timer", at_ms: 125 }]);
  });

  it("sends a heartbeat every interval while connected", () => {
    const s = connected();
    expect(sentFrames(clientStep(s, { type: "timer_fired", now_ms: 30_000, random: 0 }))).toEqual(["heartbeat:"]);
  });

  it("reconnects at once when the gateway drains", () => {
    const s = connected();
    expect(clientStep(s, frame({ event: "reconnect", data: { reason: "draining" } }))).toEqual([{ type: "disconnect" }, { type: "connect" }]);
  });
});

describe("client properties", () => {
  const serverFrames = fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant("message" as const), n: fc.integer({ min: 1, max: 15 }), conv: fc.constantFrom("d.u0.u1", "g.g1") }),
      fc.record({ kind: fc.constant("lost" as const) }),
      fc.record({ kind: fc.constant("connected" as const) }),
    ),
    { maxLength: 120 },
  );

  it(`never displays a message twice and acks every copy (seed ${seed})`, () => {
    fc.assert(
      fc.property(serverFrames, (events) => {
        const s = connected();
        const displayed: string[] = [];
        let copies = 0;
        let acks = 0;
        for (const e of events) {
          const out =
            e.kind === "message"
              ? (copies++, clientStep(s, frame({ event: "new_message", data: msg(e.n, e.conv) })))
              : e.kind === "lost"
                ? clientStep(s, { type: "connection_lost", now_ms: 1, random: 0.5 })
                : clientStep(s, { type: "connected", now_ms: 1 });
          for (const o of out) {
            if (o.type === "display") displayed.push(`${o.message.conversation_id}/${o.message.message_id}`);
            if (o.type === "send_frame" && o.frame.event === "ack") acks++;
          }
        }
        expect(new Set(displayed).size).toBe(displayed.length);
        expect(acks).toBe(copies);
      }),
      { seed, numRuns: 300 },
    );
  });

  it(`every send settles once, in request order per conversation, with one client_msg_id throughout (seed ${seed})`, () => {
    const script = fc.array(fc.constantFrom("send_a", "send_g", "answer", "lost", "connected", "tick", "dup_answer"), { maxLength: 150 });
    fc.assert(
      fc.property(script, (steps) => {
        const s = connected();
        let now = 0;
        let next = 1;
        let up = true;
        const requested: Record<string, string[]> = { a: [], g: [] };
        const settled: string[] = [];
        const onWire: { id: string; lane: string }[] = [];
        let answered: { id: string; lane: string } | null = null;
        const run = (out: ClientEffect[]): void => {
          for (const o of out) {
            if (o.type === "send_settled") settled.push(o.client_msg_id);
            if (o.type === "send_frame" && (o.frame.event === "send_message" || o.frame.event === "send_group_message")) {
              onWire.push({ id: o.frame.data.client_msg_id, lane: o.frame.event === "send_message" ? "a" : "g" });
            }
          }
        };
        for (const step of steps) {
          now += 1_000;
          if (step === "send_a" || step === "send_g") {
            const id = U(next++);
            const lane = step === "send_a" ? "a" : "g";
            requested[lane]!.push(id);
            run(clientStep(s, { type: "send_requested", target: lane === "a" ? { kind: "direct", to: "u0" } : { kind: "group", group_id: "g1" }, content: "x", message_type: "text", client_msg_id: id, now_ms: now }));
          } else if (step === "answer" && up && onWire.length > 0) {
            answered = onWire.shift()!;
            const conv = answered.lane === "a" ? "d.u0.u1" : "g.g1";
            run(clientStep(s, frame({ event: "delivery_receipt", data: { message_id: mid(next++), conversation_id: conv, status: "sent", client_msg_id: answered.id } }, now)));
          } else if (step === "dup_answer" && answered !== null && up) {
            const conv = answered.lane === "a" ? "d.u0.u1" : "g.g1";
            run(clientStep(s, frame({ event: "delivery_receipt", data: { message_id: mid(next++), conversation_id: conv, status: "sent", client_msg_id: answered.id } }, now)));
          } else if (step === "lost" && up) {
            up = false;
            onWire.length = 0;
            run(clientStep(s, { type: "connection_lost", now_ms: now, random: 0.3 }));
          } else if (step === "connected" && !up) {
            up = true;
            run(clientStep(s, { type: "connected", now_ms: now }));
          } else if (step === "tick") {
            run(clientStep(s, { type: "timer_fired", now_ms: now, random: 0.3 }));
          }
        }
        expect(new Set(settled).size).toBe(settled.length);
        const all = [...requested.a!, ...requested.g!];
        for (const id of settled) expect(all).toContain(id);
        for (const lane of ["a", "g"]) {
          const order = settled.filter((id) => requested[lane]!.includes(id));
          expect(order).toEqual(requested[lane]!.slice(0, order.length));
        }
      }),
      { seed, numRuns: 300 },
    );
  });
});

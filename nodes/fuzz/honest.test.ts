/**
 * HonestLoad on fake sockets: the resend schedule a contract client keeps (a pause doubling
 * per refusal, capped; an unanswered send again after the unanswered timeout; nothing resent
 * once `sent` came) and the ledger's classes of loss.
 */
import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { HonestLoad } from "./honest.js";

class FakeSocket extends EventEmitter {
  readyState: number = WebSocket.OPEN;
  readonly sent: string[] = [];
  send(text: string): void {
    this.sent.push(text);
  }
  frame(event: string, data: Record<string, unknown>): void {
    this.emit("message", Buffer.from(JSON.stringify({ event, data })));
  }
}

const backoff = { refused_base_ms: 100, refused_max_ms: 400, unanswered_ms: 5_000, unanswered_max_ms: 20_000 };

function setup(): { load: HonestLoad; a: FakeSocket; b: FakeSocket } {
  const a = new FakeSocket();
  const b = new FakeSocket();
  // random() = 0.5: the jitter factor (0.5 + random) is exactly 1.
  const load = new HonestLoad([a, b] as unknown as WebSocket[], [{ user_id: "u-a" }, { user_id: "u-b" }], backoff, () => 0.5);
  return { load, a, b };
}

const idOf = (frame: string): string => (JSON.parse(frame) as { data: { client_msg_id: string } }).data.client_msg_id;

describe("HonestLoad: a client written from the contract", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("resends a refused send with the same client_msg_id after a pause that doubles per refusal, up to the cap", () => {
    const { load, a, b } = setup();
    load.sendNext();
    const id = idOf(a.sent[0]!);
    const refuse = (): void => a.frame("error", { code: "OVERLOADED", message: "busy", retryable: true, client_msg_id: id });
    const waits = [100, 200, 400, 400];
    for (const wait of waits) {
      refuse();
      vi.advanceTimersByTime(wait - 1);
      const before = a.sent.length;
      vi.advanceTimersByTime(1);
      expect(a.sent.length, `resent after ${wait} ms`).toBe(before + 1);
      expect(idOf(a.sent.at(-1)!)).toBe(id);
    }
    a.frame("delivery_receipt", { message_id: "m1", conversation_id: "c", status: "sent", client_msg_id: id });
    b.frame("new_message", { message_id: "m1", conversation_id: "c", from: "u-a", content: "x", type: "text", sent_at: "t", client_msg_id: id });
    expect(JSON.parse(b.sent.at(-1)!)).toEqual({ event: "ack", data: { message_id: "m1", status: "delivered" } });
    const v = load.verdict();
    expect(v).toMatchObject({ sent: 1, attempts: 5, refusals: 4, refused_messages: 1, refused_then_delivered: 1, delivered: 1, lost: 0 });
    expect(v.refusals_by_code).toEqual({ OVERLOADED: 4 });
  });

  it("resends an unanswered send after the unanswered timeout, doubling; never after its `sent`", () => {
    const { load, a } = setup();
    load.sendNext();
    const id = idOf(a.sent[0]!);
    vi.advanceTimersByTime(5_000);
    expect(a.sent).toHaveLength(2);
    vi.advanceTimersByTime(9_999);
    expect(a.sent).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(a.sent).toHaveLength(3);
    a.frame("delivery_receipt", { message_id: "m1", conversation_id: "c", status: "sent", client_msg_id: id });
    vi.advanceTimersByTime(120_000);
    expect(a.sent).toHaveLength(3);
    load.stop();
    // Acknowledged as durable and never delivered: the broken promise, told apart.
    expect(load.verdict()).toMatchObject({ unanswered_resends: 2, accepted: 1, lost: 1, lost_after_sent: 1, lost_refused: 0, lost_unanswered: 0 });
  });

  it("takes a refusal of a resend whose message was already delivered as late, not as a stray error", () => {
    const { load, a, b } = setup();
    load.sendNext();
    const id = idOf(a.sent[0]!);
    vi.advanceTimersByTime(5_000); // no `sent` yet: resent
    expect(a.sent).toHaveLength(2);
    b.frame("new_message", { message_id: "m1", conversation_id: "c", from: "u-a", content: "x", type: "text", sent_at: "t", client_msg_id: id });
    a.frame("error", { code: "OVERLOADED", message: "busy", retryable: true, client_msg_id: id });
    a.frame("error", { code: "OVERLOADED", message: "busy", retryable: true, client_msg_id: "00000000-0000-4000-8000-00000000beef" });
    vi.advanceTimersByTime(60_000);
    expect(a.sent).toHaveLength(2);
    expect(load.verdict()).toMatchObject({ delivered: 1, lost: 0, late_refusals: 1, refusals: 0, errors_other: 1, errors_other_by_code: { OVERLOADED: 1 }, errors_by_code: {} });
  });

  it("counts a non-retryable error and does not resend it", () => {
    const { load, a } = setup();
    load.sendNext();
    const id = idOf(a.sent[0]!);
    a.frame("error", { code: "UNKNOWN_USER", message: "no such user", retryable: false, client_msg_id: id });
    a.frame("error", { code: "INVALID_FRAME", message: "?", retryable: false });
    expect(load.verdict()).toMatchObject({ errors_by_code: { UNKNOWN_USER: 1 }, errors_other: 1, lost: 1, lost_error: 1, lost_unanswered: 0 });
    vi.advanceTimersByTime(120_000);
    expect(a.sent).toHaveLength(1);
  });
});

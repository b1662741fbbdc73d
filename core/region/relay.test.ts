import { describe, expect, it } from "vitest";
import type { PendingEntry } from "../model.js";
import { orderingRegion, type RegionMap } from "./home.js";
import { GIVE_UP_AFTER_ATTEMPTS, relayStepFor } from "./planted.js";
import { DEFAULT_RELAY_POLICY, relayDeliveries, relayLaneInit, relayStep, type OutboxItem, type RelayEffect } from "./relay.js";

const policy = DEFAULT_RELAY_POLICY;
const entry = (user_id: string, device_id: string, message_id: string): PendingEntry => ({
  user_id,
  device_id,
  message: { message_id, conversation_id: "d.a.b", sender_id: "a", sender_device_id: "a-d0", group_id: null, content: "hi", type: "text", client_msg_id: "c", sent_at_ms: 0, prev_message_id: null },
});
const items: OutboxItem[] = [
  { seq: 7, op: { kind: "put", entries: [entry("b", "b-d0", "m1")] } },
  { seq: 9, op: { kind: "remove", user_id: "b", device_id: "b-d0", conversation_id: "d.a.b", message_id: "m0" } },
];

describe("the cross-region relay lane", () => {
  it("sends the head, trims through its last seq only once acknowledged, then reads again", () => {
    const lane = relayLaneInit("1");
    expect(relayStep(lane, { type: "wake", now_ms: 0 }, policy)).toEqual([{ type: "read_head", max: policy.batch_max }]);
    expect(relayStep(lane, { type: "read", items, now_ms: 1 }, policy)).toEqual([{ type: "send", items }]);
    const sent = relayStep(lane, { type: "sent", ok: true, now_ms: 2 }, policy);
    expect(sent).toContainEqual({ type: "trim", through: 9 });
    expect(relayStep(lane, { type: "trimmed", ok: true, now_ms: 3 }, policy)).toEqual([{ type: "read_head", max: policy.batch_max }]);
    expect(lane.batch).toBeNull();
  });

  it("retries a failed batch with capped backoff forever, and never trims it unsent", () => {
    const lane = relayLaneInit("1");
    relayStep(lane, { type: "wake", now_ms: 0 }, policy);
    relayStep(lane, { type: "read", items, now_ms: 0 }, policy);
    let now = 0;
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 40; attempt++) {
      const out: RelayEffect[] = relayStep(lane, { type: "sent", ok: false, now_ms: now }, policy);
      expect(out.some((e) => e.type === "trim")).toBe(false);
      const timer = out.find((e) => e.type === "set_timer");
      if (timer?.type !== "set_timer") throw new Error("no retry timer");
      delays.push(timer.at_ms - now);
      now = timer.at_ms;
      expect(relayStep(lane, { type: "wake", now_ms: now }, policy)).toEqual([{ type: "send", items }]);
    }
    expect(Math.max(...delays)).toBe(policy.retry_max_ms);
    expect(delays[0]).toBeLessThan(delays[3]!);
  });

  it("the planted relay_gives_up variant trims a batch it never delivered (what the swarm must catch)", () => {
    const step = relayStepFor("relay_gives_up");
    const lane = relayLaneInit("1");
    step(lane, { type: "wake", now_ms: 0 }, policy);
    step(lane, { type: "read", items, now_ms: 0 }, policy);
    let out: RelayEffect[] = [];
    for (let attempt = 1; attempt <= GIVE_UP_AFTER_ATTEMPTS; attempt++) {
      out = step(lane, { type: "sent", ok: false, now_ms: attempt }, policy);
      if (attempt < GIVE_UP_AFTER_ATTEMPTS) step(lane, { type: "wake", now_ms: attempt }, policy);
    }
    expect(out).toContainEqual({ type: "trim", through: 9 });
  });

  it("hands each put entry to the live connections of its device only", () => {
    const sessions = new Map([["b", [{ user_id: "b", device_id: "b-d0", gateway_id: "gw-1", connection_id: "c1" }, { user_id: "b", device_id: "b-d1", gateway_id: "gw-3", connection_id: "c2" }]]]);
    const out = relayDeliveries([entry("b", "b-d0", "m1")], sessions);
    expect([...out.keys()]).toEqual(["gw-1"]);
    expect(out.get("gw-1")![0]).toMatchObject({ kind: "message", connection_id: "c1", device_id: "b-d0" });
  });
});

describe("the ordering region", () => {
  const map: RegionMap = { homeOf: (u) => (u === "alice" ? "eu" : "us"), creatorOf: (g) => (g === "g1" ? "alice" : null), fallback: "eu" };
  it("is the lower user's home for a direct chat, the creator's for a group, the fallback otherwise", () => {
    expect(orderingRegion(map, "d.alice.bob")).toBe("eu");
    expect(orderingRegion(map, "d.bob.carol")).toBe("us");
    expect(orderingRegion(map, "g.g1")).toBe("eu");
    expect(orderingRegion(map, "g.unknown")).toBe("eu");
    expect(orderingRegion(map, "nonsense")).toBe("eu");
  });
});

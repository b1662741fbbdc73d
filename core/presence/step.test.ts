/**
 * The presence step, fed by hand: each test gives inputs and checks the effects that come
 * out, and where it matters the state left behind.
 */
import { describe, expect, it } from "vitest";
import { LAPSES_SLACK, presenceClone, presenceInit, presenceOf, presenceStep } from "./index.js";
import type { PresenceCoreState, PresenceEffect, PresenceInput } from "./index.js";

const TTL_MS = 100;

function fresh(subscriptions_max = 10): PresenceCoreState {
  return presenceInit({ presenceSubscriptionsPerConnectionMax: subscriptions_max });
}

function step(state: PresenceCoreState, input: PresenceInput): PresenceEffect[] {
  return presenceStep(state, input).effects;
}

const beat = (user_id: string, connection_id: string, now_ms: number, ttl_ms = TTL_MS): PresenceInput => ({
  type: "heartbeat_received",
  user_id,
  connection_id,
  now_ms,
  ttl_ms,
});
const closed = (user_id: string, connection_id: string, now_ms: number): PresenceInput => ({
  type: "connection_closed",
  user_id,
  connection_id,
  now_ms,
});
const passed = (now_ms: number): PresenceInput => ({ type: "time_passed", now_ms });
const sub = (subscriber_id: string, user_ids: string[], now_ms: number): PresenceInput => ({
  type: "subscribed",
  subscriber_id,
  user_ids,
  now_ms,
});
const online = (subscriber_id: string, user_id: string): PresenceEffect => ({
  type: "notify_subscriber",
  subscriber_id,
  change: { user_id, status: "online", last_seen_ms: null },
});
const offline = (subscriber_id: string, user_id: string, last_seen_ms: number | null): PresenceEffect => ({
  type: "notify_subscriber",
  subscriber_id,
  change: { user_id, status: "offline", last_seen_ms },
});
const timer = (at_ms: number): PresenceEffect => ({ type: "set_timer", at_ms });

describe("presence step: heartbeats and lapses", () => {
  it("a first heartbeat makes the user online, tells its subscribers and asks for a wake-up at the lapse", () => {
    const state = fresh();
    expect(step(state, sub("s1", ["alice"], 0))).toEqual([offline("s1", "alice", null)]);
    expect(step(state, beat("alice", "c1", 1000))).toEqual([online("s1", "alice"), timer(1100)]);
    expect(presenceOf(state, "alice", 1000)).toEqual({ status: "online", last_seen_ms: null });
  });

  it("further heartbeats notify nobody and move the wake-up", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    expect(step(state, beat("alice", "c1", 1030))).toEqual([timer(1130)]);
    expect(step(state, beat("alice", "c2", 1040))).toEqual([]);
    // A beat stamped earlier than the service's time counts at the service's time (1040).
    expect(step(state, beat("alice", "c1", 1030))).toEqual([timer(1140)]);
  });

  it("a lapse makes the user offline with last_seen at its latest heartbeat, not at the lapse", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    step(state, beat("alice", "c1", 1050));
    expect(step(state, passed(1149))).toEqual([timer(1150)]);
    expect(step(state, passed(1150))).toEqual([offline("s1", "alice", 1050)]);
    expect(presenceOf(state, "alice", 1150)).toEqual({ status: "offline", last_seen_ms: 1050 });
    expect(state.users.get("alice")?.connections.size).toBe(0);
  });

  it("the user stays online until its last connection lapses", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    step(state, beat("alice", "c2", 1060));
    expect(step(state, passed(1100))).toEqual([timer(1160)]);
    expect(presenceOf(state, "alice", 1100).status).toBe("online");
    expect(step(state, passed(1160))).toEqual([offline("s1", "alice", 1060)]);
  });

  it("any input with a time lapses what is due, not only time_passed", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    expect(step(state, beat("bob", "c9", 1200))).toEqual([offline("s1", "alice", 1000), timer(1300)]);
  });

  it("a heartbeat after a lapse brings the user back", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    step(state, passed(1100));
    expect(step(state, beat("alice", "c1", 1200))).toEqual([online("s1", "alice"), timer(1300)]);
  });

  it("rejects a TTL that is not a positive number: it comes from configuration, so it is a bug", () => {
    expect(() => step(fresh(), beat("alice", "c1", 0, 0))).toThrow(/ttl_ms/);
    expect(() => step(fresh(), beat("alice", "c1", Number.NaN))).toThrow(/now_ms/);
  });
});

describe("presence step: closes", () => {
  it("closing the last connection makes the user offline at once, last_seen at the close", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    expect(step(state, closed("alice", "c1", 1020))).toEqual([offline("s1", "alice", 1020)]);
    expect(presenceOf(state, "alice", 1020)).toEqual({ status: "offline", last_seen_ms: 1020 });
  });

  it("closing one connection while another lives changes nothing a subscriber sees", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    step(state, beat("alice", "c2", 1010));
    expect(step(state, closed("alice", "c1", 1020))).toEqual([]);
    expect(presenceOf(state, "alice", 1020).status).toBe("online");
    expect(step(state, closed("alice", "c2", 1030))).toEqual([offline("s1", "alice", 1030)]);
  });

  it("closing an unknown, lapsed or closed connection changes nothing", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    expect(step(state, closed("alice", "nope", 10))).toEqual([]);
    step(state, beat("alice", "c1", 1000));
    step(state, closed("alice", "c1", 1010));
    expect(step(state, closed("alice", "c1", 1020))).toEqual([]);
    step(state, beat("alice", "c2", 2000));
    step(state, passed(2100));
    expect(step(state, closed("alice", "c2", 2110))).toEqual([]);
  });

  it("a heartbeat that was in flight when its connection closed does not bring it back", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    step(state, closed("alice", "c1", 1010));
    expect(step(state, beat("alice", "c1", 1020))).toEqual([]);
    expect(presenceOf(state, "alice", 1020)).toEqual({ status: "offline", last_seen_ms: 1010 });
    // The tombstone goes when the connection would have lapsed; its memory is given back.
    expect(step(state, passed(1100))).toEqual([]);
    expect(state.users.get("alice")?.connections.size).toBe(0);
    expect(state.connection_count).toBe(0);
  });
});

describe("presence step: clocks that step back", () => {
  it("a backwards time_passed never revives a lapsed connection", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    expect(step(state, passed(1200))).toEqual([offline("s1", "alice", 1000)]);
    expect(step(state, passed(1050))).toEqual([]);
    expect(presenceOf(state, "alice", 1050)).toEqual({ status: "offline", last_seen_ms: 1000 });
  });

  it("a heartbeat with an earlier time counts as a beat now (the service's time never goes back)", () => {
    const state = fresh();
    step(state, beat("alice", "c1", 1000));
    expect(step(state, beat("alice", "c1", 500))).toEqual([]);
    expect(state.users.get("alice")?.connections.get("c1")?.last_beat_ms).toBe(1000);
    step(state, passed(1050));
    expect(step(state, beat("alice", "c1", 10))).toEqual([timer(1150)]);
    expect(presenceOf(state, "alice", 0).status).toBe("online");
  });

  it("presenceOf raises an earlier query time to the state's time", () => {
    const state = fresh();
    step(state, beat("alice", "c1", 1000));
    step(state, beat("bob", "c2", 1150));
    expect(presenceOf(state, "alice", 900)).toEqual({ status: "offline", last_seen_ms: 1000 });
  });

  it("presenceOf answers for a later time than the state's without stepping it", () => {
    const state = fresh();
    step(state, beat("alice", "c1", 1000));
    const before = presenceClone(state);
    expect(presenceOf(state, "alice", 1099).status).toBe("online");
    expect(presenceOf(state, "alice", 1100)).toEqual({ status: "offline", last_seen_ms: 1000 });
    expect(presenceOf(state, "nobody", 1100)).toEqual({ status: "offline", last_seen_ms: null });
    expect(state).toEqual(before);
  });
});

describe("presence step: subscriptions", () => {
  it("answers a subscription at once with one notice per requested user, duplicates folded", () => {
    const state = fresh();
    step(state, beat("alice", "c1", 1000));
    step(state, beat("bob", "c2", 1000));
    step(state, closed("bob", "c2", 1010));
    expect(step(state, sub("s1", ["alice", "bob", "carol", "alice"], 1020))).toEqual([
      online("s1", "alice"),
      offline("s1", "bob", 1010),
      offline("s1", "carol", null),
    ]);
  });

  it("notifies every subscriber of a user, and only subscribers of that user", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, sub("s2", ["alice", "bob"], 0));
    step(state, sub("s3", ["bob"], 0));
    expect(step(state, beat("alice", "c1", 1000))).toEqual([online("s1", "alice"), online("s2", "alice"), timer(1100)]);
  });

  it("unsubscribed stops the notices for those users only", () => {
    const state = fresh();
    step(state, sub("s1", ["alice", "bob"], 0));
    step(state, { type: "unsubscribed", subscriber_id: "s1", user_ids: ["alice", "nobody"] });
    expect(step(state, beat("alice", "c1", 1000))).toEqual([timer(1100)]);
    expect(step(state, beat("bob", "c2", 1000))).toEqual([online("s1", "bob")]);
    step(state, { type: "unsubscribed", subscriber_id: "s1", user_ids: ["bob"] });
    expect(state.subscribers.size).toBe(0);
    expect(state.watchers.size).toBe(0);
  });

  it("subscriber_gone stops every notice to it and forgets it", () => {
    const state = fresh();
    step(state, sub("s1", ["alice", "bob"], 0));
    step(state, sub("s2", ["alice"], 0));
    step(state, { type: "subscriber_gone", subscriber_id: "s1" });
    step(state, { type: "subscriber_gone", subscriber_id: "never" });
    expect(step(state, beat("alice", "c1", 1000))).toEqual([online("s2", "alice"), timer(1100)]);
    expect([...state.subscribers.keys()]).toEqual(["s2"]);
    expect([...state.watchers.keys()]).toEqual(["alice"]);
  });

  it("refuses a subscription that would take a subscriber beyond its limit, and adds none of it", () => {
    const state = fresh(3);
    step(state, sub("s1", ["a", "b"], 0));
    expect(step(state, sub("s1", ["c", "d"], 0))).toEqual([
      { type: "subscription_refused", subscriber_id: "s1", user_ids: ["c", "d"], reason: "TOO_MANY_SUBSCRIPTIONS" },
    ]);
    expect([...(state.subscribers.get("s1") ?? [])]).toEqual(["a", "b"]);
    expect(state.watchers.has("c")).toBe(false);
    // Users it already holds do not count again; the limit is per subscriber.
    expect(step(state, sub("s1", ["a", "b", "c"], 0))).toHaveLength(3);
    expect(step(state, sub("s2", ["a", "b", "c"], 0))).toHaveLength(3);
  });

  it("an empty subscription adds nothing", () => {
    const state = fresh();
    expect(step(state, sub("s1", [], 0))).toEqual([]);
    expect(state.subscribers.size).toBe(0);
  });
});

describe("presence step: wake-ups and memory", () => {
  it("asks for a wake-up only when the earliest lapse changes", () => {
    const state = fresh();
    expect(step(state, beat("alice", "c1", 1000))).toEqual([timer(1100)]);
    expect(step(state, beat("bob", "c2", 1010))).toEqual([]);
    expect(step(state, beat("carol", "c3", 1020, 50))).toEqual([timer(1070)]);
    expect(step(state, closed("carol", "c3", 1030))).toEqual([]);
    expect(step(state, passed(1070))).toEqual([timer(1100)]);
    expect(step(state, passed(1105))).toEqual([timer(1110)]);
    expect(step(state, passed(1110))).toEqual([]);
  });

  it("asks again after time_passed even when the earliest lapse is unchanged (a wake-up that came early)", () => {
    const state = fresh();
    step(state, beat("alice", "c1", 1000));
    expect(step(state, passed(1090))).toEqual([timer(1100)]);
    expect(step(state, passed(1090))).toEqual([timer(1100)]);
  });

  it("asks for nothing when nothing is left to lapse", () => {
    const state = fresh();
    step(state, beat("alice", "c1", 1000));
    expect(step(state, passed(1100))).toEqual([]);
    expect(state.timer_at_ms).toBeNull();
    expect(step(state, passed(5000))).toEqual([]);
  });

  it("keeps the lapse queue bounded however often a connection beats", () => {
    const state = fresh();
    for (let now_ms = 0; now_ms < 10_000; now_ms += 1) step(state, beat("alice", "c1", now_ms));
    expect(state.lapses.length).toBeLessThanOrEqual(2 * state.connection_count + LAPSES_SLACK);
    expect(presenceOf(state, "alice", 9_999).status).toBe("online");
    step(state, passed(10_100));
    expect(presenceOf(state, "alice", 10_100)).toEqual({ status: "offline", last_seen_ms: 9_999 });
    expect(state.lapses).toEqual([]);
  });

  it("returns the state it was given, changed in place; presenceClone keeps an independent copy", () => {
    const state = fresh();
    step(state, sub("s1", ["alice"], 0));
    step(state, beat("alice", "c1", 1000));
    const copy = presenceClone(state);
    expect(copy).toEqual(state);
    const result = presenceStep(state, closed("alice", "c1", 1010));
    expect(result.state).toBe(state);
    expect(presenceOf(copy, "alice", 1010).status).toBe("online");
    expect(presenceStep(copy, closed("alice", "c1", 1010)).effects).toEqual(result.effects);
    expect(copy).toEqual(state);
  });
});

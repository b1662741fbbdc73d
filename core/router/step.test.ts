import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AckRecord, Delivery, SendRecord } from "../model.js";
import { EPOCH_MS } from "../ids/snowflake.js";
import { routerStep, routerStepFor, type RouterEffect, type RouterInput, type RouterState } from "./index.js";

type Step = (state: RouterState, input: RouterInput) => RouterEffect[];
import { consumed, drive, driveTogether, execute, freshRouter, pollLoaded, worldInit, type World } from "./test-support.js";

const seed = Number(process.env.FC_SEED ?? 20261128);
const NOW = 1_800_000_000_000;
const U = (n: number): string => `7f1c2b9e-8a4d-4c3b-9f2e-${String(n).padStart(12, "0")}`;

function world(): World {
  const w = worldInit();
  w.users.set("alice", ["a1", "a2"]);
  w.users.set("bob", ["b1"]);
  w.users.set("carol", ["c1"]);
  w.groups.set("g1", ["alice", "bob", "carol"]);
  return w;
}

function send(from: string, device: string, to: string, n: number, origin = "conn-a1"): SendRecord {
  const pair = [from, to].sort();
  return {
    kind: "send",
    conversation_id: `d.${pair[0]}.${pair[1]}`,
    sender_id: from,
    sender_device_id: device,
    origin: { gateway_id: "g-1", connection_id: origin },
    target: { kind: "direct", to },
    content: `hello ${n}`,
    type: "text",
    client_msg_id: U(n),
    accepted_at_ms: NOW,
  };
}

function groupSend(from: string, device: string, n: number, group = "g1"): SendRecord {
  return { ...send(from, device, "x", n), conversation_id: `g.${group}`, target: { kind: "group", group_id: group } };
}

function ack(user: string, device: string, conversation_id: string, message_id: string, status: "delivered" | "read"): AckRecord {
  return { kind: "ack", conversation_id, message_id, user_id: user, device_id: device, status };
}

function allDeliveries(w: World): Delivery[] {
  return w.delivered.flatMap((d) => d.deliveries);
}

describe("router: a direct message", () => {
  it("orders, persists, records pending for every other device, delivers, pushes and commits", () => {
    const w = world();
    w.sessions.push({ user_id: "alice", device_id: "a2", gateway_id: "g-2", connection_id: "conn-a2" });
    const r = freshRouter();
    drive(w, r, consumed([send("alice", "a1", "bob", 1)]));
    const [message] = [...w.messages.values()];
    expect(message).toMatchObject({ conversation_id: "d.alice.bob", sender_id: "alice", content: "hello 1", prev_message_id: null });
    expect([...w.pending.keys()].map((k) => k.split("|").slice(0, 2).join("|")).sort()).toEqual(["alice|a2", "bob|b1"]);
    expect(w.inbox.size).toBe(2);
    const deliveries = allDeliveries(w);
    expect(deliveries.filter((d) => d.kind === "message").map((d) => d.connection_id)).toEqual(["conn-a2"]);
    expect(deliveries.find((d) => d.kind === "receipt")).toMatchObject({
      connection_id: "conn-a1",
      receipt: { status: "sent", message_id: message!.message_id, client_msg_id: U(1) },
    });
    expect(w.pushed).toEqual([{ user_id: "bob", message_id: message!.message_id }]);
    expect(w.committed.get(0)).toBe(1);
  });

  it("answers a retry with the original ID and delivers nothing again", () => {
    const w = world();
    w.sessions.push({ user_id: "bob", device_id: "b1", gateway_id: "g-2", connection_id: "conn-b1" });
    const r = freshRouter();
    drive(w, r, consumed([send("alice", "a1", "bob", 1), send("alice", "a1", "bob", 1, "conn-a1-later")]));
    expect(w.messages.size).toBe(1);
    const receipts = allDeliveries(w).filter((d) => d.kind === "receipt");
    expect(receipts.map((d) => d.connection_id)).toEqual(["conn-a1", "conn-a1-later"]);
    expect(new Set(receipts.map((d) => (d.kind === "receipt" ? d.receipt.message_id : "")))).toHaveProperty("size", 1);
    expect(allDeliveries(w).filter((d) => d.kind === "message")).toHaveLength(1);
  });

  it("deduplicates per conversation: one client_msg_id in two conversations is two messages", () => {
    const w = world();
    drive(w, freshRouter(), consumed([send("alice", "a1", "bob", 1), send("alice", "a1", "carol", 1)]));
    expect(allDeliveries(w).filter((d) => d.kind === "error")).toEqual([]);
    expect(new Set([...w.messages.values()].map((m) => m.conversation_id))).toEqual(new Set(["d.alice.bob", "d.alice.carol"]));
  });

  it("refuses a client_msg_id reused in the same conversation for other content", () => {
    const w = world();
    const other = { ...send("alice", "a1", "bob", 1), content: "something else" };
    drive(w, freshRouter(), consumed([send("alice", "a1", "bob", 1), other]));
    const errors = allDeliveries(w).filter((d) => d.kind === "error");
    expect(errors).toMatchObject([{ code: "CLIENT_MSG_ID_REUSED", retryable: false }]);
    expect(w.messages.size).toBe(1);
  });

  it("refuses a message to a user that does not exist", () => {
    const w = world();
    drive(w, freshRouter(), consumed([send("alice", "a1", "nobody", 1)]));
    expect(allDeliveries(w)).toMatchObject([{ kind: "error", code: "UNKNOWN_USER" }]);
    expect(w.messages.size).toBe(0);
    expect(w.send_claims.size).toBe(0);
  });
});

describe("router: groups", () => {
  it("fans out to every member's devices but the sending one, batched per gateway", () => {
    const w = world();
    w.sessions.push(
      { user_id: "bob", device_id: "b1", gateway_id: "g-2", connection_id: "conn-b1" },
      { user_id: "carol", device_id: "c1", gateway_id: "g-2", connection_id: "conn-c1" },
      { user_id: "alice", device_id: "a1", gateway_id: "g-1", connection_id: "conn-a1" },
    );
    const effects = drive(w, freshRouter(), consumed([groupSend("alice", "a1", 1)]));
    const delivers = effects.filter((e) => e.type === "deliver");
    expect(delivers.map((e) => (e.type === "deliver" ? `${e.gateway_id}:${e.deliveries.length}` : ""))).toEqual(["g-2:2", "g-1:1"]);
    expect(w.pending.size).toBe(3); // a2, b1, c1
    expect(w.pushed).toEqual([]);
  });

  it("refuses a sender outside the group, and an unknown group", () => {
    const w = world();
    w.users.set("mallory", ["m1"]);
    drive(w, freshRouter(), consumed([groupSend("mallory", "m1", 1), groupSend("alice", "a1", 2, "nope")]));
    expect(allDeliveries(w).map((d) => (d.kind === "error" ? d.code : d.kind)).sort()).toEqual(["NOT_A_MEMBER", "NOT_FOUND"]);
    expect(w.messages.size).toBe(0);
    // The refusal is recorded as the send's dedup record (it must stay the answer for this
    // send), written before the answer; the unknown group's is not (it cannot change).
    expect([...w.send_claims.values()].map((c) => [c.sender_id, c.members])).toEqual([["mallory", ["alice", "bob", "carol"]]]);
  });

  it("keeps refusing a non-member's send when a retry of it is handled after the sender joined", () => {
    // Sim seed 122: the first record was refused (the client reported a definite failure); a
    // retry appended before that answer arrived was handled after the sender rejoined.
    const w = world();
    w.users.set("mallory", ["m1"]);
    drive(w, freshRouter(), consumed([groupSend("mallory", "m1", 1)]));
    w.groups.set("g1", ["alice", "bob", "carol", "mallory"]);
    drive(w, freshRouter(), consumed([groupSend("mallory", "m1", 1)], 0, 1));
    expect(allDeliveries(w).map((d) => (d.kind === "error" ? d.code : d.kind))).toEqual(["NOT_A_MEMBER", "NOT_A_MEMBER"]);
    expect(w.messages.size).toBe(0);
    expect(w.pending.size).toBe(0);
    // A new send of hers, now a member, is a message.
    drive(w, freshRouter(), consumed([groupSend("mallory", "m1", 2)], 0, 2));
    expect(w.messages.size).toBe(1);
  });

  it("answers a refused send's key reused for other content with CLIENT_MSG_ID_REUSED, and an empty group's refusal stays recorded", () => {
    const w = world();
    w.users.set("mallory", ["m1"]);
    w.groups.set("g1", []); // everyone left: the recorded audience is empty, still a refusal
    drive(w, freshRouter(), consumed([groupSend("mallory", "m1", 1)]));
    expect([...w.send_claims.values()].map((c) => c.members)).toEqual([[]]);
    w.groups.set("g1", ["alice", "mallory"]);
    drive(w, freshRouter(), consumed([{ ...groupSend("mallory", "m1", 1), content: "other" }, groupSend("mallory", "m1", 1)], 0, 1));
    expect(allDeliveries(w).map((d) => (d.kind === "error" ? d.code : d.kind))).toEqual(["NOT_A_MEMBER", "CLIENT_MSG_ID_REUSED", "NOT_A_MEMBER"]);
    expect(w.messages.size).toBe(0);
  });

  /**
   * A router orders a group send and crashes while persisting it, after the dedup record's
   * write landed and before the others did; the group changes; the record is redelivered (to
   * a fresh router, as after a rebalance). Rule 5: the audience is the one the dedup record
   * fixed at ordering time. The simulator found the old behaviour (the group as it is now)
   * at sim seed 16, with group joins and leaves drawn: invariant 9.
   */
  function claimedThenCrashed(w: World): { id: string; record: ReturnType<typeof consumed> } {
    const record = consumed([groupSend("alice", "a1", 1)]);
    drive(w, freshRouter(), record);
    const id = [...w.messages.values()][0]!.message_id;
    expect([...w.send_claims.values()][0]!.members).toEqual(["alice", "bob", "carol"]);
    // Of the persist's concurrent writes only the dedup record landed.
    w.messages.clear();
    w.pending.clear();
    w.inbox.clear();
    w.delivered = [];
    return { id, record };
  }

  it("fans a redelivered send out to the members it was ordered for, not the group as it is now", () => {
    const w = world();
    const { id, record } = claimedThenCrashed(w);
    w.users.set("dave", ["d1"]);
    w.groups.set("g1", ["alice", "bob", "dave"]); // carol left, dave joined, after the ordering
    const effects = drive(w, freshRouter(), record);
    expect(effects).toContainEqual({ type: "observed", what: "send_audience_restored" });
    expect([...w.pending.keys()].sort()).toEqual([`alice|a2|${id}`, `bob|b1|${id}`, `carol|c1|${id}`]);
    expect([...w.inbox.keys()].sort()).toEqual(["alice|g.g1", "bob|g.g1", "carol|g.g1"]);
  });

  it("completes a redelivered send whose sender left the group since it was ordered, and still refuses a non-member's new send", () => {
    const w = world();
    const { id, record } = claimedThenCrashed(w);
    w.groups.set("g1", ["bob", "carol"]); // alice left after her message was ordered
    drive(w, freshRouter(), record);
    expect(allDeliveries(w).filter((d) => d.kind === "error")).toEqual([]);
    expect(allDeliveries(w).find((d) => d.kind === "receipt")).toMatchObject({ receipt: { status: "sent", message_id: id } });
    expect([...w.pending.keys()].sort()).toEqual([`alice|a2|${id}`, `bob|b1|${id}`, `carol|c1|${id}`]);
    w.delivered = [];
    drive(w, freshRouter(), consumed([groupSend("alice", "a1", 2)], 0, 1));
    expect(allDeliveries(w).map((d) => (d.kind === "error" ? d.code : d.kind))).toEqual(["NOT_A_MEMBER"]);
    expect(w.messages.size).toBe(1);
  });
});

describe("router: acks and receipts", () => {
  it("removes the pending entry, records the receipt and tells the sender's devices", () => {
    const w = world();
    w.sessions.push({ user_id: "alice", device_id: "a1", gateway_id: "g-1", connection_id: "conn-a1" });
    const r = freshRouter();
    drive(w, r, consumed([send("alice", "a1", "bob", 1)]));
    const id = [...w.messages.values()][0]!.message_id;
    w.delivered = [];
    drive(w, r, consumed([ack("bob", "b1", "d.alice.bob", id, "delivered"), ack("bob", "b1", "d.alice.bob", id, "read")], 0, 1));
    expect(w.pending.has(`bob|b1|${id}`)).toBe(false);
    expect(w.receipts.get(`${id}|bob`)).toBe("read");
    expect(w.read.get("bob|d.alice.bob")).toBe(id);
    expect(allDeliveries(w).map((d) => (d.kind === "receipt" ? `${d.connection_id}:${d.receipt.status}:${d.receipt.user_id}` : ""))).toEqual([
      "conn-a1:delivered:bob",
      "conn-a1:read:bob",
    ]);
  });

  it("tells the sender nothing for a late delivered ack after read", () => {
    const w = world();
    w.sessions.push({ user_id: "alice", device_id: "a1", gateway_id: "g-1", connection_id: "conn-a1" });
    const r = freshRouter();
    drive(w, r, consumed([send("alice", "a1", "bob", 1)]));
    const id = [...w.messages.values()][0]!.message_id;
    w.delivered = [];
    drive(w, r, consumed([ack("bob", "b1", "d.alice.bob", id, "read"), ack("bob", "b1", "d.alice.bob", id, "delivered")], 0, 1));
    expect(allDeliveries(w).map((d) => (d.kind === "receipt" ? d.receipt.status : ""))).toEqual(["read"]);
  });

  it("lets a member who left clear its own pending entry, with no receipt for the sender", () => {
    const w = world();
    w.sessions.push({ user_id: "alice", device_id: "a1", gateway_id: "g-1", connection_id: "conn-a1" });
    const r = freshRouter();
    drive(w, r, consumed([groupSend("alice", "a1", 1)]));
    const id = [...w.messages.values()][0]!.message_id;
    expect(w.pending.has(`bob|b1|${id}`)).toBe(true);
    w.groups.set("g1", ["alice", "carol"]); // bob leaves before his device acks
    w.delivered = [];
    drive(w, r, consumed([ack("bob", "b1", "g.g1", id, "delivered")], 0, 1));
    expect(w.pending.has(`bob|b1|${id}`)).toBe(false);
    expect(w.receipts.size).toBe(0);
    expect(allDeliveries(w).filter((d) => d.kind === "receipt")).toEqual([]);
  });

  it("ignores acks from non-members and for unknown messages", () => {
    const w = world();
    const r = freshRouter();
    drive(w, r, consumed([groupSend("alice", "a1", 1)]));
    const id = [...w.messages.values()][0]!.message_id;
    w.users.set("mallory", ["m1"]);
    const effects = drive(w, r, consumed([ack("mallory", "m1", "g.g1", id, "read"), ack("bob", "b1", "g.g1", "0000000000000000001", "read")], 0, 1));
    expect(effects.filter((e) => e.type === "observed" && e.what === "ack_ignored")).toHaveLength(2);
    expect(w.receipts.size).toBe(0);
  });
});

describe("router: failures, fencing, ordering", () => {
  it("retries a failed call after a backoff, never skipping the record", () => {
    const w = world();
    const r = freshRouter();
    const first = pollLoaded(w, r, consumed([send("alice", "a1", "bob", 1)]), NOW);
    const call = first.find((e) => e.type === "call")!;
    if (call.type !== "call") throw new Error("expected a call");
    const failed = routerStep(r, { type: "effect_failed", job: call.job, reason: "timeout", now_ms: NOW });
    expect(failed[0]).toEqual({ type: "set_timer", at_ms: NOW + 40 });
    // Woken early (the clock stepped back): it asks again rather than waiting forever.
    expect(routerStep(r, { type: "timer_fired", now_ms: NOW + 10 })).toEqual([{ type: "set_timer", at_ms: NOW + 40 }]);
    expect(routerStep(r, { type: "timer_fired", now_ms: NOW + 40 })).toEqual([{ type: "call", job: call.job, call: call.call }]);
    expect(execute(w, call.call).type).toBe("prepare_send");
  });

  it("drops what it holds when its commit is fenced", () => {
    const w = world();
    const r = freshRouter();
    // alice's record is handled to the end and its commit is left in flight; meanwhile the
    // next poll brings two of carol's records (the second waits behind the first).
    let commit: RouterEffect | undefined;
    const inputs: RouterInput[] = [{ type: "records_polled", records: consumed([send("alice", "a1", "bob", 1)]), now_ms: NOW }];
    while (inputs.length > 0) {
      for (const e of routerStep(r, inputs.shift()!)) {
        if (e.type !== "call") continue;
        if (e.call.type === "commit") commit = e;
        else inputs.push({ type: "effect_completed", job: e.job, result: execute(w, e.call), now_ms: NOW });
      }
    }
    expect(commit).toMatchObject({ call: { type: "commit", offsets: [{ partition: 0, offset: 1 }], generation: 1 } });
    routerStep(r, { type: "records_polled", records: consumed([send("carol", "c1", "dave", 2), send("carol", "c2", "dave", 3)], 0, 1), now_ms: NOW });
    expect(r.queued).toBe(1);
    const fenced = routerStep(r, { type: "effect_completed", job: 0, result: { type: "commit", outcome: "fenced" }, now_ms: NOW });
    expect(fenced).toContainEqual({ type: "observed", what: "commit_fenced" });
    expect(r.queues.size).toBe(0);
    expect(r.queued).toBe(0);
    expect(r.partitions.size).toBe(0);
    // carol's first record, already in flight, finishes; nothing of the old generation is committed.
    const job = [...r.jobs.values()][0]!;
    expect(routerStep(r, { type: "effect_completed", job: job.id, result: execute(w, job.call!), now_ms: NOW }).some((e) => e.type === "call" && e.call.type === "commit")).toBe(false);
  });

  it("never handles a record of an older generation once a newer one was polled", () => {
    // Seed 227: a stale fetch stream (generation 11) went on after generation 12 had dropped
    // its queued records; handling what it brought next skipped records of the partition
    // and won claims numbered below the ones the owner later gave the skipped records.
    const r = freshRouter();
    const w = world();
    pollLoaded(w, r, consumed([send("alice", "a1", "bob", 1), send("alice", "a2", "bob", 2)], 0, 0, 11), NOW);
    expect(r.queued).toBe(1); // a1 in flight, a2 queued
    pollLoaded(w, r, consumed([send("carol", "c1", "dave", 3)], 1, 0, 12), NOW);
    expect(r.queued).toBe(0); // a2 (generation 11) dropped; c1 started
    const late = routerStep(r, { type: "records_polled", records: consumed([send("alice", "a3", "bob", 3)], 0, 2, 11), now_ms: NOW });
    expect(late.filter((e) => e.type === "call")).toEqual([]);
    expect(r.queued).toBe(0);
    expect([...r.jobs.keys()].sort()).toEqual(["d.alice.bob", "d.carol.dave"]);
  });

  it("runs the acks of one conversation side by side, after the send before them and before the send after them", () => {
    const w = world();
    const r = freshRouter();
    drive(w, r, consumed([groupSend("alice", "a1", 1)]));
    const [message] = [...w.messages.values()];
    const id = message!.message_id;
    // Three acks of the group message, then the group's next message, in one poll.
    const records = consumed(
      [ack("bob", "b1", "g.g1", id, "delivered"), ack("carol", "c1", "g.g1", id, "delivered"), ack("alice", "a2", "g.g1", id, "delivered"), groupSend("alice", "a1", 2)],
      0,
      1,
    );
    const out = routerStep(r, { type: "records_polled", records, now_ms: NOW });
    // All three acks started at once (one call each); the send waits for them.
    const started = out.filter((e): e is Extract<RouterEffect, { type: "call" }> => e.type === "call" && e.call.type !== "commit");
    expect(started.map((e) => e.call.type)).toEqual(["load_message", "load_message", "load_message"]);
    expect(r.jobs.size).toBe(3);
    expect(r.queued).toBe(1);
    // Finish two of them: the send still waits for the third.
    const finishJob = (job: number): RouterEffect[] => {
      const effects: RouterEffect[] = [];
      for (let j = [...r.jobs.values()].find((x) => x.id === job); j !== undefined && j.call !== null; j = [...r.jobs.values()].find((x) => x.id === job)) {
        effects.push(...routerStep(r, { type: "effect_completed", job, result: execute(w, j.call), now_ms: NOW }));
      }
      return effects;
    };
    const [first, second, third] = started.map((e) => e.job);
    finishJob(first!);
    finishJob(second!);
    expect(r.queued).toBe(1);
    expect([...r.jobs.values()].map((j) => j.record.record.kind)).toEqual(["ack"]);
    const afterLast = finishJob(third!);
    // The send starts only once no ack of its conversation runs; an ack never runs beside a send.
    expect(afterLast.some((e) => e.type === "call" && e.call.type === "prepare_send")).toBe(true);
    expect([...r.jobs.values()].map((j) => j.record.record.kind)).toEqual(["send"]);
  });

  it("commits a partition up to its first record still in flight, while the next batch is polled", () => {
    const w = world();
    const r = freshRouter();
    const first = pollLoaded(w, r, consumed([send("alice", "a1", "bob", 1), send("carol", "c1", "dave", 2)]), NOW);
    // The next batch is asked for at once, while both records are in flight.
    expect(first).toContainEqual({ type: "poll", max_records: r.config.limits.routerBatchRecordsMax });
    // Finish carol's record (offset 1) first: nothing may be committed while alice's (offset 0) is in flight.
    const carolJob = r.jobs.get("d.carol.dave")!.id;
    const aliceJob = r.jobs.get("d.alice.bob")!.id;
    const runJob = (id: number): RouterEffect[] => {
      const out: RouterEffect[] = [];
      for (let job = [...r.jobs.values()].find((j) => j.id === id); job !== undefined && job.call !== null; job = [...r.jobs.values()].find((j) => j.id === id)) {
        out.push(...routerStep(r, { type: "effect_completed", job: id, result: execute(w, job.call), now_ms: NOW }));
      }
      return out;
    };
    const afterCarol = runJob(carolJob);
    expect(afterCarol.some((e) => e.type === "call" && e.call.type === "commit")).toBe(false);
    const afterAlice = runJob(aliceJob);
    expect(afterAlice).toContainEqual({
      type: "call",
      job: 0,
      call: { type: "commit", offsets: [{ partition: 0, offset: 2 }], generation: 1, checkpoints: [{ partition: 0, offset: 2, last_ms: NOW - EPOCH_MS, sequence: 1 }] },
    });
  });

  it("does not trust a floor it cached before losing and regaining the partition", () => {
    // Found by the simulator (seed 58): B ordered record 0, lost the partition, A ordered
    // record 1, B got it back and ordered record 2 from its stale cache: two messages with
    // the same previous ID, the later one numbered lower.
    const w = world();
    const b = freshRouter({ machine: 2 });
    drive(w, b, consumed([send("alice", "a1", "bob", 1)], 0, 0, 1), NOW);
    drive(w, freshRouter({ machine: 1 }), consumed([send("alice", "a1", "bob", 2)], 0, 1, 2), NOW + 60_000);
    drive(w, b, consumed([send("alice", "a1", "bob", 3)], 0, 2, 3), NOW + 1);
    const byOffset = [0, 1, 2].map((offset) => [...w.send_claims.values()].find((c) => c.position.offset === offset)!);
    expect(byOffset[2]!.prev_message_id).toBe(byOffset[1]!.message_id);
    expect(byOffset[2]!.message_id > byOffset[1]!.message_id).toBe(true);
  });

  it("orders above the stored floor even when its clock is far behind", () => {
    const w = world();
    drive(w, freshRouter({ machine: 7 }), consumed([send("alice", "a1", "bob", 1)]), NOW + 3_600_000);
    const first = [...w.messages.values()][0]!;
    drive(w, freshRouter({ machine: 8 }), consumed([send("alice", "a1", "bob", 2)], 0, 1), NOW);
    const second = [...w.messages.values()].find((m) => m.message_id !== first.message_id)!;
    expect(second.message_id > first.message_id).toBe(true);
    expect(second.prev_message_id).toBe(first.message_id);
  });
});

describe("router properties", () => {
  const records = fc.array(
    fc.tuple(fc.constantFrom("alice", "bob", "carol"), fc.constantFrom("bob", "carol", "alice", "g"), fc.integer({ min: 1, max: 12 })),
    { minLength: 1, maxLength: 25 },
  ).map((raw) =>
    raw.flatMap(([from, to, n]) => {
      const device = from === "alice" ? "a1" : from === "bob" ? "b1" : "c1";
      if (to === "g") return [groupSend(from, device, n)];
      if (to === from) return [];
      return [send(from, device, to, n + (from === "alice" ? 0 : from === "bob" ? 100 : 200) + (to === "carol" ? 1000 : 0))];
    }),
  );

  it(`handling a batch twice has the visible result of handling it once (seed ${seed})`, () => {
    fc.assert(
      fc.property(records, fc.integer({ min: -60_000, max: 60_000 }), (recs, skew) => {
        const w = world();
        w.sessions.push({ user_id: "bob", device_id: "b1", gateway_id: "g-2", connection_id: "conn-b1" });
        const batch = consumed(recs);
        drive(w, freshRouter({ machine: 1 }), batch, NOW);
        const snapshot = JSON.stringify([[...w.messages], [...w.send_claims], [...w.pending], [...w.inbox].map(([k, v]) => [k, v.last_message_id])]);
        const firstMessages = new Set(allDeliveries(w).flatMap((d) => (d.kind === "message" ? [d.message.message_id] : [])));
        w.delivered = [];
        drive(w, freshRouter({ machine: 2 }), batch, NOW + skew);
        const again = JSON.stringify([[...w.messages], [...w.send_claims], [...w.pending], [...w.inbox].map(([k, v]) => [k, v.last_message_id])]);
        expect(again).toBe(snapshot);
        for (const d of allDeliveries(w)) if (d.kind === "message") expect(firstMessages.has(d.message.message_id)).toBe(true);
      }),
      { seed, numRuns: 200 },
    );
  });

  /**
   * Router A handles a prefix, its commit lost; B (clock skewed) starts over from offset 0
   * while A, stale, finishes the rest at the same time: no Paxos claim decides between them,
   * their chains must agree (core/router/ordering.ts). Throws on the first rule broken.
   */
  const staleAndOwner = (step: Step, recs: SendRecord[], cutRaw: number, skew: number): void => {
    const w = world();
    const batch = consumed(recs);
    const cut = cutRaw % (batch.length + 1);
    const a = freshRouter({ machine: 1 });
    drive(w, a, batch.slice(0, cut), NOW, step);
    // B starts over while A, stale, finishes the rest at the same time.
    driveTogether(w, [
      { state: freshRouter({ machine: 2 }), records: batch, now_ms: NOW + skew },
      { state: a, records: batch.slice(cut), now_ms: NOW - skew },
    ], step);
    const byConversation = new Map<string, string[]>();
    const seen = new Set<string>();
    for (const r of batch) {
      if (r.record.kind !== "send") continue;
      const claim = w.send_claims.get(`${r.record.sender_id}|${r.record.conversation_id}|${r.record.client_msg_id}`);
      if (claim === undefined) continue;
      if (claim.position.offset !== r.offset) continue; // a retry
      if (seen.has(claim.message_id)) continue;
      seen.add(claim.message_id);
      const list = byConversation.get(claim.conversation_id) ?? [];
      expect(claim.prev_message_id).toBe(list.at(-1) ?? null);
      list.push(claim.message_id);
      byConversation.set(claim.conversation_id, list);
    }
    for (const ids of byConversation.values()) for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    // One message per accepted send, whichever router wrote it.
    expect(w.messages.size).toBe(seen.size);
  };

  it(`IDs rise with log order and prev links are exact, across a crash, a stale router and skewed clocks (seed ${seed})`, () => {
    fc.assert(
      fc.property(records, fc.nat(), fc.integer({ min: -120_000, max: 120_000 }), (recs, cutRaw, skew) => staleAndOwner(routerStep, recs, cutRaw, skew)),
      { seed, numRuns: 200 },
    );
  });

  it(`the same property fails when a new message's ID is the router's own, as before the chain (seed ${seed})`, () => {
    const result = fc.check(
      fc.property(records, fc.nat(), fc.integer({ min: -120_000, max: 120_000 }), (recs, cutRaw, skew) => staleAndOwner(routerStepFor("id_from_router_clock"), recs, cutRaw, skew)),
      { seed, numRuns: 200 },
    );
    expect(result.failed).toBe(true);
  });
});

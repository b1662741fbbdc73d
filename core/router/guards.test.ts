/**
 * The router's guards, where they stand. The receipt guard: a sender is told an ack's status
 * only when the receipt store says it moved there (downstream guards would mask its bug).
 * The commit-offset guard: a partition is committed only up to its
 * first record still in flight. The swarm sees a router that commits past one only when a
 * crash or rebalance lands while that record is unfinished, so this test runs the guard's
 * scenario on the correct step, where it must hold, and on the planted bug that breaks it
 * (planted.ts), where it must fail.
 */
import { describe, expect, it } from "vitest";
import type { AckRecord, SendRecord } from "../model.js";
import { routerStep, routerStepFor, type RouterEffect, type RouterInput, type RouterState } from "./index.js";
import { consumed, drive, execute, freshRouter, pollLoaded, worldInit } from "./test-support.js";

const NOW = 1_800_000_000_000;
type Step = (state: RouterState, input: RouterInput) => RouterEffect[];

function send(from: string, to: string, n: number): SendRecord {
  const pair = [from, to].sort();
  return {
    kind: "send",
    conversation_id: `d.${pair[0]}.${pair[1]}`,
    sender_id: from,
    sender_device_id: `${from}-1`,
    origin: { gateway_id: "g-1", connection_id: "conn-1" },
    target: { kind: "direct", to },
    content: `hello ${n}`,
    type: "text",
    client_msg_id: `7f1c2b9e-8a4d-4c3b-9f2e-${String(n).padStart(12, "0")}`,
    accepted_at_ms: NOW,
  };
}

/** Offsets the router asked to commit, in order, over three records finished out of order. */
function commitsWhenFinishedOutOfOrder(step: Step): number[][] {
  const w = worldInit();
  for (const u of ["alice", "bob", "carol", "dave", "erin", "frank"]) w.users.set(u, [`${u}-1`]);
  const r = freshRouter();
  const commits: number[][] = [];
  const feed = (input: RouterInput): void => {
    for (const e of step(r, input)) {
      if (e.type === "call" && e.call.type === "commit") {
        commits.push(e.call.offsets.map((o) => o.offset));
        step(r, { type: "effect_completed", job: 0, result: { type: "commit", outcome: "ok" }, now_ms: NOW });
      }
    }
  };
  for (const e of pollLoaded(w, r, consumed([send("alice", "bob", 1), send("carol", "dave", 2), send("erin", "frank", 3)]), NOW, step)) {
    if (e.type === "call" && e.call.type === "commit") throw new Error("nothing is finished yet");
  }
  const finish = (conversation: string, now_ms: number): void => {
    const id = r.jobs.get(conversation)!.id;
    for (let job = r.jobs.get(conversation); job !== undefined && job.id === id && job.call !== null; job = r.jobs.get(conversation)) {
      feed({ type: "effect_completed", job: id, result: execute(w, job.call), now_ms });
    }
  };
  // Offsets 1 and 2 finish while 0 is in flight; time passes so that a commit is due.
  finish("d.carol.dave", NOW + 1_000);
  finish("d.erin.frank", NOW + 2_000);
  finish("d.alice.bob", NOW + 3_000);
  return commits;
}

describe("router: the commit-offset guard, where it stands", () => {
  it("commits nothing past a record still in flight, then everything once it finishes", () => {
    expect(commitsWhenFinishedOutOfOrder(routerStep)).toEqual([[3]]);
  });

  it("fails on the planted bug commit_past_in_flight", () => {
    const commits = commitsWhenFinishedOutOfOrder(routerStepFor("commit_past_in_flight"));
    expect(commits.some((offsets) => offsets.some((o) => o <= 2) && offsets.length > 0)).toBe(true);
    expect(commits).not.toEqual([[3]]);
  });
});

describe("router step assertions (checked after every step)", () => {
  it("hold through a batch of sends, and fire on a miscounted queue or an unbounded job table", () => {
    const r = freshRouter();
    const w = worldInit();
    w.users.set("a", ["a-1"]);
    w.users.set("b", ["b-1"]);
    const inputs: RouterInput[] = [{ type: "records_polled", records: consumed([send("a", "b", 1), send("b", "a", 2)]), now_ms: NOW }];
    while (inputs.length > 0) {
      for (const e of routerStep(r, inputs.shift()!)) {
        if (e.type === "call") inputs.push({ type: "effect_completed", job: e.job, result: execute(w, e.call), now_ms: NOW });
      }
    }
    expect(r.jobs.size).toBe(0);
    const counted = freshRouter();
    counted.queued = 3; // records counted as queued that no queue holds
    expect(() => routerStep(counted, { type: "timer_fired", now_ms: NOW })).toThrow(/3 records counted as queued, none in a queue/);
    const flooded = freshRouter({ limits: { ...freshRouter().config.limits, routerJobsMax: 1 } });
    for (const e of routerStep(flooded, { type: "records_polled", records: consumed([send("a", "b", 1)]), now_ms: NOW })) {
      // The partition's ID chain first: the send starts once it is loaded.
      if (e.type === "call" && e.call.type === "load_chain") routerStep(flooded, { type: "effect_completed", job: e.job, result: execute(w, e.call), now_ms: NOW });
    }
    expect(flooded.jobs.size).toBe(1); // at the bound
    flooded.jobs.set("extra", { ...[...flooded.jobs.values()][0]!, key: "extra", id: 99 });
    expect(() => routerStep(flooded, { type: "timer_fired", now_ms: NOW })).toThrow(/2 jobs, over routerJobsMax 1/);
  });
});

/** The receipt statuses the sender is told when bob's `read` ack is handled before his late `delivered` one. */
function receiptsForReadThenDelivered(step: Step): string[] {
  const w = worldInit();
  w.users.set("alice", ["alice-1"]);
  w.users.set("bob", ["bob-1"]);
  w.sessions.push({ user_id: "alice", device_id: "alice-1", gateway_id: "g-1", connection_id: "conn-1" });
  const r = freshRouter();
  drive(w, r, consumed([send("alice", "bob", 1)]), NOW, step);
  const id = [...w.messages.values()][0]!.message_id;
  w.delivered = [];
  const ack = (status: "delivered" | "read"): AckRecord => ({ kind: "ack", conversation_id: "d.alice.bob", message_id: id, user_id: "bob", device_id: "bob-1", status });
  drive(w, r, consumed([ack("read"), ack("delivered")], 0, 1), NOW, step);
  return w.delivered.flatMap((d) => d.deliveries).flatMap((d) => (d.kind === "receipt" ? [d.receipt.status] : []));
}

describe("router: the receipt guard, where it stands", () => {
  it("tells the sender nothing for a late delivered ack after read", () => {
    expect(receiptsForReadThenDelivered(routerStep)).toEqual(["read"]);
  });

  it("fails on the planted bug receipt_ignores_store", () => {
    expect(receiptsForReadThenDelivered(routerStepFor("receipt_ignores_store"))).toEqual(["read", "delivered"]);
  });
});

/**
 * The checker check of INVARIANTS.md: the baseline history passes every checker, and for each
 * invariant, hand-made bad histories (one mutation of the baseline each) make the matching
 * checker fail with a sentence that names the message and the device. A few "excused" cases
 * pin the soundness decisions written in each checker's header.
 */
import { describe, expect, it } from "vitest";
import type { DeviceRef, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { CHECKERS, checkAll } from "./index.js";
import { VIOLATIONS_PER_CHECKER_MAX } from "./internal/report.js";
import {
  ALICE_LAPTOP,
  ALICE_PHONE,
  BOB_PHONE,
  CAROL_PHONE,
  DM,
  GROUP,
  M,
  baseline,
  clone,
  id,
  renameMessage,
  type HistoryDraft,
} from "./test-support.js";

function check(invariant: number, h: HistoryDraft): Violation[] {
  const checker = CHECKERS.find((c) => c.invariant === invariant);
  if (checker === undefined) throw new Error(`no checker for invariant ${invariant}`);
  return checker.check(h);
}

/** Asserts the checker of `invariant` reports a violation whose message contains every needle. */
function expectViolation(invariant: number, h: HistoryDraft, ...needles: string[]): void {
  const found = check(invariant, h);
  const hit = found.find((v) => v.invariant === invariant && needles.every((n) => v.message.includes(n)));
  expect(hit, `invariant ${invariant} should name ${needles.join(" + ")}; got ${JSON.stringify(found, null, 1)}`).toBeDefined();
}

function expectClean(invariant: number, h: HistoryDraft): void {
  expect(check(invariant, h)).toEqual([]);
}

const same = (a: DeviceRef, b: DeviceRef): boolean => deviceKey(a) === deviceKey(b);
const D = (d: DeviceRef): string => deviceKey(d);

function dropDisplay(h: HistoryDraft, message_id: string, device: DeviceRef): void {
  const before = h.displays.length;
  h.displays = h.displays.filter((e) => !(e.message_id === message_id && same(e.device, device)));
  h.acks = h.acks.filter((e) => !(e.message_id === message_id && same(e.device, device)));
  h.receipts = h.receipts.filter((e) => !(e.message_id === message_id && e.user_id === device.user_id));
  expect(h.displays.length).toBe(before - 1);
}

function displayOf(h: HistoryDraft, message_id: string, device: DeviceRef) {
  const found = h.displays.find((e) => e.message_id === message_id && same(e.device, device));
  if (found === undefined) throw new Error(`baseline has no display of ${message_id} on ${D(device)}`);
  return found;
}

function disconnect(h: HistoryDraft, device: DeviceRef, at: number): void {
  h.final.connected = h.final.connected.filter((d) => !same(d, device));
  for (const c of h.connections ?? []) if (same(c.device, device) && c.closed_at === null) c.closed_at = at;
}

describe("the baseline history", () => {
  it("passes every checker with zero violations", () => {
    expect(checkAll(baseline())).toEqual([]);
  });

  it.each(CHECKERS.map((c) => [c.invariant, c.name] as const))("passes invariant %i (%s)", (invariant) => {
    expectClean(invariant, baseline());
  });

  it("lists the eleven checkers in invariant order", () => {
    expect(CHECKERS.map((c) => c.invariant)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });
});

describe("invariant 1, zero loss", () => {
  it("reports an ok send never displayed on a member's device", () => {
    const h = baseline();
    dropDisplay(h, M.a3, BOB_PHONE);
    expectViolation(1, h, M.a3, D(BOB_PHONE), "a3");
  });

  it("reports an ok send missing from the conversation's history", () => {
    const h = baseline();
    h.final.history[GROUP] = (h.final.history[GROUP] ?? []).filter((x) => x !== M.c1);
    expectViolation(1, h, M.c1, D(CAROL_PHONE), "final.history");
  });

  it("reports an info send displayed on some member devices but not all", () => {
    const h = baseline();
    dropDisplay(h, M.b3, CAROL_PHONE);
    expectViolation(1, h, M.b3, D(CAROL_PHONE), "b3");
  });

  it("reports the sending device that never showed its own ok send", () => {
    const h = baseline();
    h.displays = h.displays.filter((e) => !(e.message_id === M.a1 && e.via === "own"));
    expectViolation(1, h, M.a1, D(ALICE_PHONE));
  });

  it("reports a run that never reached quiescence, once", () => {
    const h = baseline();
    h.final.quiescent = false;
    const found = check(1, h);
    expect(found).toHaveLength(1);
    expect(found[0]?.message).toContain("quiescen");
  });

  it("excuses a member who left while the message was being ordered", () => {
    const h = baseline();
    h.memberships = h.memberships.map((m) => (m.conversation_id === GROUP && m.user_id === "bob" ? { ...m, left_at: 305 } : m));
    dropDisplay(h, M.c1, BOB_PHONE);
    expectClean(1, h);
  });

  it("excuses a device offline at the end only while the pending store holds the message for it", () => {
    const h = baseline();
    dropDisplay(h, M.c1, BOB_PHONE);
    disconnect(h, BOB_PHONE, 900);
    // Gone for good, and the message lost with it: zero loss fails (and pending-drains too).
    expectViolation(1, h, M.c1, D(BOB_PHONE));
    expectViolation(5, h, M.c1, D(BOB_PHONE), "displayed 0 times");
    // Held for it in the pending store: delivered when it comes back, nothing lost.
    h.final.pending.push({ device: BOB_PHONE, message_id: M.c1 });
    expectClean(1, h);
    expectClean(5, h);
  });

  it("accepts an info send that nobody displayed", () => {
    const h = baseline();
    for (const d of [ALICE_PHONE, ALICE_LAPTOP, CAROL_PHONE]) dropDisplay(h, M.b3, d);
    h.final.unread = [];
    expectClean(1, h);
  });
});

describe("invariant 2, no phantoms", () => {
  it("reports a display that no send was invoked for", () => {
    const h = baseline();
    h.displays.push({ device: BOB_PHONE, conversation_id: DM, message_id: id(99), from: "alice", client_msg_id: "zz", content: "boo", at: 800, connection: 1, via: "new_message" });
    expectViolation(2, h, id(99), D(BOB_PHONE), "no invoked send");
  });

  it("reports a display of a send that failed", () => {
    const h = baseline();
    h.displays.push({ device: ALICE_PHONE, conversation_id: GROUP, message_id: id(55), from: "bob", client_msg_id: "b2", content: "text of b2", at: 520, connection: 1, via: "new_message" });
    expectViolation(2, h, id(55), "b2", D(ALICE_PHONE), "failed");
  });

  it("reports a display whose content its send never had", () => {
    const h = baseline();
    displayOf(h, M.a1, ALICE_LAPTOP).content = "tampered";
    expectViolation(2, h, M.a1, D(ALICE_LAPTOP), "content");
  });

  it("reports two different sends that share one message_id", () => {
    const h = baseline();
    const b1 = h.sends.find((s) => s.client_msg_id === "b1");
    if (b1 === undefined) throw new Error("baseline has no b1");
    b1.message_id = M.a1;
    expectViolation(2, h, M.a1, D(BOB_PHONE), "two different sends");
  });

  it("reports a display made before its send was invoked", () => {
    const h = baseline();
    displayOf(h, M.c1, BOB_PHONE).at = 250;
    expectViolation(2, h, M.c1, D(BOB_PHONE), "before its send was invoked");
  });

  it("reports one message_id stored in two conversations", () => {
    const h = baseline();
    h.final.history[GROUP] = [M.a1, M.a2, M.c1, M.b3];
    expectViolation(2, h, M.a1, D(ALICE_PHONE), "two conversations", GROUP);
  });

  it("reports a stored message that no send or display accounts for", () => {
    const h = baseline();
    h.final.history[DM] = [M.a1, M.b1, id(45), M.a3];
    expectViolation(2, h, id(45), DM);
  });
});

describe("invariant 3, one order", () => {
  it("reports new_message frames of one conversation out of ID order on one connection", () => {
    const h = baseline();
    const i = h.displays.indexOf(displayOf(h, M.c1, ALICE_PHONE));
    const j = h.displays.indexOf(displayOf(h, M.b3, ALICE_PHONE));
    [h.displays[i], h.displays[j]] = [h.displays[j]!, h.displays[i]!];
    expectViolation(3, h, D(ALICE_PHONE), M.c1, M.b3, "connection 1");
  });

  it("reports a gap: a later message displayed, an earlier one it must have never", () => {
    const h = baseline();
    dropDisplay(h, M.c1, ALICE_LAPTOP);
    expectViolation(3, h, D(ALICE_LAPTOP), M.c1, M.b3, "gap");
  });

  it("excuses a gap on a device offline at the end only while the pending store holds the earlier message", () => {
    // A real-cluster chaos run: the device showed its own later send, then went offline for
    // good before the other user's earlier message reached it; the store holds that one.
    const h = baseline();
    dropDisplay(h, M.c1, ALICE_LAPTOP);
    disconnect(h, ALICE_LAPTOP, 900);
    expectViolation(3, h, D(ALICE_LAPTOP), M.c1, M.b3, "gap");
    h.final.pending.push({ device: ALICE_LAPTOP, message_id: M.c1 });
    expectClean(3, h);
  });

  it("reports a history that is not ascending", () => {
    const h = baseline();
    h.final.history[DM] = [M.b1, M.a1, M.a3];
    expectViolation(3, h, M.a1, M.b1, DM);
  });

  it("reports a displayed message missing from its conversation's history", () => {
    const h = baseline();
    h.final.history[GROUP] = [M.a2, M.c1];
    expectViolation(3, h, M.b3, D(CAROL_PHONE), "final.history");
  });

  it("leaves a repeated display to invariant 5", () => {
    const h = baseline();
    h.displays.push({ ...displayOf(h, M.a2, ALICE_PHONE), at: 900 });
    expectClean(3, h);
  });

  it("does not compare frames across connections", () => {
    const h = baseline();
    const late = displayOf(h, M.c1, ALICE_PHONE);
    late.connection = 2;
    const i = h.displays.indexOf(late);
    const j = h.displays.indexOf(displayOf(h, M.b3, ALICE_PHONE));
    [h.displays[i], h.displays[j]] = [h.displays[j]!, h.displays[i]!];
    expectClean(3, h);
  });
});

describe("invariant 4, sender FIFO", () => {
  it("reports a later send ordered before an earlier ok one", () => {
    const h = baseline();
    renameMessage(h, M.a3, id(5));
    expectViolation(4, h, D(ALICE_PHONE), id(5), "a3", M.a1, "a1");
  });

  it("reports it when b is invoked exactly when a's sent arrived", () => {
    const h = baseline();
    h.sends.push({ device: ALICE_PHONE, conversation_id: DM, client_msg_id: "a4", content: "x", invoked_at: 410, outcome: "ok", message_id: id(45), completed_at: 420 });
    expectViolation(4, h, D(ALICE_PHONE), id(45), "a4", M.a3);
  });

  it("accepts a pipelined send invoked before the previous one was ok", () => {
    const h = baseline();
    h.sends.push({ device: ALICE_PHONE, conversation_id: DM, client_msg_id: "a4", content: "x", invoked_at: 405, outcome: "ok", message_id: id(45), completed_at: 420 });
    expectClean(4, h);
  });

  it("counts a retried send as invoked at its first attempt", () => {
    const h = baseline();
    h.sends.push({ device: ALICE_PHONE, conversation_id: DM, client_msg_id: "a4", content: "x", invoked_at: 405, outcome: "info", message_id: null, completed_at: null });
    h.sends.push({ device: ALICE_PHONE, conversation_id: DM, client_msg_id: "a4", content: "x", invoked_at: 430, outcome: "ok", message_id: id(45), completed_at: 440 });
    expectClean(4, h);
  });

  it("does not compare sends of different conversations or devices", () => {
    const h = baseline();
    h.sends.push({ device: ALICE_PHONE, conversation_id: GROUP, client_msg_id: "a5", content: "x", invoked_at: 900, outcome: "ok", message_id: id(35), completed_at: 910 });
    h.sends.push({ device: ALICE_LAPTOP, conversation_id: DM, client_msg_id: "a6", content: "x", invoked_at: 900, outcome: "ok", message_id: id(15), completed_at: 910 });
    expectClean(4, h);
  });
});

describe("invariant 5, exactly-once display", () => {
  it("reports a message displayed twice on one device", () => {
    const h = baseline();
    h.displays.push({ ...displayOf(h, M.b1, ALICE_PHONE), at: 900, connection: 2 });
    expectViolation(5, h, M.b1, D(ALICE_PHONE), "2 times");
  });

  it("reports one client_msg_id that became two message_ids", () => {
    const h = baseline();
    h.sends.push({ device: ALICE_PHONE, conversation_id: DM, client_msg_id: "a1", content: "text of a1", invoked_at: 120, outcome: "ok", message_id: id(11), completed_at: 130 });
    expectViolation(5, h, "a1", M.a1, id(11));
  });

  it("reports a message a device must have displayed 0 times at quiescence", () => {
    const h = baseline();
    dropDisplay(h, M.c1, BOB_PHONE);
    expectViolation(5, h, M.c1, D(BOB_PHONE), "0 times");
  });

  it("does not require displays before quiescence", () => {
    const h = baseline();
    dropDisplay(h, M.c1, BOB_PHONE);
    h.final.quiescent = false;
    expectClean(5, h);
  });
});

describe("invariant 6, receipts move forward", () => {
  it("reports a receipt that goes back from read to delivered", () => {
    const h = baseline();
    h.receipts.push({ device: ALICE_PHONE, conversation_id: DM, message_id: M.a1, user_id: "bob", status: "delivered", at: 160 });
    expectViolation(6, h, D(ALICE_PHONE), M.a1, "bob", "go back");
  });

  it("reports delivered about a recipient whose devices never received it", () => {
    const h = baseline();
    h.receipts.push({ device: CAROL_PHONE, conversation_id: GROUP, message_id: M.c1, user_id: "carol", status: "delivered", at: 330 });
    h.receipts.push({ device: ALICE_PHONE, conversation_id: DM, message_id: M.a3, user_id: "carol", status: "delivered", at: 430 });
    expectViolation(6, h, D(ALICE_PHONE), M.a3, "carol");
  });

  it("reports delivered seen before the recipient's device displayed it", () => {
    const h = baseline();
    displayOf(h, M.a3, BOB_PHONE).at = 420;
    for (const a of h.acks) if (a.message_id === M.a3 && same(a.device, BOB_PHONE)) a.at = 421;
    expectViolation(6, h, D(ALICE_PHONE), M.a3, "bob", "first at 420");
  });

  it("reports read without a read ack", () => {
    const h = baseline();
    h.receipts.push({ device: ALICE_PHONE, conversation_id: DM, message_id: M.a3, user_id: "bob", status: "read", at: 500 });
    expectViolation(6, h, D(ALICE_PHONE), M.a3, "read by bob");
  });

  it("reports a regression per recipient, not across recipients", () => {
    const h = baseline();
    h.receipts.push({ device: CAROL_PHONE, conversation_id: GROUP, message_id: M.c1, user_id: "alice", status: "read", at: 330 });
    h.acks.push({ device: ALICE_PHONE, conversation_id: GROUP, message_id: M.c1, status: "read", at: 325 });
    h.receipts.push({ device: CAROL_PHONE, conversation_id: GROUP, message_id: M.c1, user_id: "bob", status: "delivered", at: 335 });
    expectClean(6, h);
    const back = clone(h);
    back.receipts.push({ device: CAROL_PHONE, conversation_id: GROUP, message_id: M.c1, user_id: "alice", status: "delivered", at: 340 });
    expectViolation(6, back, D(CAROL_PHONE), M.c1, "alice", "go back from read");
  });

  it("accepts sent again after delivered (the answer to a retried attempt)", () => {
    const h = baseline();
    h.receipts.push({ device: ALICE_PHONE, conversation_id: DM, message_id: M.a3, user_id: null, status: "sent", at: 500 });
    expectClean(6, h);
  });

  it("reports a receipt frame that goes back on one connection, though the screen never showed it (the client's guard dropped it)", () => {
    const h = baseline();
    const frame = (status: "delivered" | "read", at: number, connection: number) => ({ device: ALICE_PHONE, conversation_id: DM, message_id: M.a1, user_id: "bob", status, at, connection });
    h.wire_receipts = [frame("delivered", 140, 1), frame("read", 150, 1)];
    expectClean(6, h);
    // Across a reconnect a late frame may repeat an older status (the client drops it).
    h.wire_receipts.push(frame("delivered", 170, 2));
    expectClean(6, h);
    h.wire_receipts.push(frame("read", 175, 2), frame("delivered", 180, 2));
    expectViolation(6, h, D(ALICE_PHONE), M.a1, "bob", "going back from read", "connection 2");
  });
});

describe("invariant 7, pending store drains", () => {
  it("reports a pending entry left for a connected device at quiescence", () => {
    const h = baseline();
    h.final.pending.push({ device: BOB_PHONE, message_id: M.a3 });
    expectViolation(7, h, M.a3, D(BOB_PHONE), "connected");
  });

  it("reports a message that left the pending store of a disconnected device that never got it", () => {
    const h = baseline();
    disconnect(h, BOB_PHONE, 300);
    dropDisplay(h, M.a3, BOB_PHONE);
    dropDisplay(h, M.c1, BOB_PHONE);
    h.final.pending.push({ device: BOB_PHONE, message_id: M.c1 });
    expectViolation(7, h, M.a3, D(BOB_PHONE), "left the pending store");
    expect(check(7, h).some((v) => v.message.includes(M.c1))).toBe(false);
  });

  it("reports a pending entry its device acked after the heal on a connection that stayed open", () => {
    const h = baseline();
    h.acks.push({ device: BOB_PHONE, conversation_id: DM, message_id: M.a1, status: "delivered", at: 1050 });
    disconnect(h, BOB_PHONE, 1190);
    h.final.pending.push({ device: BOB_PHONE, message_id: M.a1 });
    expectViolation(7, h, M.a1, D(BOB_PHONE), "acked it at 1050");
  });

  it("excuses a pending entry whose ack may have been lost (during faults, or as the socket closed)", () => {
    const h = baseline();
    disconnect(h, BOB_PHONE, 900);
    h.final.pending.push({ device: BOB_PHONE, message_id: M.a1 });
    expectClean(7, h);
    const closing = clone(h);
    closing.acks.push({ device: BOB_PHONE, conversation_id: DM, message_id: M.a1, status: "delivered", at: 1050 });
    const bob = closing.connections?.find((c) => same(c.device, BOB_PHONE));
    if (bob === undefined) throw new Error("baseline has no connection for bob");
    bob.closed_at = 1060;
    expectClean(7, closing);
  });

  it("reports an unread count that disagrees with the read acks", () => {
    const h = baseline();
    h.final.unread = (h.final.unread ?? []).map((u) => (u.user_id === "bob" && u.conversation_id === DM ? { ...u, count: 0 } : u));
    expectViolation(7, h, "bob", DM, M.a3, "should be 1");
  });

  it("counts only messages the user must have in unread", () => {
    const h = baseline();
    h.final.unread = (h.final.unread ?? []).map((u) => (u.user_id === "carol" ? { ...u, count: 2 } : u));
    expectViolation(7, h, "carol", GROUP, "should be 1");
  });
});

describe("invariant 8, presence converges", () => {
  it("reports a watcher whose last update says offline while the user is connected", () => {
    const h = baseline();
    h.received.push({ kind: "presence", device: ALICE_PHONE, user_id: "bob", status: "offline", at: 900 });
    expectViolation(8, h, D(ALICE_PHONE), "bob", "offline");
  });

  it("reports a watcher still seeing online a user with no connected device", () => {
    const h = baseline();
    disconnect(h, ALICE_PHONE, 900);
    disconnect(h, ALICE_LAPTOP, 900);
    expectViolation(8, h, D(CAROL_PHONE), "alice", "last saw alice online");
  });

  it("reports a watch that never got any presence update", () => {
    const h = baseline();
    h.final.presence_watches?.push({ device: BOB_PHONE, user_id: "carol" });
    expectViolation(8, h, D(BOB_PHONE), "carol", "never received");
  });

  it("reports a stale online long after the user's last connection ended", () => {
    const h = baseline();
    const bob = h.connections?.find((c) => same(c.device, BOB_PHONE));
    if (bob === undefined) throw new Error("baseline has no connection for bob");
    bob.closed_at = 450;
    h.connections?.push({ device: BOB_PHONE, connection: 2, opened_at: 950, closed_at: null });
    h.received.push({ kind: "presence", device: ALICE_PHONE, user_id: "bob", status: "online", at: 700 });
    expectViolation(8, h, D(ALICE_PHONE), "bob", "ended at 450");
    h.received.pop();
    h.received.push({ kind: "presence", device: ALICE_PHONE, user_id: "bob", status: "online", at: 600 });
    expectClean(8, h);
  });

  it("does not judge convergence when the run ended within the bound after healing", () => {
    const h = baseline();
    h.final.quiescent_at = 1100;
    h.received.push({ kind: "presence", device: ALICE_PHONE, user_id: "bob", status: "offline", at: 900 });
    expectClean(8, h);
  });

  it("skips stale-online checks when the history has no connections", () => {
    const h = baseline();
    delete h.connections;
    h.received.push({ kind: "presence", device: ALICE_PHONE, user_id: "ghost", status: "online", at: 700 });
    expectClean(8, h);
  });
});

describe("invariant 9, no leaks", () => {
  it("reports a push notification to a user outside the conversation, and accepts one to its member", () => {
    const h = baseline();
    h.pushes = [{ user_id: "bob", conversation_id: DM, message_id: M.a1, from: "alice", at: 120 }];
    expectClean(9, h);
    h.pushes.push({ user_id: "carol", conversation_id: DM, message_id: M.a1, from: "alice", at: 125 });
    expectViolation(9, h, "push notification", M.a1, "carol", "not a member");
  });

  it("reports a 1:1 message displayed to a third user", () => {
    const h = baseline();
    h.displays.push({ ...displayOf(h, M.a1, BOB_PHONE), device: CAROL_PHONE });
    expectViolation(9, h, M.a1, D(CAROL_PHONE), "not a member");
  });

  it("reports a group message ordered before the user joined", () => {
    const h = baseline();
    h.displays.push({ ...displayOf(h, M.a2, BOB_PHONE), device: CAROL_PHONE, at: 260 });
    expectViolation(9, h, M.a2, D(CAROL_PHONE));
  });

  it("reports a typing event in a conversation the user is not in", () => {
    const h = baseline();
    h.received.push({ kind: "typing", device: CAROL_PHONE, conversation_id: DM, from: "bob", at: 190 });
    expectViolation(9, h, D(CAROL_PHONE), DM, "typing");
  });

  it("reports a receipt that reaches a user other than the sender", () => {
    const h = baseline();
    h.receipts.push({ device: BOB_PHONE, conversation_id: DM, message_id: M.a1, user_id: "bob", status: "read", at: 152 });
    expectViolation(9, h, M.a1, D(BOB_PHONE), "another user");
  });

  it("reports a group message displayed after the user left when it was ordered after too", () => {
    const h = baseline();
    h.memberships = h.memberships.map((m) => (m.conversation_id === GROUP && m.user_id === "carol" ? { ...m, left_at: 650 } : m));
    expectViolation(9, h, M.b3, D(CAROL_PHONE));
  });

  it("accepts a message ordered while the user was a member and shown after it left", () => {
    const h = baseline();
    h.memberships = h.memberships.map((m) => (m.conversation_id === GROUP && m.user_id === "bob" ? { ...m, left_at: 312 } : m));
    expectClean(9, h);
  });
});

describe("invariant 10, liveness", () => {
  it("reports a run that did not reach quiescence", () => {
    const h = baseline();
    h.final.quiescent = false;
    expectViolation(10, h, "quiescence");
  });

  it("names what was still pending, and where, when the run did not reach quiescence", () => {
    const h = baseline();
    h.final.quiescent = false;
    h.final.stuck = ["pending: 1 entries for bob/phone (connected via gw-1): m42", "router rt-0-1: job 7 on send 2:13 in d.alice.bob waits on persist"];
    expectViolation(10, h, "quiescence", "pending: 1 entries for bob/phone (connected via gw-1): m42", "waits on persist");
  });

  it("reports a delivery after the heal that took longer than the bound", () => {
    const h = baseline();
    h.sends.push({ device: ALICE_PHONE, conversation_id: DM, client_msg_id: "a4", content: "x", invoked_at: 1010, outcome: "ok", message_id: id(70), completed_at: 1020 });
    h.final.history[DM]?.push(id(70));
    h.displays.push({ device: ALICE_PHONE, conversation_id: DM, message_id: id(70), from: "alice", client_msg_id: "a4", content: "x", at: 1020, connection: 1, via: "own" });
    h.displays.push({ device: ALICE_LAPTOP, conversation_id: DM, message_id: id(70), from: "alice", client_msg_id: "a4", content: "x", at: 1050, connection: 1, via: "new_message" });
    h.displays.push({ device: BOB_PHONE, conversation_id: DM, message_id: id(70), from: "alice", client_msg_id: "a4", content: "x", at: 1190, connection: 1, via: "new_message" });
    expectViolation(10, h, id(70), D(BOB_PHONE), "only at 1190", "deadline 1120");
  });

  it("reports an ok send never shown on a connected member device", () => {
    const h = baseline();
    dropDisplay(h, M.a3, BOB_PHONE);
    expectViolation(10, h, M.a3, D(BOB_PHONE), "never");
  });

  it("reports a client refused for rate on a connection where it sent no more than the burst besides acks", () => {
    const h = baseline();
    const refusal = (frames_sent: number, connection: number, closed = false) => ({ device: BOB_PHONE, connection, at: 300, frames_sent, frames_burst: 24, closed });
    // Past the burst the gateway may refuse (clocks and pauses reshape a client's rate): not judged.
    h.rate_refusals = [refusal(25, 1), refusal(40, 1, true)];
    expectClean(10, h);
    h.rate_refusals.push(refusal(3, 2), refusal(3, 2), refusal(4, 2, true));
    expectViolation(10, h, D(BOB_PHONE), "connection 2", "only 3 frames other than acks", "2 times more", "closed for its rate");
    expect(check(10, h)).toHaveLength(1);
  });

  it("starts the deadline when the device's last connection opened", () => {
    const h = baseline();
    const bob = h.connections?.find((c) => same(c.device, BOB_PHONE));
    if (bob === undefined) throw new Error("baseline has no connection for bob");
    bob.closed_at = 400;
    h.connections?.push({ device: BOB_PHONE, connection: 2, opened_at: 1150, closed_at: null });
    displayOf(h, M.a3, BOB_PHONE).at = 1200;
    expectClean(10, h);
    delete h.connections;
    expectViolation(10, h, M.a3, D(BOB_PHONE), "only at 1200");
  });
});

describe("the report", () => {
  it(`caps each checker at ${VIOLATIONS_PER_CHECKER_MAX} violations and counts the rest`, () => {
    const h = baseline();
    for (let n = 0; n < 50; n++) {
      h.displays.push({ device: BOB_PHONE, conversation_id: DM, message_id: id(1000 + n), from: "alice", client_msg_id: `ghost-${n}`, content: "boo", at: 800, connection: 1, via: "new_message" });
    }
    const found = check(2, h);
    expect(found).toHaveLength(VIOLATIONS_PER_CHECKER_MAX + 1);
    expect(found.at(-1)?.message).toMatch(/^\.\.\. and \d+ more violations of invariant 2 \(no-phantoms\)/);
    expect(found.every((v) => v.invariant === 2 && v.name === "no-phantoms")).toBe(true);
  });

  it("is the same for a history checked twice", () => {
    const h = baseline();
    dropDisplay(h, M.a3, BOB_PHONE);
    expect(checkAll(h)).toEqual(checkAll(clone(h)));
  });
});

describe("invariant 11, honest clients are served", () => {
  it("fails a RATE_LIMITED refusal on a connection that kept within the allowance, naming the device", () => {
    const h = baseline();
    h.limit_refusals = [{ device: ALICE_PHONE, connection: 1, at: 1_234, within_contract: true }];
    expectViolation(11, h, D(ALICE_PHONE), "1234 ms", "RATE_LIMITED");
  });

  it("excuses a refusal on a connection that had gone past the allowance, and a history without refusals", () => {
    const h = baseline();
    h.limit_refusals = [{ device: BOB_PHONE, connection: 2, at: 50, within_contract: false }];
    expectClean(11, h);
    expectClean(11, baseline());
  });
});

/**
 * The gateway host's presence fan-out: a watched user's status is read only once the port
 * subscription is in place. Read first, and a transition published between the read and
 * the subscription is lost (pub/sub does not queue): the cluster test saw "offline", then
 * nothing for 30 s, while bob was online.
 */
import { expect, it } from "vitest";
import { ClockSystem } from "../../adapters/memory/clock-memory.js";
import { DirectoryMemory } from "../../adapters/memory/directory-memory.js";
import { GatewayLinkMemory } from "../../adapters/memory/gateway-link-memory.js";
import { LogMemory } from "../../adapters/memory/log-memory.js";
import { PendingStoreMemory } from "../../adapters/memory/pending-store-memory.js";
import { SessionStoreMemory } from "../../adapters/memory/session-store-memory.js";
import { defaultLimits } from "../../core/limits.js";
import type { Presence, PresenceListener, PresenceState } from "../../core/ports/presence.js";
import { GatewayHost, refusableSend } from "./gateway-host.js";
import { overloadedSendFrame } from "../../core/gateway/index.js";
import { timersReal } from "../timers-real.js";

/** A presence port whose subscribe completes only when the test says; it records the order of calls. */
function slowPresence() {
  const calls: string[] = [];
  let finish: (() => void) | null = null;
  let listener: PresenceListener | null = null;
  const presence: Presence = {
    heartbeat: async () => undefined,
    disconnect: async () => undefined,
    status: async (user_ids) => {
      calls.push(`status ${user_ids.join(",")}`);
      return new Map<string, PresenceState>(user_ids.map((u) => [u, { status: "online", last_seen_ms: null }]));
    },
    subscribe: (user_id, l) => {
      calls.push(`subscribe ${user_id}`);
      listener = l;
      return new Promise((resolve) => {
        finish = () => {
          calls.push(`subscribed ${user_id}`);
          resolve(async () => undefined);
        };
      });
    },
    close: async () => undefined,
  };
  return { presence, calls, subscribed: () => finish?.(), publish: (status: "online" | "offline") => listener?.({ user_id: "bob", status, last_seen_ms: null }) };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

it("reads a watched user's status only after its subscription is in place", async () => {
  const clock = new ClockSystem();
  const p = slowPresence();
  const host = new GatewayHost(
    { log: new LogMemory(), pending: new PendingStoreMemory(), sessions: new SessionStoreMemory(clock), presence: p.presence, directory: new DirectoryMemory(), link: new GatewayLinkMemory(), media: { isUploadedBy: async () => false }, clock, timers: timersReal(clock) },
    { gateway_id: "gw-0", limits: defaultLimits(), call_timeout_ms: 5_000, session_ttl_ms: 90_000 },
  );
  const sent: string[] = [];
  const connection = host.open({ user_id: "alice", device_id: "d1", connection_id: "c1" }, { send: (t) => sent.push(t), close: () => undefined });
  await tick();
  connection!.text(JSON.stringify({ event: "subscribe_presence", data: { user_ids: ["bob"] } }));
  await tick();
  expect(p.calls).toEqual(["subscribe bob"]); // no status read yet
  p.subscribed();
  await tick();
  expect(p.calls).toEqual(["subscribe bob", "subscribed bob", "status bob"]);
  const updates = sent.map((t) => JSON.parse(t) as { event: string; data: { status?: string } }).filter((f) => f.event === "presence_update");
  expect(updates.map((f) => f.data.status)).toEqual(["online"]);
  // A transition after the subscription reaches the watcher through the listener.
  p.publish("offline");
  await tick();
  expect(sent.map((t) => JSON.parse(t) as { event: string; data: { status?: string } }).filter((f) => f.event === "presence_update").map((f) => f.data.status)).toEqual(["online", "offline"]);
  connection!.closed();
});

it("refuses sends with a retryable OVERLOADED while the backlog is full, and still takes acks", async () => {
  const clock = new ClockSystem();
  const log = new LogMemory();
  let backlog = 0;
  const host = new GatewayHost(
    { log, pending: new PendingStoreMemory(), sessions: new SessionStoreMemory(clock), presence: slowPresence().presence, directory: new DirectoryMemory(), link: new GatewayLinkMemory(), media: { isUploadedBy: async () => false }, clock, timers: timersReal(clock) },
    { gateway_id: "gw-0", limits: defaultLimits(), call_timeout_ms: 5_000, session_ttl_ms: 90_000, admission: { overloaded: () => backlog >= 100 } },
  );
  const sent: string[] = [];
  const connection = host.open({ user_id: "alice", device_id: "d1", connection_id: "c1" }, { send: (t) => sent.push(t), close: () => undefined });
  await tick();
  const appended = async (): Promise<number> => {
    const consumer = await log.consumer(`probe-${Math.random()}`, "m");
    let n = 0;
    for (;;) {
      const got = await consumer.poll(1_000, 0);
      if (got.length === 0) break;
      n += got.length;
    }
    await consumer.close();
    return n;
  };
  const send = (n: number): void =>
    connection!.text(JSON.stringify({ event: "send_message", data: { to: "bob", content: "hi", type: "text", client_msg_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}` } }));
  backlog = 100;
  send(1);
  await tick();
  const errors = sent.map((t) => JSON.parse(t) as { event: string; data: { code?: string; retryable?: boolean } }).filter((f) => f.event === "error");
  expect(errors.map((f) => [f.data.code, f.data.retryable])).toEqual([["OVERLOADED", true]]);
  expect(await appended()).toBe(0);
  connection!.text(JSON.stringify({ event: "ack", data: { message_id: "0000000000000000001", status: "delivered", conversation_id: "d.alice.bob" } }));
  await tick();
  expect(await appended()).toBe(1);
  backlog = 99;
  send(2);
  await tick();
  expect(await appended()).toBe(2);
  connection!.closed();
});

it("refuses under overload without decoding only well-formed sends; everything else takes the normal path", () => {
  const id = "00000000-0000-4000-8000-000000000001";
  expect(refusableSend(JSON.stringify({ event: "send_message", data: { to: "bob", content: "hi", type: "text", client_msg_id: id } }))).toBe(id);
  expect(refusableSend(JSON.stringify({ event: "send_group_message", data: { group_id: "g", content: "hi", type: "text", client_msg_id: id } }))).toBe(id);
  expect(refusableSend(JSON.stringify({ event: "ack", data: { message_id: "1", status: "delivered", conversation_id: "d.a.b" } }))).toBeNull();
  expect(refusableSend(JSON.stringify({ event: "send_message", data: { client_msg_id: "not-a-uuid" } }))).toBeNull();
  expect(refusableSend('{"event":"send_message","data":')).toBeNull();
  expect(refusableSend(JSON.stringify({ event: "typing", data: { text: '"send_message"' } }))).toBeNull();
  // The answer is the very frame the core gives a send whose append was refused.
  expect(overloadedSendFrame(id)).toEqual({
    event: "error",
    data: { code: "OVERLOADED", message: "The server is at capacity; retry shortly with the same client_msg_id.", retryable: true, client_msg_id: id },
  });
});

it("fans group typing out to the members' connections, but not in groups above typingGroupMembersMax", async () => {
  const clock = new ClockSystem();
  const directory = new DirectoryMemory();
  const sessions = new SessionStoreMemory(clock);
  const link = new GatewayLinkMemory();
  const limits = { ...defaultLimits(), typingGroupMembersMax: 4 };
  const host = new GatewayHost(
    { log: new LogMemory(), pending: new PendingStoreMemory(), sessions, presence: slowPresence().presence, directory, link, media: { isUploadedBy: async () => false }, clock, timers: timersReal(clock) },
    { gateway_id: "gw-0", limits, call_timeout_ms: 5_000, session_ttl_ms: 90_000 },
  );
  link.register("gw-0", (d) => host.receive(d));
  const users = ["u0", "u1", "u2", "u3", "u4"];
  for (const u of users) await directory.createUser({ user_id: u, username: u, password_hash: "x", created_at_ms: 0 });
  await directory.createGroup({ group_id: "small", name: "small", creator_id: "u0", created_at_ms: 0 }, users.slice(0, 4));
  await directory.createGroup({ group_id: "big", name: "big", creator_id: "u0", created_at_ms: 0 }, users);
  const received = new Map<string, string[]>();
  const connections = users.map((u) =>
    host.open({ user_id: u, device_id: `${u}-d`, connection_id: `c-${u}` }, { send: (t) => received.set(u, [...(received.get(u) ?? []), t]), close: () => undefined }),
  );
  await tick();
  const typingSeenBy = (): string[] =>
    users.filter((u) => (received.get(u) ?? []).some((t) => (JSON.parse(t) as { event: string }).event === "typing"));
  connections[0]!.text(JSON.stringify({ event: "typing", data: { group_id: "small" } }));
  await tick();
  expect(typingSeenBy()).toEqual(["u1", "u2", "u3"]);
  received.clear();
  connections[0]!.text(JSON.stringify({ event: "typing", data: { group_id: "big" } }));
  await tick();
  expect(typingSeenBy()).toEqual([]);
  for (const c of connections) c!.closed();
});

/** A log whose appends fail while `down` is set (a broker outage, as the host sees it). */
class LogFailing extends LogMemory {
  down = true;
  appends: string[] = [];
  override append(key: string, record: import("../../core/model.js").LogRecord): Promise<import("../../core/model.js").LogPosition> {
    this.appends.push(record.kind);
    return this.down ? Promise.reject(new Error("broker unavailable")) : super.append(key, record);
  }
}

it("answers a send whose log append failed with a retryable LOG_UNAVAILABLE, never `sent`, and retries a failed ack's append itself", async () => {
  const clock = new ClockSystem();
  const log = new LogFailing();
  // The retry waits far longer than one loop turn: at 5 ms, a turn on a loaded box (make test
  // at load ~15) outlasted it and the retry had already run when the test counted one append.
  const limits = { ...defaultLimits(), ackAppendRetryBaseMs: 200, ackAppendRetryMaxMs: 400 };
  const host = new GatewayHost(
    { log, pending: new PendingStoreMemory(), sessions: new SessionStoreMemory(clock), presence: slowPresence().presence, directory: new DirectoryMemory(), link: new GatewayLinkMemory(), media: { isUploadedBy: async () => false }, clock, timers: timersReal(clock) },
    { gateway_id: "gw-0", limits, call_timeout_ms: 5_000, session_ttl_ms: 90_000 },
  );
  const sent: { event: string; data: { code?: string; retryable?: boolean; client_msg_id?: string; status?: string } }[] = [];
  const connection = host.open({ user_id: "alice", device_id: "d1", connection_id: "c1" }, { send: (t) => sent.push(JSON.parse(t)), close: () => undefined });
  await tick();
  const client_msg_id = "00000000-0000-4000-8000-000000000001";
  connection!.text(JSON.stringify({ event: "send_message", data: { to: "bob", content: "hi", type: "text", client_msg_id } }));
  await tick();
  expect(sent.filter((f) => f.event === "error").map((f) => [f.data.code, f.data.retryable, f.data.client_msg_id])).toEqual([["LOG_UNAVAILABLE", true, client_msg_id]]);
  expect(sent.some((f) => f.event === "delivery_receipt")).toBe(false);
  // An ack whose append fails is not the client's to retry: the host tries again on its timer.
  connection!.text(JSON.stringify({ event: "ack", data: { message_id: "0000000000000000001", status: "delivered", conversation_id: "d.alice.bob" } }));
  await tick();
  expect(log.appends.filter((k) => k === "ack").length).toBe(1);
  log.down = false;
  for (let waited = 0; waited < 5_000 && log.appends.filter((k) => k === "ack").length < 2; waited += 20) await new Promise((r) => setTimeout(r, 20));
  expect(log.appends.filter((k) => k === "ack").length).toBeGreaterThanOrEqual(2);
  const consumer = await log.consumer("probe", "m");
  const got = await consumer.poll(10, 0);
  expect(got.map((r) => r.record.kind)).toEqual(["ack"]);
  await consumer.close();
  connection!.closed();
});

/**
 * The relay host (production) over in-memory ports: it drains a lane in order, trims only what
 * the destination answered for, retries a failing destination with backoff until it answers
 * (nothing dropped), applies a received batch to its pending store in order and hands the puts
 * to the gateway the device is connected to; the planted `relay_gives_up` drops a batch.
 */
import { describe, expect, it } from "vitest";
import { ClockSystem } from "../../adapters/memory/clock-memory.js";
import { GatewayLinkMemory } from "../../adapters/memory/gateway-link-memory.js";
import { PendingStoreMemory } from "../../adapters/memory/pending-store-memory.js";
import { SessionStoreMemory } from "../../adapters/memory/session-store-memory.js";
import type { Delivery, PendingEntry } from "../../core/model.js";
import type { OutboxItem, RelayOp, RelayVariant } from "../../core/region/index.js";
import { timersReal } from "../timers-real.js";
import { RelayHost } from "./relay-host.js";

const clock = new ClockSystem();
const timers = timersReal(clock);
const POLICY = { batch_max: 3, idle_poll_ms: 5, retry_base_ms: 5, retry_max_ms: 20 };

const entry = (user_id: string, n: number): PendingEntry => ({
  user_id,
  device_id: "d1",
  message: { message_id: String(n).padStart(19, "0"), conversation_id: "d.a.b", sender_id: "s", sender_device_id: "ds", group_id: null, content: `m${n}`, type: "text", client_msg_id: `c${n}`, sent_at_ms: n, prev_message_id: n === 1 ? null : String(n - 1).padStart(19, "0") },
});

/** An outbox lane in memory, as OutboxPostgres behaves. */
function outbox(ops: RelayOp[]) {
  let items: OutboxItem[] = ops.map((op, i) => ({ seq: i + 1, op }));
  const trims: number[] = [];
  return {
    trims,
    left: () => items.length,
    head: async (_dest: string, max: number) => items.slice(0, max),
    trim: async (_dest: string, through: number) => {
      trims.push(through);
      items = items.filter((i) => i.seq > through);
    },
  };
}

async function until(what: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function relay(ops: RelayOp[], failures: number, variant: RelayVariant = "correct") {
  const box = outbox(ops);
  const received: RelayOp[][] = [];
  let attempts = 0;
  const send = async (_dest: string, batch: readonly RelayOp[]) => {
    attempts++;
    if (attempts <= failures) throw new Error("destination unreachable");
    received.push([...batch]);
  };
  const observed: string[] = [];
  const host = new RelayHost(
    { outbox: box, send, pending: new PendingStoreMemory(), sessions: new SessionStoreMemory(clock), link: new GatewayLinkMemory(), clock, timers },
    { region: "eu", destinations: ["eu", "us"], policy: POLICY, call_timeout_ms: 1_000, variant },
    { observed: (what) => observed.push(what) },
  );
  return { host, box, received, observed, attempts: () => attempts };
}

describe("RelayHost", () => {
  it("drains a lane in order, batch by batch, trimming each only after the destination answered", async () => {
    const ops: RelayOp[] = Array.from({ length: 7 }, (_, i) => ({ kind: "put", entries: [entry("u_us", i + 1)] }));
    const r = relay(ops, 0);
    r.host.start();
    await until(() => r.box.left() === 0);
    r.host.stop();
    expect(r.received.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(r.received.flat()).toEqual(ops);
    expect(r.box.trims).toEqual([3, 6, 7]);
  });

  it("retries a destination that fails, with backoff, until it answers; nothing is trimmed before, nothing dropped", async () => {
    const ops: RelayOp[] = [{ kind: "put", entries: [entry("u_us", 1)] }, { kind: "remove", user_id: "u_us", device_id: "d1", conversation_id: "d.a.b", message_id: entry("u_us", 1).message.message_id }];
    const r = relay(ops, 5);
    r.host.start();
    await until(() => r.attempts() >= 3);
    expect(r.box.trims).toEqual([]);
    expect(r.host.lanesNow()).toEqual([{ to: "us", phase: expect.stringMatching(/backoff|sending/), attempt: expect.any(Number), batch: 2 }]);
    await until(() => r.box.left() === 0);
    r.host.stop();
    expect(r.received).toEqual([ops]);
    expect(r.observed.filter((o) => o === "relay_retried").length).toBe(5);
    expect(r.observed).not.toContain("relay_dropped");
  });

  it("planted relay_gives_up: drops the batch after three failures, and the destination never gets it", async () => {
    const ops: RelayOp[] = [{ kind: "put", entries: [entry("u_us", 1)] }];
    const r = relay(ops, 5, "relay_gives_up");
    r.host.start();
    await until(() => r.box.left() === 0);
    r.host.stop();
    expect(r.observed).toContain("relay_dropped");
    expect(r.received).toEqual([]);
  });

  it("applies a received batch in order (a put, then its removal) and delivers the puts to the device's gateway", async () => {
    const pending = new PendingStoreMemory();
    const sessions = new SessionStoreMemory(clock);
    const link = new GatewayLinkMemory();
    const got: Delivery[] = [];
    link.register("gw-1", async (d) => void got.push(...d));
    await sessions.register({ user_id: "u_us", device_id: "d1", gateway_id: "gw-1", connection_id: "c1" }, 60_000);
    const host = new RelayHost({ outbox: outbox([]), send: async () => undefined, pending, sessions, link, clock, timers }, { region: "us", destinations: ["eu", "us"], policy: POLICY, call_timeout_ms: 1_000 });
    const m1 = entry("u_us", 1);
    const m2 = entry("u_us", 2);
    await host.receive("eu", [{ kind: "put", entries: [m1, m2] }, { kind: "remove", user_id: "u_us", device_id: "d1", conversation_id: m1.message.conversation_id, message_id: m1.message.message_id }]);
    expect((await pending.list("u_us", "d1", null, 10)).map((e) => e.message.message_id)).toEqual([m2.message.message_id]);
    // The same batch again (the sender did not hear the answer): the removed entry stays removed.
    await host.receive("eu", [{ kind: "put", entries: [m1, m2] }, { kind: "remove", user_id: "u_us", device_id: "d1", conversation_id: m1.message.conversation_id, message_id: m1.message.message_id }]);
    expect((await pending.list("u_us", "d1", null, 10)).map((e) => e.message.message_id)).toEqual([m2.message.message_id]);
    await until(() => got.length >= 4);
    expect(got.slice(0, 2).map((d) => (d.kind === "message" ? d.message.message_id : d.kind))).toEqual([m1.message.message_id, m2.message.message_id]);
  });
});

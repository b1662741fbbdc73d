/**
 * The seam property: whatever the interleaving of router progress, live deliveries (lost,
 * repeated, reordered), pending reads (answered late) and acks, the new_message frames of a
 * conversation leave a connection in message_id order, repeated only by a resync while still
 * pending, and once everything settles and a
 * resync has run, every message meant for the device has been emitted (or acked, which
 * implies emitted) and every own `sent` receipt has been forwarded.
 */
import fc from "fast-check";
import { describe, it } from "vitest";
import { defaultLimits } from "../limits.js";
import type { Delivery, PendingEntry } from "../model.js";
import { gatewayInit, gatewayStep, type GatewayEffect, type GatewayInput } from "./index.js";
import { live, mid, stored } from "./test-support.js";

const seed = Number(process.env.FC_SEED ?? 20261128);
const CONVS = ["d.u0.u1", "g.g1"];

type Msg = { n: number; conv: string; prev: number | null; kind: "for_device" | "own" | "other" };

/** A random history of two conversations: who each message is for, in ordering order. */
const history = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.constantFrom<Msg["kind"]>("for_device", "for_device", "own", "other")), {
    minLength: 1,
    maxLength: 30,
  })
  .map((raw) => {
    const last: Record<string, number | null> = {};
    return raw.map(([c, kind], i): Msg => {
      const conv = CONVS[c]!;
      const prev = last[conv] ?? null;
      last[conv] = i + 1;
      return { n: i + 1, conv, prev, kind };
    });
  });

type Action = "router" | "deliver" | "drop" | "duplicate" | "read" | "ack";
const actions = fc.array(fc.constantFrom<Action>("router", "router", "deliver", "deliver", "drop", "duplicate", "read", "read", "ack"), {
  minLength: 0,
  maxLength: 200,
});

function run(msgs: Msg[], script: Action[], pick: number[]): void {
  const limits = { ...defaultLimits(), pendingPageEntriesMax: 3, pendingResyncIntervalMs: 1_000 };
  const state = gatewayInit({ gateway_id: "g1", connection_id: "c1", user_id: "u1", device_id: "d1", limits }, 0);
  const pending = new Map<string, PendingEntry>(); // message_id -> entry
  const removed = new Set<string>();
  let registered = false;
  let routed = 0;
  const inflight: Delivery[] = [];
  const reads: GatewayEffect[] = [];
  const emitted = new Map<string, string[]>(); // conv -> ids in emission order
  const acked = new Set<string>();
  const receiptsForwarded = new Set<string>();
  let now = 0;
  let p = 0;
  const choose = (n: number): number => (n <= 1 ? 0 : (pick[p++ % pick.length] ?? 0) % n);

  const feed = (input: GatewayInput): void => {
    for (const e of gatewayStep(state, input)) {
      if (e.type === "read_pending_page" || e.type === "read_pending_conversation") reads.push(e);
      if (e.type === "register_session") registered = true;
      if (e.type === "send_frame" && e.frame.event === "new_message") {
        const d = e.frame.data;
        const list = emitted.get(d.conversation_id) ?? [];
        if (list.includes(d.message_id)) {
          // A repeat is allowed only as a resync's redelivery of what is still pending.
          if (removed.has(d.message_id)) throw new Error(`message ${d.message_id} repeated after the device acked it`);
          continue;
        }
        list.push(d.message_id);
        emitted.set(d.conversation_id, list);
      }
      if (e.type === "send_frame" && e.frame.event === "delivery_receipt") receiptsForwarded.add(e.frame.data.message_id);
    }
  };
  const list = (conv: string | null, after: string | null, cursor: { conversation_id: string; message_id: string } | null, limit: number): PendingEntry[] => {
    const all = [...pending.values()].filter((e) => !removed.has(e.message.message_id));
    const key = (e: PendingEntry): string => `${e.message.conversation_id}|${e.message.message_id}`;
    const sorted = all.sort((a, b) => (key(a) < key(b) ? -1 : 1));
    const filtered = conv !== null
      ? sorted.filter((e) => e.message.conversation_id === conv && (after === null || e.message.message_id > after))
      : sorted.filter((e) => cursor === null || key(e) > `${cursor.conversation_id}|${cursor.message_id}`);
    return filtered.slice(0, limit);
  };
  const doRead = (): void => {
    if (reads.length === 0) return;
    const e = reads.splice(choose(reads.length), 1)[0]!;
    if (e.type === "read_pending_page") feed({ type: "pending_page_read", read_id: e.read_id, entries: list(null, null, e.after, e.limit), now_ms: now });
    if (e.type === "read_pending_conversation") {
      feed({ type: "pending_conversation_read", read_id: e.read_id, conversation_id: e.conversation_id, entries: list(e.conversation_id, e.after_message_id, null, e.limit), now_ms: now });
    }
  };
  const routeNext = (): void => {
    const m = msgs[routed++];
    if (m === undefined) return;
    const message = stored(m.n, m.prev, m.kind === "own" ? "u1" : "u0", m.conv);
    if (m.kind === "for_device") {
      // Pending before lookup, as the router does.
      if (!removed.has(message.message_id)) pending.set(message.message_id, { user_id: "u1", device_id: "d1", message });
      if (registered) inflight.push(live(m.n, m.prev, m.conv));
    } else if (m.kind === "own" && registered) {
      inflight.push({
        kind: "receipt",
        connection_id: "c1",
        receipt: { message_id: mid(m.n), conversation_id: m.conv, status: "sent", client_msg_id: message.client_msg_id },
        prev_message_id: message.prev_message_id,
      });
    }
  };

  feed({ type: "connection_opened", now_ms: now });
  feed({ type: "session_registered", ok: true, now_ms: now });
  for (const action of script) {
    now += 1;
    switch (action) {
      case "router":
        routeNext();
        break;
      case "deliver":
      case "drop":
      case "duplicate": {
        if (inflight.length === 0) break;
        const i = choose(inflight.length);
        const d = inflight[i]!;
        if (action !== "duplicate") inflight.splice(i, 1);
        if (action !== "drop" || d.kind === "receipt") feed({ type: "delivery_received", delivery: d, now_ms: now });
        break;
      }
      case "read":
        doRead();
        break;
      case "ack": {
        const all = [...emitted.values()].flat().filter((id) => pending.has(id) && !removed.has(id));
        if (all.length === 0) break;
        const id = all[choose(all.length)]!;
        removed.add(id);
        acked.add(id);
        break;
      }
    }
  }
  // Settle: finish routing, deliver what is in flight, answer every read, then resync.
  while (routed < msgs.length) routeNext();
  while (inflight.length > 0 || reads.length > 0) {
    now += 1;
    if (inflight.length > 0) feed({ type: "delivery_received", delivery: inflight.shift()!, now_ms: now });
    else doRead();
  }
  now += 10_000;
  feed({ type: "frame_received", frame: { event: "heartbeat", data: {} }, now_ms: now });
  while (reads.length > 0) doRead();

  for (const [conv, ids] of emitted) {
    for (let i = 1; i < ids.length; i++) {
      if (!(ids[i - 1]! < ids[i]!)) throw new Error(`conversation ${conv} left out of order or repeated: ${ids.join(",")}`);
    }
  }
  const emittedAll = new Set([...emitted.values()].flat());
  for (const m of msgs) {
    const id = mid(m.n);
    if (m.kind === "for_device" && !emittedAll.has(id)) throw new Error(`message ${id} for the device was never emitted`);
    if (m.kind === "own" && !receiptsForwarded.has(id)) throw new Error(`sent receipt ${id} was never forwarded`);
  }
}

describe("gateway seam property", () => {
  it(`order, no repeats and no loss across every interleaving (seed ${seed})`, () => {
    fc.assert(
      fc.property(history, actions, fc.array(fc.nat(), { minLength: 1, maxLength: 64 }), (msgs, script, pick) => {
        run(msgs, script, pick);
      }),
      { seed, numRuns: 400 },
    );
  });
});

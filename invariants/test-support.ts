/**
 * Hand-made histories for the checker tests: a small builder that records a send and its
 * consequences (own display, `sent` receipt, history entry) in one call, and the baseline
 * history every checker must pass. Tests clone the baseline and break one thing.
 *
 * Rules: everything built here is a correct history unless a test edits it afterwards; times
 * are small integers on one clock; message IDs come from `id(n)`.
 */
import type { DeviceRef, History, SendOp } from "./history.js";

/** Deeply mutable, so tests can break a built history in place. */
export type Draft<T> = T extends readonly (infer U)[] ? Draft<U>[] : T extends object ? { -readonly [K in keyof T]: Draft<T[K]> } : T;
export type HistoryDraft = Draft<History>;

/** A 19-digit zero-padded message_id. */
export const id = (n: number): string => String(n).padStart(19, "0");

export const DM = "direct:alice:bob";
export const GROUP = "group:g1";

export class HistoryBuilder {
  readonly h: HistoryDraft = {
    devices: [],
    memberships: [],
    sends: [],
    displays: [],
    receipts: [],
    acks: [],
    received: [],
    connections: [],
    final: {
      quiescent: true,
      quiescent_at: null,
      healed_at: 0,
      history: {},
      pending: [],
      connected: [],
      unread: [],
      presence_watches: [],
    },
    delivery_bound_ms: 100,
    presence_bound_ms: 150,
  };
  private readonly byId = new Map<string, SendOp>();

  /** Adds a device, connected from `opened_at` on connection 1 until the end. */
  device(user_id: string, device_id: string, opened_at = 10): DeviceRef {
    const device = { user_id, device_id };
    this.h.devices.push(device);
    this.h.connections?.push({ device, connection: 1, opened_at, closed_at: null });
    this.h.final.connected.push(device);
    return device;
  }

  member(conversation_id: string, user_id: string, joined_at: number | null = null, left_at: number | null = null): this {
    this.h.memberships.push({ conversation_id, user_id, joined_at, left_at });
    this.h.final.history[conversation_id] ??= [];
    return this;
  }

  /** An ok send: invoked at `at`, `sent` 10 ms later, shown "own" then, stored in the history. */
  sendOk(device: DeviceRef, conversation_id: string, client_msg_id: string, message_id: string, at: number, connection = 1): this {
    const op: SendOp = { device, conversation_id, client_msg_id, content: `text of ${client_msg_id}`, invoked_at: at, outcome: "ok", message_id, completed_at: at + 10 };
    this.h.sends.push(op);
    this.byId.set(message_id, op);
    this.h.displays.push({ device, conversation_id, message_id, from: device.user_id, client_msg_id, content: op.content, at: at + 10, connection, via: "own" });
    this.h.receipts.push({ device, conversation_id, message_id, user_id: null, status: "sent", at: at + 10 });
    (this.h.final.history[conversation_id] ??= []).push(message_id);
    return this;
  }

  /** A send with no `sent`: `info` (with the ID the server gave it, if it was stored) or `fail`. */
  sendUnconfirmed(device: DeviceRef, conversation_id: string, client_msg_id: string, outcome: "info" | "fail", at: number, stored_as: string | null = null): this {
    const op: SendOp = { device, conversation_id, client_msg_id, content: `text of ${client_msg_id}`, invoked_at: at, outcome, message_id: null, completed_at: outcome === "fail" ? at + 5 : null };
    this.h.sends.push(op);
    if (stored_as !== null) {
      this.byId.set(stored_as, op);
      (this.h.final.history[conversation_id] ??= []).push(stored_as);
    }
    return this;
  }

  /** A new_message display on `device` at `at`, its `delivered` ack, and the receipt on the sending device. */
  deliver(message_id: string, device: DeviceRef, at: number, connection = 1): this {
    const op = this.op(message_id);
    this.h.displays.push({ device, conversation_id: op.conversation_id, message_id, from: op.device.user_id, client_msg_id: op.client_msg_id, content: op.content, at, connection, via: "new_message" });
    this.h.acks.push({ device, conversation_id: op.conversation_id, message_id, status: "delivered", at: at + 1 });
    if (device.user_id !== op.device.user_id) {
      this.h.receipts.push({ device: op.device, conversation_id: op.conversation_id, message_id, user_id: device.user_id, status: "delivered", at: at + 2 });
    }
    return this;
  }

  /** A `read` ack by `device` and the `read` receipt on the sending device. */
  read(message_id: string, device: DeviceRef, at: number): this {
    const op = this.op(message_id);
    this.h.acks.push({ device, conversation_id: op.conversation_id, message_id, status: "read", at });
    this.h.receipts.push({ device: op.device, conversation_id: op.conversation_id, message_id, user_id: device.user_id, status: "read", at: at + 1 });
    return this;
  }

  typing(to: DeviceRef, conversation_id: string, from: string, at: number): this {
    this.h.received.push({ kind: "typing", device: to, conversation_id, from, at });
    return this;
  }

  presence(to: DeviceRef, user_id: string, status: "online" | "offline", at: number): this {
    this.h.received.push({ kind: "presence", device: to, user_id, status, at });
    return this;
  }

  op(message_id: string): SendOp {
    const op = this.byId.get(message_id);
    if (op === undefined) throw new Error(`HistoryBuilder: no send recorded for message ${message_id}`);
    return op;
  }

  build(): HistoryDraft {
    return this.h;
  }
}

export const ALICE_PHONE: DeviceRef = { user_id: "alice", device_id: "phone" };
export const ALICE_LAPTOP: DeviceRef = { user_id: "alice", device_id: "laptop" };
export const BOB_PHONE: DeviceRef = { user_id: "bob", device_id: "phone" };
export const CAROL_PHONE: DeviceRef = { user_id: "carol", device_id: "phone" };

/** Message IDs of the baseline, by the client_msg_id of their send. */
export const M = { a1: id(10), b1: id(20), a2: id(30), c1: id(40), a3: id(50), b3: id(60) } as const;

/**
 * Three users (alice with a phone and a laptop, bob, carol), a 1:1 chat alice-bob and a group
 * of all three that carol joins at 250. Five ok sends, one `fail`, one `info` that was never
 * stored and one `info` that was stored and shown everywhere; every display, ack, receipt,
 * typing and presence event a correct system produces; a quiescent final state.
 */
export function baseline(): HistoryDraft {
  const b = new HistoryBuilder();
  const [ap, al, bp, cp] = [b.device("alice", "phone"), b.device("alice", "laptop"), b.device("bob", "phone"), b.device("carol", "phone")];
  b.member(DM, "alice").member(DM, "bob").member(GROUP, "alice").member(GROUP, "bob").member(GROUP, "carol", 250);
  b.presence(ap, "bob", "online", 20).presence(cp, "alice", "online", 20);

  b.sendOk(ap, DM, "a1", M.a1, 100).deliver(M.a1, al, 115).deliver(M.a1, bp, 116).read(M.a1, bp, 150);
  b.typing(ap, DM, "bob", 190).typing(al, DM, "bob", 190);
  b.sendOk(bp, DM, "b1", M.b1, 200).deliver(M.b1, ap, 215).deliver(M.b1, al, 216).read(M.b1, ap, 260);
  // Sent before carol joined: she is neither required nor allowed to see it.
  b.sendOk(al, GROUP, "a2", M.a2, 220).deliver(M.a2, ap, 235).deliver(M.a2, bp, 236);
  b.typing(ap, GROUP, "carol", 290).typing(bp, GROUP, "carol", 290);
  b.sendOk(cp, GROUP, "c1", M.c1, 300).deliver(M.c1, ap, 315).deliver(M.c1, al, 316).deliver(M.c1, bp, 317);
  b.sendOk(ap, DM, "a3", M.a3, 400).deliver(M.a3, al, 415).deliver(M.a3, bp, 416);
  b.sendUnconfirmed(bp, GROUP, "b2", "fail", 500);
  b.sendUnconfirmed(cp, GROUP, "c2", "info", 600);
  b.sendUnconfirmed(bp, GROUP, "b3", "info", 700, M.b3).deliver(M.b3, ap, 715).deliver(M.b3, al, 716).deliver(M.b3, cp, 717);

  const f = b.h.final;
  f.quiescent = true;
  f.healed_at = 1000;
  f.quiescent_at = 1200;
  f.unread = [
    { user_id: "alice", conversation_id: DM, count: 0 },
    { user_id: "bob", conversation_id: DM, count: 1 },
    { user_id: "alice", conversation_id: GROUP, count: 2 },
    { user_id: "bob", conversation_id: GROUP, count: 2 },
    { user_id: "carol", conversation_id: GROUP, count: 1 },
  ];
  f.presence_watches = [
    { device: ap, user_id: "bob" },
    { device: cp, user_id: "alice" },
  ];
  return b.build();
}

/** A deep copy of a draft, for a test to break. */
export function clone(h: HistoryDraft): HistoryDraft {
  return structuredClone(h);
}

/** Renames a message everywhere (sends, displays, receipts, acks, pending, histories) and re-sorts the histories. */
export function renameMessage(h: HistoryDraft, from: string, to: string): void {
  const swap = (x: string): string => (x === from ? to : x);
  for (const s of h.sends) if (s.message_id !== null) s.message_id = swap(s.message_id);
  for (const e of [...h.displays, ...h.receipts, ...h.acks, ...h.final.pending]) e.message_id = swap(e.message_id);
  for (const ids of Object.values(h.final.history)) {
    for (let i = 0; i < ids.length; i++) ids[i] = swap(ids[i] as string);
    ids.sort();
  }
}

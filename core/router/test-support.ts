/**
 * A tiny, pure, in-memory world that carries out the router core's calls, for the router's
 * unit and property tests: a log partition, a directory, a message store, a pending store
 * (a two-phase set) and a session table. Not an adapter: adapters live in adapters/ and are
 * judged by their contract suites.
 */
import { defaultLimits } from "../limits.js";
import type { ConsumedRecord, DedupClaim, Delivery, IdCheckpoint, InboxEntry, LogRecord, SendClaim, SessionEntry, StoredMessage } from "../model.js";
import type { ReceiptStatus } from "../protocol/frames.js";
import { receiptMax } from "../receipts/receipts.js";
import { routerInit, routerStep, type RouterConfig, type RouterState } from "./index.js";
import type { RouterCall, RouterCallResult, RouterEffect, RouterInput } from "./types.js";

export type World = {
  users: Map<string, string[]>; // user -> devices
  groups: Map<string, string[]>; // group -> members
  messages: Map<string, StoredMessage>; // conversation|id -> message
  claims: Map<string, DedupClaim>; // sender|client_msg_id -> claim (the cache variant only)
  send_claims: Map<string, SendClaim>; // sender|conversation|client_msg_id -> claim
  checkpoints: Map<string, IdCheckpoint>; // partition|offset
  pending: Map<string, StoredMessage>; // user|device|id -> message
  tombstones: Set<string>;
  receipts: Map<string, ReceiptStatus>; // id|user -> status
  inbox: Map<string, InboxEntry>; // user|conversation
  read: Map<string, string>;
  sessions: SessionEntry[];
  committed: Map<number, number>;
  delivered: { gateway_id: string; deliveries: readonly Delivery[] }[];
  pushed: { user_id: string; message_id: string }[];
};

export function worldInit(): World {
  return {
    users: new Map(),
    groups: new Map(),
    messages: new Map(),
    claims: new Map(),
    send_claims: new Map(),
    checkpoints: new Map(),
    pending: new Map(),
    tombstones: new Set(),
    receipts: new Map(),
    inbox: new Map(),
    read: new Map(),
    sessions: [],
    committed: new Map(),
    delivered: [],
    pushed: [],
  };
}

export function execute(world: World, call: RouterCall): RouterCallResult {
  switch (call.type) {
    case "load_floor": {
      let last: string | null = null;
      for (const m of world.messages.values()) {
        if (m.conversation_id === call.conversation_id && m.message_id < call.below && (last === null || m.message_id > last)) last = m.message_id;
      }
      return { type: "load_floor", last_message_id: last };
    }
    case "load_audience": {
      const q = call.query;
      const members = q.kind === "group" ? world.groups.get(q.group_id) ?? null : q.kind === "users" || q.user_ids.every((u) => world.users.has(u)) ? [...q.user_ids] : null;
      const devices: Record<string, string[]> = {};
      for (const u of members ?? []) devices[u] = world.users.get(u) ?? [];
      return { type: "load_audience", members, devices };
    }
    case "load_chain":
      return { type: "load_chain", checkpoint: world.checkpoints.get(`${call.partition}|${call.offset}`) ?? null };
    case "prepare_send": {
      const audience = execute(world, { type: "load_audience", query: call.query });
      const floor = call.floor_below === null ? null : execute(world, { type: "load_floor", conversation_id: call.conversation_id, below: call.floor_below });
      if (audience.type !== "load_audience" || (floor !== null && floor.type !== "load_floor")) throw new Error("test world: unexpected result");
      return {
        type: "prepare_send",
        members: audience.members,
        devices: audience.devices,
        found: world.send_claims.get(`${call.sender_id}|${call.conversation_id}|${call.client_msg_id}`) ?? null,
        floor: floor === null ? null : { last_message_id: floor.last_message_id },
      };
    }
    case "claim_cached": {
      const key = `${call.claim.sender_id}|${call.claim.client_msg_id}`;
      const existing = world.claims.get(key);
      if (existing !== undefined) return { type: "claim", winner: existing };
      world.claims.set(key, call.claim);
      return { type: "claim", winner: call.claim };
    }
    case "record_refusal":
      world.send_claims.set(`${call.claim.sender_id}|${call.claim.conversation_id}|${call.claim.client_msg_id}`, call.claim);
      return { type: "record_refusal" };
    case "persist": {
      if (call.claim !== null) world.send_claims.set(`${call.claim.sender_id}|${call.claim.conversation_id}|${call.claim.client_msg_id}`, call.claim);
      world.messages.set(`${call.message.conversation_id}|${call.message.message_id}`, call.message);
      for (const p of call.pending) {
        const key = `${p.user_id}|${p.device_id}|${p.message.message_id}`;
        if (!world.tombstones.has(key)) world.pending.set(key, p.message);
      }
      for (const e of call.inbox) {
        const key = `${e.user_id}|${e.conversation_id}`;
        const cur = world.inbox.get(key);
        if (cur === undefined || cur.last_message_id < e.last_message_id) world.inbox.set(key, e);
      }
      return { type: "persist" };
    }
    case "locate": {
      const sessions: Record<string, SessionEntry[]> = {};
      for (const u of call.user_ids) {
        const live = world.sessions.filter((s) => s.user_id === u);
        if (live.length > 0) sessions[u] = live;
      }
      return { type: "locate", sessions };
    }
    case "load_message":
      return { type: "load_message", message: world.messages.get(`${call.conversation_id}|${call.message_id}`) ?? null };
    case "check_member":
      return { type: "check_member", is_member: (world.groups.get(call.group_id) ?? []).includes(call.user_id) };
    case "apply_ack": {
      const r = call.pending_remove;
      const key = `${r.user_id}|${r.device_id}|${r.message_id}`;
      world.pending.delete(key);
      world.tombstones.add(key);
      let status: ReceiptStatus | null = null;
      if (call.receipt !== null) {
        const rk = `${call.receipt.message_id}|${call.receipt.user_id}`;
        status = receiptMax(world.receipts.get(rk) ?? "sent", call.receipt.status);
        world.receipts.set(rk, status);
      }
      if (call.mark_read !== null) {
        const k = `${call.mark_read.user_id}|${call.mark_read.conversation_id}`;
        const cur = world.read.get(k);
        if (cur === undefined || cur < call.mark_read.message_id) world.read.set(k, call.mark_read.message_id);
      }
      return { type: "apply_ack", receipt_status: status };
    }
    case "commit":
      for (const c of call.checkpoints) world.checkpoints.set(`${c.partition}|${c.offset}`, c);
      for (const o of call.offsets) world.committed.set(o.partition, Math.max(world.committed.get(o.partition) ?? 0, o.offset));
      return { type: "commit", outcome: "ok" };
  }
}

export function routerConfig(patch: Partial<RouterConfig> = {}): RouterConfig {
  return { router_id: "r1", machine: 1, limits: defaultLimits(), push_preview_chars: 40, variant: "correct", ...patch };
}

/** Runs a router until it asks for more records than `records`; answers every call at once. */
export function drive(
  world: World,
  state: RouterState,
  records: ConsumedRecord[],
  now_ms = 1_800_000_000_000,
  step: (state: RouterState, input: RouterInput) => RouterEffect[] = routerStep,
): RouterEffect[] {
  const all: RouterEffect[] = [];
  const queue: RouterInput[] = [{ type: "records_polled", records, now_ms }];
  let polls = 0;
  while (queue.length > 0) {
    const input = queue.shift()!;
    for (const e of step(state, input)) {
      all.push(e);
      if (e.type === "call") queue.push({ type: "effect_completed", job: e.job, result: execute(world, e.call), now_ms });
      if (e.type === "deliver") world.delivered.push({ gateway_id: e.gateway_id, deliveries: e.deliveries });
      if (e.type === "push") world.pushed.push({ user_id: e.user_id, message_id: e.notification.message_id });
      if (e.type === "poll" && polls++ === 0 && records.length > 0) queue.push({ type: "records_polled", records: [], now_ms });
    }
  }
  return all;
}

export function consumed(records: LogRecord[], partition = 0, first_offset = 0, generation = 1): ConsumedRecord[] {
  return records.map((record, i) => ({ partition, offset: first_offset + i, key: record.conversation_id, record, generation }));
}

export function freshRouter(patch: Partial<RouterConfig> = {}): RouterState {
  return routerInit(routerConfig(patch));
}

/**
 * Feeds a poll's records, then answers at once the partitions' chain loads it asks for (from
 * `world`), so that the records' jobs start: the effects of all of it, in order.
 */
export function pollLoaded(
  world: World,
  state: RouterState,
  records: ConsumedRecord[],
  now_ms: number,
  step: (state: RouterState, input: RouterInput) => RouterEffect[] = routerStep,
): RouterEffect[] {
  const out = step(state, { type: "records_polled", records, now_ms });
  for (let i = 0; i < out.length; i++) {
    const e = out[i]!;
    if (e.type === "call" && e.call.type === "load_chain") out.push(...step(state, { type: "effect_completed", job: e.job, result: execute(world, e.call), now_ms }));
  }
  return out.filter((e) => !(e.type === "call" && e.call.type === "load_chain"));
}

/**
 * Runs routers side by side, one input each in turn, every call answered at once: two
 * routers handling the same records at the same time (a stale one and the new owner) read
 * before either writes.
 */
export function driveTogether(
  world: World,
  runs: readonly { state: RouterState; records: ConsumedRecord[]; now_ms: number }[],
  step: (state: RouterState, input: RouterInput) => RouterEffect[] = routerStep,
): void {
  const queues: RouterInput[][] = runs.map((r) => [{ type: "records_polled", records: r.records, now_ms: r.now_ms }]);
  const polls = runs.map(() => 0);
  for (let busy = true; busy; ) {
    busy = false;
    runs.forEach((run, i) => {
      const input = queues[i]!.shift();
      if (input === undefined) return;
      busy = true;
      for (const e of step(run.state, input)) {
        if (e.type === "call") queues[i]!.push({ type: "effect_completed", job: e.job, result: execute(world, e.call), now_ms: run.now_ms });
        if (e.type === "deliver") world.delivered.push({ gateway_id: e.gateway_id, deliveries: e.deliveries });
        if (e.type === "poll" && polls[i]!++ === 0 && run.records.length > 0) queues[i]!.push({ type: "records_polled", records: [], now_ms: run.now_ms });
      }
    });
  }
}

/**
 * The facts every checker needs, derived from a history in linear time. `checkAll` derives
 * them once and hands them to every checker; a checker called alone derives them itself.
 * Nothing here judges; it only indexes.
 *
 * Rules of this file: composite keys join their parts with SEP, which no ID contains; "first"
 * means first in list order, which per device is the order things happened there; a message's
 * ordering window [ordered_after, ordered_by] is the narrowest interval the history proves
 * contains the moment the server ordered it (after its first invocation, no later than its
 * first `sent` and its first display anywhere).
 */
import type { DeviceRef, DisplayEvent, History, SendOp } from "../history.js";
import { deviceKey } from "../history.js";
import { mergeSpans, type Span } from "./spans.js";

export const SEP = "\u0000";

/** A (user, client_msg_id) pair: the identity of one logical send across retries. */
export function sendKey(user_id: string, client_msg_id: string): string {
  return user_id + SEP + client_msg_id;
}

export type MessageFacts = {
  readonly message_id: string;
  readonly conversation_id: string;
  readonly sender: string;
  readonly client_msg_id: string;
  readonly key: string;
  /** Some send of it came back `ok` with this message_id. */
  readonly ok: boolean;
  /** Some send of it came back `info` (and none `ok` with this ID). */
  readonly info: boolean;
  readonly ordered_after: number;
  readonly ordered_by: number;
  /** deviceKey of every device that invoked a send with this (sender, client_msg_id). */
  readonly sending_devices: ReadonlySet<string>;
};

export type AckTimes = { delivered: number | null; read: number | null };

export type Derived = {
  readonly devicesByUser: ReadonlyMap<string, readonly DeviceRef[]>;
  /** conversation -> user -> merged membership spans. */
  readonly memberSpans: ReadonlyMap<string, ReadonlyMap<string, readonly Span[]>>;
  readonly sendsByKey: ReadonlyMap<string, readonly SendOp[]>;
  readonly firstInvokedByKey: ReadonlyMap<string, number>;
  /** ok sends that carry a message_id, grouped by it. */
  readonly okSendsById: ReadonlyMap<string, readonly SendOp[]>;
  /** Every message an ok send or a display names, keyed by message_id (ok sends win). */
  readonly messages: ReadonlyMap<string, MessageFacts>;
  /** deviceKey -> message_id -> the device's first display of it. */
  readonly firstDisplay: ReadonlyMap<string, ReadonlyMap<string, DisplayEvent>>;
  /** Every display after a device's first of the same message_id, in list order. */
  readonly repeats: readonly DisplayEvent[];
  /** sendKey -> message_ids displays gave it. */
  readonly displayedIdsByKey: ReadonlyMap<string, ReadonlySet<string>>;
  /** user SEP message_id -> earliest display or ack of it by any device of the user. */
  readonly firstSeenByUser: ReadonlyMap<string, number>;
  /** user SEP message_id -> earliest `read` ack of it by any device of the user. */
  readonly firstReadAckByUser: ReadonlyMap<string, number>;
  /** deviceKey SEP message_id -> earliest ack of each status by that device. */
  readonly acksByDevice: ReadonlyMap<string, AckTimes>;
  readonly historyIds: ReadonlyMap<string, ReadonlySet<string>>;
  readonly connected: ReadonlySet<string>;
  /** deviceKey SEP message_id of every entry in final.pending. */
  readonly pending: ReadonlySet<string>;
  /** user -> merged spans during which some device of the user had a connection (null without `connections`). */
  readonly connectionSpansByUser: ReadonlyMap<string, readonly Span[]> | null;
  /** deviceKey -> when its connection still open at the end opened (null without `connections`). */
  readonly openSinceByDevice: ReadonlyMap<string, number> | null;
};

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function keepMin<K>(map: Map<K, number>, key: K, value: number): void {
  const current = map.get(key);
  if (current === undefined || value < current) map.set(key, value);
}

/** The derived facts of a history. */
export function derive(history: History): Derived {
  const devicesByUser = new Map<string, DeviceRef[]>();
  const seenDevices = new Set<string>();
  for (const device of history.devices) {
    const key = deviceKey(device);
    if (seenDevices.has(key)) continue;
    seenDevices.add(key);
    pushTo(devicesByUser, device.user_id, device);
  }

  const rawMemberSpans = new Map<string, Map<string, Span[]>>();
  for (const m of history.memberships) {
    let byUser = rawMemberSpans.get(m.conversation_id);
    if (byUser === undefined) rawMemberSpans.set(m.conversation_id, (byUser = new Map()));
    pushTo(byUser, m.user_id, { start: m.joined_at ?? -Infinity, end: m.left_at ?? Infinity });
  }
  const memberSpans = new Map<string, Map<string, Span[]>>();
  for (const [conversation_id, byUser] of rawMemberSpans) {
    const merged = new Map<string, Span[]>();
    for (const [user_id, spans] of byUser) merged.set(user_id, mergeSpans(spans));
    memberSpans.set(conversation_id, merged);
  }

  const sendsByKey = new Map<string, SendOp[]>();
  const firstInvokedByKey = new Map<string, number>();
  const okSendsById = new Map<string, SendOp[]>();
  for (const op of history.sends) {
    const key = sendKey(op.device.user_id, op.client_msg_id);
    pushTo(sendsByKey, key, op);
    keepMin(firstInvokedByKey, key, op.invoked_at);
    if (op.outcome === "ok" && op.message_id !== null) pushTo(okSendsById, op.message_id, op);
  }

  const firstDisplay = new Map<string, Map<string, DisplayEvent>>();
  const repeats: DisplayEvent[] = [];
  const displayedIdsByKey = new Map<string, Set<string>>();
  const earliestDisplay = new Map<string, number>();
  const firstDisplayById = new Map<string, DisplayEvent>();
  const firstSeenByUser = new Map<string, number>();
  for (const d of history.displays) {
    const device = deviceKey(d.device);
    let shown = firstDisplay.get(device);
    if (shown === undefined) firstDisplay.set(device, (shown = new Map()));
    if (shown.has(d.message_id)) repeats.push(d);
    else shown.set(d.message_id, d);
    const key = sendKey(d.from, d.client_msg_id);
    let ids = displayedIdsByKey.get(key);
    if (ids === undefined) displayedIdsByKey.set(key, (ids = new Set()));
    ids.add(d.message_id);
    keepMin(earliestDisplay, d.message_id, d.at);
    if (!firstDisplayById.has(d.message_id)) firstDisplayById.set(d.message_id, d);
    keepMin(firstSeenByUser, d.device.user_id + SEP + d.message_id, d.at);
  }

  const firstReadAckByUser = new Map<string, number>();
  const acksByDevice = new Map<string, AckTimes>();
  for (const a of history.acks) {
    keepMin(firstSeenByUser, a.device.user_id + SEP + a.message_id, a.at);
    if (a.status === "read") keepMin(firstReadAckByUser, a.device.user_id + SEP + a.message_id, a.at);
    const key = deviceKey(a.device) + SEP + a.message_id;
    let times = acksByDevice.get(key);
    if (times === undefined) acksByDevice.set(key, (times = { delivered: null, read: null }));
    const current = times[a.status];
    if (current === null || a.at < current) times[a.status] = a.at;
  }

  const messages = new Map<string, MessageFacts>();
  const devicesOfKey = (key: string): Set<string> => new Set((sendsByKey.get(key) ?? []).map((op) => deviceKey(op.device)));
  for (const [message_id, ops] of okSendsById) {
    const first = ops[0];
    if (first === undefined) continue;
    const key = sendKey(first.device.user_id, first.client_msg_id);
    let ordered_by = earliestDisplay.get(message_id) ?? Infinity;
    for (const op of ops) if (op.completed_at !== null) ordered_by = Math.min(ordered_by, op.completed_at);
    messages.set(message_id, {
      message_id,
      conversation_id: first.conversation_id,
      sender: first.device.user_id,
      client_msg_id: first.client_msg_id,
      key,
      ok: true,
      info: false,
      ordered_after: firstInvokedByKey.get(key) ?? -Infinity,
      ordered_by,
      sending_devices: devicesOfKey(key),
    });
  }
  for (const [message_id, d] of firstDisplayById) {
    if (messages.has(message_id)) continue;
    const key = sendKey(d.from, d.client_msg_id);
    messages.set(message_id, {
      message_id,
      conversation_id: d.conversation_id,
      sender: d.from,
      client_msg_id: d.client_msg_id,
      key,
      ok: false,
      info: (sendsByKey.get(key) ?? []).some((op) => op.outcome === "info"),
      ordered_after: firstInvokedByKey.get(key) ?? -Infinity,
      ordered_by: earliestDisplay.get(message_id) ?? d.at,
      sending_devices: devicesOfKey(key),
    });
  }

  const historyIds = new Map<string, Set<string>>();
  for (const [conversation_id, ids] of Object.entries(history.final.history)) historyIds.set(conversation_id, new Set(ids));

  const connected = new Set(history.final.connected.map(deviceKey));
  const pending = new Set(history.final.pending.map((p) => deviceKey(p.device) + SEP + p.message_id));

  let connectionSpansByUser: Map<string, Span[]> | null = null;
  let openSinceByDevice: Map<string, number> | null = null;
  if (history.connections !== undefined) {
    const raw = new Map<string, Span[]>();
    openSinceByDevice = new Map();
    for (const c of history.connections) {
      pushTo(raw, c.device.user_id, { start: c.opened_at, end: c.closed_at ?? Infinity });
      if (c.closed_at === null) {
        const key = deviceKey(c.device);
        const since = openSinceByDevice.get(key);
        if (since === undefined || c.opened_at > since) openSinceByDevice.set(key, c.opened_at);
      }
    }
    connectionSpansByUser = new Map();
    for (const [user_id, spans] of raw) connectionSpansByUser.set(user_id, mergeSpans(spans));
  }

  return {
    devicesByUser,
    memberSpans,
    sendsByKey,
    firstInvokedByKey,
    okSendsById,
    messages,
    firstDisplay,
    repeats,
    displayedIdsByKey,
    firstSeenByUser,
    firstReadAckByUser,
    acksByDevice,
    historyIds,
    connected,
    pending,
    connectionSpansByUser,
    openSinceByDevice,
  };
}

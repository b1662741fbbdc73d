/**
 * The presence step: heartbeats, closes and the passing of time in; notifications to
 * subscribers and wake-up requests out. Rules of this file:
 * - `presenceStep` owns the state it is given: it updates it in place and returns it, so a
 *   heartbeat costs O(log connections) rather than a copy of every user (one service holds
 *   them all). A caller that wants the state from before a step keeps a `presenceClone`.
 * - Every input that carries `now_ms` first advances the service time to
 *   max(now_ms, now_ms_max) and lapses what is due by then, so the state never disagrees with
 *   `presenceOf` and a clock that steps back changes nothing.
 * - A user is online while it has a live connection: one that beat within its TTL and has
 *   not closed. Subscribers of a user hear each online <-> offline transition exactly once,
 *   and on `subscribed` one notice per requested user with its current status.
 * - last_seen_ms is null while online; once offline it is the last moment the service knew
 *   the user was online: the close of its last connection, or, when the connection lapsed,
 *   its latest heartbeat (not the lapse time: nothing was heard from the user after it).
 * - set_timer replaces any earlier request: the host holds at most one wake-up, and reports
 *   it as `time_passed`, after which it holds none. The core asks again whenever the
 *   earliest lapse differs from what the host holds.
 */
import type { PresenceChange } from "../ports/presence.js";
import { assert, unreachable } from "../result.js";
import { lapsesPeek, lapsesPop, lapsesPush, lapsesRebuild } from "./lapses.js";
import { currentStatus } from "./query.js";
import { LAPSES_SLACK, type LapseEntry, type PresenceCoreState, type UserRecord } from "./state.js";

export type HeartbeatReceived = {
  readonly type: "heartbeat_received";
  readonly user_id: string;
  readonly connection_id: string;
  readonly now_ms: number;
  readonly ttl_ms: number;
};
export type ConnectionClosed = {
  readonly type: "connection_closed";
  readonly user_id: string;
  readonly connection_id: string;
  readonly now_ms: number;
};
export type TimePassed = { readonly type: "time_passed"; readonly now_ms: number };
export type Subscribed = {
  readonly type: "subscribed";
  readonly subscriber_id: string;
  readonly user_ids: readonly string[];
  readonly now_ms: number;
};
export type Unsubscribed = {
  readonly type: "unsubscribed";
  readonly subscriber_id: string;
  readonly user_ids: readonly string[];
};
export type SubscriberGone = { readonly type: "subscriber_gone"; readonly subscriber_id: string };

export type PresenceInput = HeartbeatReceived | ConnectionClosed | TimePassed | Subscribed | Unsubscribed | SubscriberGone;

export type NotifySubscriber = {
  readonly type: "notify_subscriber";
  readonly subscriber_id: string;
  readonly change: PresenceChange;
};
export type SetTimer = { readonly type: "set_timer"; readonly at_ms: number };
/** Matches the protocol's error code, so a gateway can answer the frame with it directly. */
export type SubscriptionRefusedReason = "TOO_MANY_SUBSCRIPTIONS";
export type SubscriptionRefused = {
  readonly type: "subscription_refused";
  readonly subscriber_id: string;
  readonly user_ids: readonly string[];
  readonly reason: SubscriptionRefusedReason;
};

export type PresenceEffect = NotifySubscriber | SetTimer | SubscriptionRefused;

export type PresenceStepResult = { readonly state: PresenceCoreState; readonly effects: PresenceEffect[] };

export function presenceStep(state: PresenceCoreState, input: PresenceInput): PresenceStepResult {
  const effects: PresenceEffect[] = [];
  switch (input.type) {
    case "heartbeat_received":
      heartbeat(state, input, advance(state, input.now_ms, effects), effects);
      break;
    case "connection_closed":
      close(state, input, advance(state, input.now_ms, effects), effects);
      break;
    case "time_passed":
      // The host reports its one wake-up this way; from here on it holds none.
      state.timer_at_ms = null;
      advance(state, input.now_ms, effects);
      break;
    case "subscribed":
      advance(state, input.now_ms, effects);
      subscribe(state, input, effects);
      break;
    case "unsubscribed":
      unsubscribe(state, input.subscriber_id, input.user_ids);
      break;
    case "subscriber_gone":
      unsubscribe(state, input.subscriber_id, [...(state.subscribers.get(input.subscriber_id) ?? [])]);
      break;
    default:
      unreachable(input);
  }
  compactLapses(state);
  requestWakeUp(state, effects);
  return { state, effects };
}

/** Raises the service time to `now_ms` (never lowers it) and lapses what is due; returns it. */
function advance(state: PresenceCoreState, now_ms: number, effects: PresenceEffect[]): number {
  assert(Number.isFinite(now_ms), `now_ms ${now_ms} is not a finite number`);
  const now_effective_ms = state.now_ms_max === null ? now_ms : Math.max(now_ms, state.now_ms_max);
  state.now_ms_max = now_effective_ms;
  for (;;) {
    const top = lapsesPeek(state.lapses);
    if (top === undefined || top.at_ms > now_effective_ms) break;
    lapsesPop(state.lapses);
    if (isCurrent(state, top)) expire(state, top, effects);
  }
  return now_effective_ms;
}

/** Whether a queue entry still describes its connection (else a later beat or a close replaced it). */
function isCurrent(state: PresenceCoreState, entry: LapseEntry): boolean {
  return state.users.get(entry.user_id)?.connections.get(entry.connection_id)?.lapse_ms === entry.at_ms;
}

/** A connection (or a closed one's tombstone) reached its lapse time: it goes. */
function expire(state: PresenceCoreState, entry: LapseEntry, effects: PresenceEffect[]): void {
  const user = state.users.get(entry.user_id);
  const record = user?.connections.get(entry.connection_id);
  assert(user !== undefined && record !== undefined, "expire: entry is current");
  user.connections.delete(entry.connection_id);
  state.connection_count -= 1;
  if (record.closed) return;
  user.live_connections -= 1;
  assert(user.live_connections >= 0, "expire: live_connections >= 0");
  if (user.live_connections === 0) notifyWatchers(state, entry.user_id, user, effects);
}

function heartbeat(state: PresenceCoreState, input: HeartbeatReceived, now_ms: number, effects: PresenceEffect[]): void {
  assert(Number.isFinite(input.ttl_ms) && input.ttl_ms > 0, `ttl_ms ${input.ttl_ms} must be a positive number`);
  let user = state.users.get(input.user_id);
  if (user === undefined) {
    user = { connections: new Map(), live_connections: 0, last_known_online_ms: null };
    state.users.set(input.user_id, user);
  }
  let record = user.connections.get(input.connection_id);
  if (record !== undefined) assert(record.lapse_ms > now_ms, "heartbeat: due records were lapsed by advance");
  // A beat that was in flight when the connection closed: the close stands.
  if (record?.closed === true) return;
  const was_online = user.live_connections > 0;
  if (record === undefined) {
    record = { last_beat_ms: now_ms, ttl_ms: input.ttl_ms, lapse_ms: Number.NaN, closed: false };
    user.connections.set(input.connection_id, record);
    user.live_connections += 1;
    state.connection_count += 1;
  }
  record.last_beat_ms = now_ms;
  record.ttl_ms = input.ttl_ms;
  const lapse_ms = now_ms + input.ttl_ms;
  if (record.lapse_ms !== lapse_ms) {
    record.lapse_ms = lapse_ms;
    lapsesPush(state.lapses, { at_ms: lapse_ms, user_id: input.user_id, connection_id: input.connection_id });
  }
  user.last_known_online_ms = now_ms;
  if (!was_online) notifyWatchers(state, input.user_id, user, effects);
}

function close(state: PresenceCoreState, input: ConnectionClosed, now_ms: number, effects: PresenceEffect[]): void {
  const user = state.users.get(input.user_id);
  const record = user?.connections.get(input.connection_id);
  // Unknown (never seen, or already lapsed) or already closed: nothing changes.
  if (user === undefined || record === undefined || record.closed) return;
  // The record stays as a tombstone until its lapse time (its queue entry stays current).
  record.closed = true;
  user.live_connections -= 1;
  assert(user.live_connections >= 0, "close: live_connections >= 0");
  user.last_known_online_ms = now_ms;
  if (user.live_connections === 0) notifyWatchers(state, input.user_id, user, effects);
}

function subscribe(state: PresenceCoreState, input: Subscribed, effects: PresenceEffect[]): void {
  const requested = [...new Set(input.user_ids)];
  if (requested.length === 0) return;
  const held = state.subscribers.get(input.subscriber_id);
  const added = requested.filter((user_id) => held?.has(user_id) !== true).length;
  if ((held?.size ?? 0) + added > state.subscriptions_per_subscriber_max) {
    effects.push({
      type: "subscription_refused",
      subscriber_id: input.subscriber_id,
      user_ids: input.user_ids,
      reason: "TOO_MANY_SUBSCRIPTIONS",
    });
    return;
  }
  const users = held ?? new Set<string>();
  state.subscribers.set(input.subscriber_id, users);
  for (const user_id of requested) {
    users.add(user_id);
    let watchers = state.watchers.get(user_id);
    if (watchers === undefined) {
      watchers = new Set();
      state.watchers.set(user_id, watchers);
    }
    watchers.add(input.subscriber_id);
    const change: PresenceChange = { user_id, ...currentStatus(state.users.get(user_id)) };
    effects.push({ type: "notify_subscriber", subscriber_id: input.subscriber_id, change });
  }
}

function unsubscribe(state: PresenceCoreState, subscriber_id: string, user_ids: readonly string[]): void {
  const users = state.subscribers.get(subscriber_id);
  if (users === undefined) return;
  for (const user_id of user_ids) {
    if (!users.delete(user_id)) continue;
    const watchers = state.watchers.get(user_id);
    assert(watchers !== undefined && watchers.delete(subscriber_id), "unsubscribe: watchers mirrors subscribers");
    if (watchers.size === 0) state.watchers.delete(user_id);
  }
  if (users.size === 0) state.subscribers.delete(subscriber_id);
}

/** Tells every subscriber of `user_id` its status, which has just changed. */
function notifyWatchers(state: PresenceCoreState, user_id: string, user: UserRecord, effects: PresenceEffect[]): void {
  const watchers = state.watchers.get(user_id);
  if (watchers === undefined) return;
  const change: PresenceChange = { user_id, ...currentStatus(user) };
  for (const subscriber_id of watchers) effects.push({ type: "notify_subscriber", subscriber_id, change });
}

/** Rebuilds the lapse queue once stale entries outnumber current ones (plus slack). */
function compactLapses(state: PresenceCoreState): void {
  if (state.lapses.length <= 2 * state.connection_count + LAPSES_SLACK) return;
  const entries: LapseEntry[] = [];
  for (const [user_id, user] of state.users) {
    for (const [connection_id, record] of user.connections) entries.push({ at_ms: record.lapse_ms, user_id, connection_id });
  }
  lapsesRebuild(state.lapses, entries);
  assert(state.lapses.length === state.connection_count, "compactLapses: one entry per record");
}

/** Drops stale entries from the top of the queue and asks for a wake-up at the earliest lapse. */
function requestWakeUp(state: PresenceCoreState, effects: PresenceEffect[]): void {
  for (;;) {
    const top = lapsesPeek(state.lapses);
    if (top === undefined || isCurrent(state, top)) break;
    lapsesPop(state.lapses);
  }
  const next_ms = lapsesPeek(state.lapses)?.at_ms ?? null;
  if (next_ms !== null) {
    assert(state.now_ms_max !== null && next_ms > state.now_ms_max, "requestWakeUp: due lapses were handled");
    if (next_ms !== state.timer_at_ms) effects.push({ type: "set_timer", at_ms: next_ms });
  }
  // With nothing left to lapse, a wake-up the host still holds is harmless: it finds nothing.
  state.timer_at_ms = next_ms;
}

/**
 * The presence core's state: one presence service's view of who is connected, who listens
 * to whom, and which lapse it asked to be woken for. Rules of this file:
 * - State is plain data (Maps, Sets, arrays, numbers) that prints and compares with
 *   `toEqual`. Only `presenceStep` changes it, in place (see step.ts for why).
 * - Time inside the state is the service's own monotonic time: every `now_ms` an input
 *   brings is first raised to `now_ms_max`, so a clock that steps back can neither revive a
 *   lapsed connection nor shorten a live one.
 * - Bounds: `users` holds one record per user that has connected since the service started
 *   (at most the directory's user count: user IDs reach it only from authenticated
 *   connections); a user's `connections` holds its live connections plus closed ones until
 *   they would have lapsed (one TTL); `subscribers` holds one entry per subscriber (a
 *   connection) with at most `subscriptions_per_subscriber_max` users; `watchers` is the
 *   reverse index of `subscribers`, no larger than it; `lapses` holds at most
 *   2 * connection_count + LAPSES_SLACK entries (step.ts compacts it).
 */
import type { Limits } from "../limits.js";

/** One connection of one user. */
export type ConnectionRecord = {
  /** Service time of the connection's last heartbeat (a connect is the first). */
  last_beat_ms: number;
  ttl_ms: number;
  /** last_beat_ms + ttl_ms: the connection lapses when the service time reaches this. */
  lapse_ms: number;
  /**
   * A closed connection stays as a tombstone until its lapse time, so that a heartbeat
   * still in flight when it closed cannot bring it back (connection IDs are never reused).
   */
  closed: boolean;
};

export type UserRecord = {
  connections: Map<string, ConnectionRecord>;
  /** Connections that are neither closed nor lapsed; the user is online while this is > 0. */
  live_connections: number;
  /**
   * The last moment the service knew the user was online: its latest heartbeat, or the close
   * of a live connection. Null if never. This is what `last_seen_ms` reports once offline.
   */
  last_known_online_ms: number | null;
};

/** A wake-up the core may need: the connection (or tombstone) that lapses at `at_ms`. */
export type LapseEntry = {
  readonly at_ms: number;
  readonly user_id: string;
  readonly connection_id: string;
};

export type PresenceCoreState = {
  /** From Limits.presenceSubscriptionsPerConnectionMax, kept here so a simulation can shrink it. */
  readonly subscriptions_per_subscriber_max: number;
  /** The largest now_ms any input has brought; null before the first. */
  now_ms_max: number | null;
  users: Map<string, UserRecord>;
  /** Connection records across all users, tombstones included (to bound `lapses`). */
  connection_count: number;
  /** subscriber_id -> the user IDs it listens to, in the order it subscribed. */
  subscribers: Map<string, Set<string>>;
  /** user_id -> the subscribers listening to it, in the order they subscribed. */
  watchers: Map<string, Set<string>>;
  /**
   * A binary min-heap on at_ms (ties broken by user_id, connection_id so the order is total
   * and runs are reproducible). Entries go stale when their connection beats again, closes
   * or goes; a stale entry is one whose record is missing or has another lapse_ms.
   */
  lapses: LapseEntry[];
  /** The wake-up the host was last asked for (set_timer) and has not yet reported, or null. */
  timer_at_ms: number | null;
};

/** Entries `lapses` may hold beyond twice the connection records before it is rebuilt. */
export const LAPSES_SLACK = 64;

export type PresenceConfig = Pick<Limits, "presenceSubscriptionsPerConnectionMax">;

export function presenceInit(config: PresenceConfig): PresenceCoreState {
  return {
    subscriptions_per_subscriber_max: config.presenceSubscriptionsPerConnectionMax,
    now_ms_max: null,
    users: new Map(),
    connection_count: 0,
    subscribers: new Map(),
    watchers: new Map(),
    lapses: [],
    timer_at_ms: null,
  };
}

/** A deep copy, for a caller that wants to keep a state from before a step. */
export function presenceClone(state: PresenceCoreState): PresenceCoreState {
  const users = new Map<string, UserRecord>();
  for (const [user_id, user] of state.users) {
    const connections = new Map<string, ConnectionRecord>();
    for (const [connection_id, record] of user.connections) connections.set(connection_id, { ...record });
    users.set(user_id, { ...user, connections });
  }
  const copySets = (m: Map<string, Set<string>>): Map<string, Set<string>> =>
    new Map([...m].map(([key, set]) => [key, new Set(set)]));
  return {
    ...state,
    users,
    subscribers: copySets(state.subscribers),
    watchers: copySets(state.watchers),
    lapses: [...state.lapses],
  };
}

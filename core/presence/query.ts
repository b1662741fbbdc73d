/**
 * Questions about a presence state that change nothing. `presenceOf` answers for any time
 * at or after the state's own (an earlier time is raised to it, as in step.ts), so a host
 * can answer a status read between wake-ups without stepping the core.
 */
import type { PresenceState } from "../ports/presence.js";
import { assert } from "../result.js";
import type { PresenceCoreState, UserRecord } from "./state.js";

/** The status of a user whose due lapses have all been handled (as after any step). */
export function currentStatus(user: UserRecord | undefined): PresenceState {
  if (user !== undefined && user.live_connections > 0) return { status: "online", last_seen_ms: null };
  return { status: "offline", last_seen_ms: user?.last_known_online_ms ?? null };
}

/** A user's status at `now_ms`: online while one of its connections is live at that time. */
export function presenceOf(state: PresenceCoreState, user_id: string, now_ms: number): PresenceState {
  assert(Number.isFinite(now_ms), `now_ms ${now_ms} is not a finite number`);
  const at_ms = state.now_ms_max === null ? now_ms : Math.max(now_ms, state.now_ms_max);
  const user = state.users.get(user_id);
  if (user === undefined || user.live_connections === 0) return currentStatus(user);
  for (const record of user.connections.values()) {
    if (!record.closed && record.lapse_ms > at_ms) return { status: "online", last_seen_ms: null };
  }
  // Every live connection lapses by `at_ms`; stepping the core there would say the same.
  return { status: "offline", last_seen_ms: user.last_known_online_ms };
}

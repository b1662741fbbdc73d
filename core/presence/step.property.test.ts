/**
 * Properties of the presence step, checked by fast-check against a deliberately naive model
 * (every connection kept in a Map, status computed by a scan). The clock in the generated
 * inputs runs forward, stands still, and jumps both ways, as the simulator's does.
 *
 * Replay a failure with FC_SEED=<seed printed in the test name or the failure report>;
 * FC_RUNS=<n> runs more (or fewer) cases than the default.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PresenceState } from "../ports/presence.js";
import { presenceInit, presenceOf, presenceStep } from "./index.js";
import type { PresenceCoreState, PresenceEffect, PresenceInput } from "./index.js";

const seed = Number(process.env.FC_SEED ?? 48_151_623);
const numRuns = Number(process.env.FC_RUNS ?? 300);
const SUBSCRIPTIONS_MAX = 2;

const USERS = ["u0", "u1", "u2"] as const;
const CONNECTIONS = ["c0", "c1", "c2"] as const;
const SUBSCRIBERS = ["s0", "s1", "s2"] as const;

type Command =
  | { kind: "beat"; user_id: string; connection_id: string; dt_ms: number; ttl_ms: number }
  | { kind: "close"; user_id: string; connection_id: string; dt_ms: number }
  | { kind: "pass"; dt_ms: number }
  /** The host's wake-up fires: time_passed at the time it asked for (or now, if none). */
  | { kind: "fire" }
  | { kind: "subscribe"; subscriber_id: string; user_ids: string[]; dt_ms: number }
  | { kind: "unsubscribe"; subscriber_id: string; user_ids: string[] }
  | { kind: "gone"; subscriber_id: string };

/** Mostly small steps forward, sometimes a standstill, sometimes a jump either way. */
const dtArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: -300, max: 600 }) },
);
const userArb = fc.constantFrom(...USERS);
const connectionArb = fc.constantFrom(...CONNECTIONS);
const subscriberArb = fc.constantFrom(...SUBSCRIBERS);
const userListArb = fc.array(userArb, { maxLength: 4 });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("beat" as const),
      user_id: userArb,
      connection_id: connectionArb,
      dt_ms: dtArb,
      ttl_ms: fc.integer({ min: 1, max: 150 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("close" as const), user_id: userArb, connection_id: connectionArb, dt_ms: dtArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("pass" as const), dt_ms: dtArb }) },
  { weight: 2, arbitrary: fc.constant({ kind: "fire" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("subscribe" as const), subscriber_id: subscriberArb, user_ids: userListArb, dt_ms: dtArb }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unsubscribe" as const), subscriber_id: subscriberArb, user_ids: userListArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("gone" as const), subscriber_id: subscriberArb }) },
);
const commandsArb = fc.array(commandArb, { maxLength: 60, size: "medium" });

type ModelConnection = { lapse_ms: number; closed: boolean };

/**
 * The rules, written as plainly as possible: a connection is live while it is not closed
 * and its last beat + TTL is after the largest time seen; a beat for a closed connection is
 * ignored until the connection would have lapsed; last_seen is the last beat or close.
 */
class Model {
  now_ms_max: number | null = null;
  readonly connections = new Map<string, Map<string, ModelConnection>>();
  readonly last_known_online_ms = new Map<string, number>();
  readonly subscriptions = new Map<string, Set<string>>();

  advance(now_ms: number): number {
    this.now_ms_max = this.now_ms_max === null ? now_ms : Math.max(now_ms, this.now_ms_max);
    return this.now_ms_max;
  }

  beat(user_id: string, connection_id: string, now_ms: number, ttl_ms: number): void {
    const at_ms = this.advance(now_ms);
    const user = this.connections.get(user_id) ?? new Map<string, ModelConnection>();
    this.connections.set(user_id, user);
    const connection = user.get(connection_id);
    if (connection !== undefined && connection.closed && connection.lapse_ms > at_ms) return;
    user.set(connection_id, { lapse_ms: at_ms + ttl_ms, closed: false });
    this.last_known_online_ms.set(user_id, at_ms);
  }

  close(user_id: string, connection_id: string, now_ms: number): void {
    const at_ms = this.advance(now_ms);
    const connection = this.connections.get(user_id)?.get(connection_id);
    if (connection === undefined || connection.closed || connection.lapse_ms <= at_ms) return;
    connection.closed = true;
    this.last_known_online_ms.set(user_id, at_ms);
  }

  statusAt(user_id: string, at_ms: number | null): PresenceState {
    for (const connection of this.connections.get(user_id)?.values() ?? []) {
      if (at_ms !== null && !connection.closed && connection.lapse_ms > at_ms) return { status: "online", last_seen_ms: null };
    }
    return { status: "offline", last_seen_ms: this.last_known_online_ms.get(user_id) ?? null };
  }

  /** The earliest time a connection or a closed connection's tombstone still has to lapse. */
  nextLapse(): number | null {
    let next_ms: number | null = null;
    for (const user of this.connections.values()) {
      for (const connection of user.values()) {
        if (this.now_ms_max !== null && connection.lapse_ms <= this.now_ms_max) continue;
        if (next_ms === null || connection.lapse_ms < next_ms) next_ms = connection.lapse_ms;
      }
    }
    return next_ms;
  }

  /** Applies a subscription the way the core should, and says whether it is refused. */
  subscribe(subscriber_id: string, user_ids: readonly string[]): boolean {
    const held = this.subscriptions.get(subscriber_id) ?? new Set<string>();
    const union = new Set([...held, ...user_ids]);
    if (union.size > SUBSCRIPTIONS_MAX) return true;
    if (union.size > 0) this.subscriptions.set(subscriber_id, union);
    return false;
  }

  unsubscribe(subscriber_id: string, user_ids: readonly string[]): void {
    const held = this.subscriptions.get(subscriber_id);
    if (held === undefined) return;
    for (const user_id of user_ids) held.delete(user_id);
    if (held.size === 0) this.subscriptions.delete(subscriber_id);
  }
}

/** One step as the checks see it. */
type Observed = {
  readonly input: PresenceInput;
  readonly effects: readonly PresenceEffect[];
  readonly state: PresenceCoreState;
  /** The model's statuses before the step, after its advance of time, and after it. */
  readonly before: ReadonlyMap<string, PresenceState>;
  readonly advanced: ReadonlyMap<string, PresenceState>;
  readonly after: ReadonlyMap<string, PresenceState>;
  /** The model's subscriptions before and after the step (each subscriber's users). */
  readonly subscriptions_before: ReadonlyMap<string, ReadonlySet<string>>;
  readonly subscriptions_after: ReadonlyMap<string, ReadonlySet<string>>;
  readonly refused_by_model: boolean;
  readonly model: Model;
  /** The wake-up the host holds after carrying out the effects (set_timer replaces it). */
  readonly host_timer_ms: number | null;
};

function statuses(model: Model, at_ms: number | null): Map<string, PresenceState> {
  return new Map(USERS.map((user_id) => [user_id, model.statusAt(user_id, at_ms)]));
}

function copySubscriptions(model: Model): Map<string, Set<string>> {
  return new Map([...model.subscriptions].map(([key, users]) => [key, new Set(users)]));
}

/** Runs the commands through the core and the model, handing each step to `check`. */
function run(commands: readonly Command[], check: (observed: Observed) => void): void {
  const state = presenceInit({ presenceSubscriptionsPerConnectionMax: SUBSCRIPTIONS_MAX });
  const model = new Model();
  let clock_ms = 1_000;
  let host_timer_ms: number | null = null;
  for (const command of commands) {
    const before = statuses(model, model.now_ms_max);
    const subscriptions_before = copySubscriptions(model);
    let input: PresenceInput;
    let refused_by_model = false;
    switch (command.kind) {
      case "beat":
        clock_ms += command.dt_ms;
        input = { type: "heartbeat_received", user_id: command.user_id, connection_id: command.connection_id, now_ms: clock_ms, ttl_ms: command.ttl_ms };
        break;
      case "close":
        clock_ms += command.dt_ms;
        input = { type: "connection_closed", user_id: command.user_id, connection_id: command.connection_id, now_ms: clock_ms };
        break;
      case "pass":
        clock_ms += command.dt_ms;
        input = { type: "time_passed", now_ms: clock_ms };
        break;
      case "fire":
        // The host's clock reads the wake-up time (or later, if it has already passed it).
        clock_ms = Math.max(clock_ms, host_timer_ms ?? clock_ms);
        host_timer_ms = null;
        input = { type: "time_passed", now_ms: clock_ms };
        break;
      case "subscribe":
        clock_ms += command.dt_ms;
        input = { type: "subscribed", subscriber_id: command.subscriber_id, user_ids: command.user_ids, now_ms: clock_ms };
        break;
      case "unsubscribe":
        input = { type: "unsubscribed", subscriber_id: command.subscriber_id, user_ids: command.user_ids };
        break;
      case "gone":
        input = { type: "subscriber_gone", subscriber_id: command.subscriber_id };
        break;
    }
    const { effects } = presenceStep(state, input);
    if (input.type === "time_passed") host_timer_ms = null;

    const advanced = statuses(model, "now_ms" in input ? model.advance(input.now_ms) : model.now_ms_max);
    switch (input.type) {
      case "heartbeat_received":
        model.beat(input.user_id, input.connection_id, input.now_ms, input.ttl_ms);
        break;
      case "connection_closed":
        model.close(input.user_id, input.connection_id, input.now_ms);
        break;
      case "subscribed":
        refused_by_model = model.subscribe(input.subscriber_id, input.user_ids);
        break;
      case "unsubscribed":
        model.unsubscribe(input.subscriber_id, input.user_ids);
        break;
      case "subscriber_gone":
        model.unsubscribe(input.subscriber_id, [...(model.subscriptions.get(input.subscriber_id) ?? [])]);
        break;
      case "time_passed":
        break;
    }
    for (const effect of effects) if (effect.type === "set_timer") host_timer_ms = effect.at_ms;
    check({
      input,
      effects,
      state,
      before,
      advanced,
      after: statuses(model, model.now_ms_max),
      subscriptions_before,
      subscriptions_after: copySubscriptions(model),
      refused_by_model,
      model,
      host_timer_ms,
    });
  }
}

function notices(effects: readonly PresenceEffect[]): Array<Extract<PresenceEffect, { type: "notify_subscriber" }>> {
  return effects.flatMap((effect) => (effect.type === "notify_subscriber" ? [effect] : []));
}

describe("presence step properties", () => {
  it(`P1: presenceOf says online exactly when a connection beat within its TTL of the largest time seen and did not close (seed ${seed})`, () => {
    fc.assert(
      fc.property(commandsArb, fc.integer({ min: -200, max: 200 }), (commands, query_offset_ms) => {
        run(commands, ({ state, model }) => {
          const now_ms_max = model.now_ms_max ?? 0;
          for (const user_id of USERS) {
            for (const query_ms of [now_ms_max, now_ms_max + query_offset_ms]) {
              const expected = model.statusAt(user_id, Math.max(query_ms, now_ms_max));
              expect(presenceOf(state, user_id, query_ms)).toEqual(expected);
            }
          }
        });
      }),
      { seed, numRuns },
    );
  });

  it(`P2: a subscriber hears only users it subscribed to, and only transitions; the first notice is the status at subscribe time (seed ${seed})`, () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        const last_heard = new Map<string, "online" | "offline">();
        run(commands, ({ input, effects, state, subscriptions_before, subscriptions_after }) => {
          const heard_now = notices(effects);
          for (const [index, notice] of heard_now.entries()) {
            const { subscriber_id, change } = notice;
            const key = `${subscriber_id}/${change.user_id}`;
            const later_in_step = heard_now.slice(index + 1).some((n) => n.subscriber_id === subscriber_id && n.change.user_id === change.user_id);
            const refused = effects.some((effect) => effect.type === "subscription_refused");
            const is_answer = input.type === "subscribed" && !refused && input.subscriber_id === subscriber_id && input.user_ids.includes(change.user_id) && !later_in_step;
            if (is_answer) {
              expect(subscriptions_after.get(subscriber_id)?.has(change.user_id)).toBe(true);
              expect(change).toEqual({ user_id: change.user_id, ...presenceOf(state, change.user_id, input.now_ms) });
            } else {
              expect(subscriptions_before.get(subscriber_id)?.has(change.user_id)).toBe(true);
              expect(last_heard.get(key)).toBeDefined();
              expect(change.status).not.toBe(last_heard.get(key));
            }
            last_heard.set(key, change.status);
          }
          if (input.type === "unsubscribed" || input.type === "subscriber_gone") {
            for (const user_id of USERS) {
              if (subscriptions_after.get(input.subscriber_id)?.has(user_id) !== true) last_heard.delete(`${input.subscriber_id}/${user_id}`);
            }
          }
        });
      }),
      { seed, numRuns },
    );
  });

  it(`P3: every notice carries the model's status at that moment, and every transition is heard (seed ${seed})`, () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        run(commands, ({ input, effects, before, advanced, after, subscriptions_before, subscriptions_after, refused_by_model }) => {
          const expected = new Map<string, PresenceState[]>();
          const heard = new Map<string, PresenceState[]>();
          const add = (into: Map<string, PresenceState[]>, key: string, status: PresenceState): void => {
            into.set(key, [...(into.get(key) ?? []), status]);
          };
          for (const [subscriber_id, user_ids] of subscriptions_before) {
            for (const user_id of user_ids) {
              const [was, mid, now] = [before.get(user_id), advanced.get(user_id), after.get(user_id)];
              if (was === undefined || mid === undefined || now === undefined) throw new Error("model covers every user");
              // Lapses while time advanced, then the input's own change (a beat or a close).
              if (mid.status !== was.status) add(expected, `${subscriber_id}/${user_id}`, mid);
              if (now.status !== mid.status) add(expected, `${subscriber_id}/${user_id}`, now);
            }
          }
          if (input.type === "subscribed" && !refused_by_model) {
            for (const user_id of new Set(input.user_ids)) {
              expect(subscriptions_after.get(input.subscriber_id)?.has(user_id)).toBe(true);
              add(expected, `${input.subscriber_id}/${user_id}`, after.get(user_id) ?? { status: "offline", last_seen_ms: null });
            }
          }
          for (const { subscriber_id, change } of notices(effects)) {
            const { user_id, ...status } = change;
            add(heard, `${subscriber_id}/${user_id}`, status);
          }
          expect(heard).toEqual(expected);
          const refused = effects.filter((effect) => effect.type === "subscription_refused");
          expect(refused.length).toBe(refused_by_model ? 1 : 0);
        });
      }),
      { seed, numRuns },
    );
  });

  it(`P4: the host always holds a wake-up at the earliest lapse still to come (seed ${seed})`, () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        run(commands, ({ effects, model, host_timer_ms, state }) => {
          for (const effect of effects) {
            if (effect.type === "set_timer") expect(effect.at_ms).toBeGreaterThan(model.now_ms_max ?? -Infinity);
          }
          const next_ms = model.nextLapse();
          if (next_ms !== null) expect(host_timer_ms).toBe(next_ms);
          expect(state.lapses.length).toBeLessThanOrEqual(2 * state.connection_count + 64);
        });
      }),
      { seed, numRuns },
    );
  });

  it(`P5: the same inputs give the same effects and an equal state (seed ${seed})`, () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        const trace = (): unknown[] => {
          const out: unknown[] = [];
          run(commands, ({ effects, state }) => out.push(effects, JSON.stringify([...state.users], (_k, v: unknown) => (v instanceof Map ? [...v] : v))));
          return out;
        };
        expect(trace()).toEqual(trace());
      }),
      { seed, numRuns: Math.ceil(numRuns / 3) },
    );
  });
});

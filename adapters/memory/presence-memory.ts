/**
 * PresenceMemory: the Presence port in process, a thin host around the presence core
 * (core/presence). It reads the Clock for every input, steps the core, and carries out the
 * effects: it keeps the one wake-up the core asks for with the scheduler it was given, and
 * hands notices to listeners.
 *
 * Rules:
 * - Every decision is the core's; this file only translates calls to inputs and effects to
 *   calls. Each `subscribe` is a subscriber of its own in the core, holding one user.
 * - The port promises a listener the transitions after it subscribed, so the core's answer
 *   to `subscribed` (the status at that moment) is not passed on; `status` reads it.
 * - Wake-ups: the scheduler is `schedule(at_ms, fire)` in Clock time and answers a cancel
 *   function; the default uses setTimeout. Tests and the simulator pass their own, to cross
 *   TTLs without waiting. A new set_timer cancels the previous wake-up.
 * - Notices go out in the order the core made them, through one queue, also when a listener
 *   calls back into this adapter; a listener removed before its turn hears nothing more.
 *   Listeners must not throw: if one does, the others are still called, and the first error
 *   is rethrown to whoever caused the step (a method's caller, or the timer, where it is an
 *   uncaught exception: a bug to fix, not to hide).
 * - After close, every method but close fails an assertion.
 */
import type { Clock } from "../../core/ports/clock.js";
import type { Presence, PresenceChange, PresenceListener, PresenceState } from "../../core/ports/presence.js";
import { LIMITS } from "../../core/limits.js";
import { presenceInit, presenceOf, presenceStep } from "../../core/presence/index.js";
import type { PresenceConfig, PresenceCoreState, PresenceInput } from "../../core/presence/index.js";
import { assert, unreachable } from "../../core/result.js";

/** Calls `fire` once, at or after `at_ms` by the Clock; the answer cancels it. */
export type PresenceScheduler = (at_ms: number, fire: () => void) => () => void;

export type PresenceMemoryOptions = {
  readonly clock: Clock;
  /** Defaults to `presenceSchedulerTimeout(clock)`. */
  readonly schedule?: PresenceScheduler;
  /** Defaults to LIMITS. */
  readonly limits?: PresenceConfig;
};

/**
 * A scheduler on setTimeout, for real hosts. The delay is at least 1 ms so that a clock
 * running behind the timer cannot turn a wake-up into a busy loop: the core simply asks again.
 * Timers are unref'd: a pending wake-up does not keep a process alive.
 */
export function presenceSchedulerTimeout(clock: Clock): PresenceScheduler {
  return (at_ms, fire) => {
    const timer = setTimeout(fire, Math.max(1, at_ms - clock.now()));
    timer.unref();
    return () => clearTimeout(timer);
  };
}

type Notice = { readonly subscriber_id: string; readonly change: PresenceChange };

export class PresenceMemory implements Presence {
  private readonly clock: Clock;
  private readonly schedule: PresenceScheduler;
  private readonly state: PresenceCoreState;
  /** subscriber_id -> its listener; one entry per live `subscribe`. */
  private readonly listeners = new Map<string, PresenceListener>();
  private subscribers_created = 0;
  private cancel_wake_up: (() => void) | null = null;
  private readonly outbox: Notice[] = [];
  private delivering = false;
  private closed = false;

  constructor(options: PresenceMemoryOptions) {
    this.clock = options.clock;
    this.schedule = options.schedule ?? presenceSchedulerTimeout(options.clock);
    const limits = options.limits ?? LIMITS;
    assert(limits.presenceSubscriptionsPerConnectionMax >= 1, "PresenceMemory: a subscriber must be able to hold one user");
    this.state = presenceInit(limits);
  }

  async heartbeat(user_id: string, connection_id: string, ttl_ms: number): Promise<void> {
    this.assertOpen("heartbeat");
    assert(Number.isFinite(ttl_ms) && ttl_ms > 0, `PresenceMemory.heartbeat: ttl_ms must be positive, got ${ttl_ms}`);
    this.apply({ type: "heartbeat_received", user_id, connection_id, now_ms: this.clock.now(), ttl_ms }, null);
  }

  async disconnect(user_id: string, connection_id: string): Promise<void> {
    this.assertOpen("disconnect");
    this.apply({ type: "connection_closed", user_id, connection_id, now_ms: this.clock.now() }, null);
  }

  async status(user_ids: readonly string[]): Promise<Map<string, PresenceState>> {
    this.assertOpen("status");
    const now_ms = this.clock.now();
    return new Map(user_ids.map((user_id) => [user_id, presenceOf(this.state, user_id, now_ms)]));
  }

  async subscribe(user_id: string, listener: PresenceListener): Promise<() => Promise<void>> {
    this.assertOpen("subscribe");
    this.subscribers_created += 1;
    const subscriber_id = `listener-${this.subscribers_created}`;
    this.listeners.set(subscriber_id, listener);
    this.apply({ type: "subscribed", subscriber_id, user_ids: [user_id], now_ms: this.clock.now() }, subscriber_id);
    return async () => {
      if (this.closed || !this.listeners.delete(subscriber_id)) return;
      this.apply({ type: "subscriber_gone", subscriber_id }, null);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancel_wake_up?.();
    this.cancel_wake_up = null;
    this.listeners.clear();
    this.outbox.length = 0;
  }

  /** Steps the core and carries out its effects; notices to `answering` are the subscribe answer. */
  private apply(input: PresenceInput, answering: string | null): void {
    const { effects } = presenceStep(this.state, input);
    for (const effect of effects) {
      switch (effect.type) {
        case "notify_subscriber":
          if (effect.subscriber_id !== answering) this.outbox.push(effect);
          break;
        case "set_timer":
          // Carried out at once, in step order, so the newest request always wins.
          this.cancel_wake_up?.();
          this.cancel_wake_up = this.schedule(effect.at_ms, () => this.wakeUp());
          break;
        case "subscription_refused":
          // One user per subscriber, and the limit is at least one (checked in the constructor).
          assert(false, `PresenceMemory: subscription refused for ${effect.subscriber_id}`);
          break;
        default:
          unreachable(effect);
      }
    }
    this.deliver();
  }

  private wakeUp(): void {
    this.cancel_wake_up = null;
    if (this.closed) return;
    this.apply({ type: "time_passed", now_ms: this.clock.now() }, null);
  }

  /** Drains the outbox unless an outer call is already draining it (a listener called back in). */
  private deliver(): void {
    if (this.delivering) return;
    this.delivering = true;
    const errors: unknown[] = [];
    try {
      // By index, not shift(): a user with many subscribers makes a long queue.
      for (let index = 0; index < this.outbox.length; index++) {
        const notice = this.outbox[index] as Notice;
        const listener = this.listeners.get(notice.subscriber_id);
        if (listener === undefined) continue;
        try {
          listener(notice.change);
        } catch (error) {
          errors.push(error);
        }
      }
    } finally {
      this.outbox.length = 0;
      this.delivering = false;
    }
    if (errors.length > 0) throw errors[0];
  }

  private assertOpen(method: string): void {
    assert(!this.closed, `PresenceMemory.${method}: called after close`);
  }
}

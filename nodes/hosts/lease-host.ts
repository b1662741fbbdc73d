/**
 * The lease host: runs the lease core (core/lease) against a LeaseStore, so that a Snowflake
 * issuer holds a machine number only while its lease is live. `machine()` is the gate an
 * issuer asks at the moment it issues; `gained` and `lost` tell it when to start and stop.
 *
 * Rules: the clock given here must be monotonic (performance.now in production): a wall clock
 * that steps back would stretch the lease. Calls go through `within`, so a store that never
 * answers counts as a failed call after `call_timeout_ms`; a late answer is ignored (a renewal
 * that applied late only keeps the key longer, which delays others, never us).
 */
import { leaseInit, leaseMachine, leaseStep, type LeaseConfig, type LeaseEffect, type LeaseInput, type LeaseState } from "../../core/lease/index.js";
import type { Clock } from "../../core/ports/clock.js";
import type { LeaseStore } from "../../core/ports/lease-store.js";
import { fromPromise, within } from "./task.js";
import type { TimerHandle, Timers } from "./timers.js";

export type MachineLeasePorts = { readonly store: LeaseStore; readonly clock: Clock; readonly timers: Timers };

export type MachineLeaseConfig = LeaseConfig & {
  /** The holder's token: unique per process incarnation (node ID plus random bits). */
  readonly token: string;
  readonly call_timeout_ms: number;
};

export type MachineLeaseEvents = {
  gained?(machine: number): void;
  lost?(machine: number, reason: string): void;
  /** A store call failed or timed out (it is retried). */
  call_failed?(call: "acquire" | "renew" | "release", reason: string): void;
  /** Every store call's outcome before the core sees it (tests). */
  refused?(wait_ms: number): void;
};

export class MachineLease {
  private readonly state: LeaseState;
  private timer: TimerHandle | null = null;
  private released: Promise<void> = Promise.resolve();

  constructor(
    private readonly ports: MachineLeasePorts,
    private readonly config: MachineLeaseConfig,
    private readonly events: MachineLeaseEvents = {},
  ) {
    this.state = leaseInit(config);
  }

  start(): void {
    this.feed({ type: "started", now_ms: this.ports.clock.now() });
  }

  /** The number this holder may issue IDs with right now, or null: ask it at the moment of issuing. */
  machine(): number | null {
    return leaseMachine(this.state, this.ports.clock.now());
  }

  /** Resolves once a lease was gained (the first time). */
  gained(): Promise<number> {
    const now = this.machine();
    if (now !== null) return Promise.resolve(now);
    return new Promise((resolve) => {
      const previous = this.events.gained;
      this.events.gained = (machine) => {
        this.events.gained = previous;
        previous?.(machine);
        resolve(machine);
      };
    });
  }

  /** Stops renewing and releases the number (after a call in flight, if any). */
  stop(): Promise<void> {
    this.feed({ type: "stop_requested", now_ms: this.ports.clock.now() });
    this.timer?.cancel();
    this.timer = null;
    return this.released;
  }

  get phase(): LeaseState["phase"] {
    return this.state.phase;
  }

  private feed(input: LeaseInput): void {
    for (const effect of leaseStep(this.state, input)) this.run(effect);
  }

  private run(effect: LeaseEffect): void {
    const { ports, config } = this;
    const now = (): number => ports.clock.now();
    const failed = (call: "acquire" | "renew") => (reason: string): void => {
      this.events.call_failed?.(call, reason);
      this.feed({ type: "call_failed", reason, now_ms: now() });
    };
    switch (effect.type) {
      case "acquire":
        within(fromPromise(() => ports.store.acquire(config.token, effect.ttl_ms)), ports.timers, ports.clock, config.call_timeout_ms)((outcome) => {
          if (outcome.acquired) this.feed({ type: "acquired", machine: outcome.machine, now_ms: now() });
          else {
            this.events.refused?.(outcome.wait_ms);
            this.feed({ type: "acquire_refused", wait_ms: outcome.wait_ms, now_ms: now() });
          }
        }, failed("acquire"));
        return;
      case "renew":
        within(fromPromise(() => ports.store.renew(effect.machine, config.token, effect.ttl_ms)), ports.timers, ports.clock, config.call_timeout_ms)(
          (renewed) => this.feed({ type: renewed ? "renewed" : "renew_refused", now_ms: now() }),
          failed("renew"),
        );
        return;
      case "release":
        this.released = new Promise((resolve) =>
          within(fromPromise(() => ports.store.release(effect.machine, config.token)), ports.timers, ports.clock, config.call_timeout_ms)(
            () => resolve(),
            (reason) => {
              this.events.call_failed?.("release", reason);
              resolve();
            },
          ),
        );
        return;
      case "set_timer":
        this.timer?.cancel();
        this.timer = ports.timers.at(effect.at_ms, () => {
          this.timer = null;
          this.feed({ type: "timer_fired", now_ms: now() });
        });
        return;
      case "gained":
        this.events.gained?.(effect.machine);
        return;
      case "lost":
        this.events.lost?.(effect.machine, effect.reason);
        return;
      default: {
        const never: never = effect;
        throw new Error(`lease host: unknown effect ${JSON.stringify(never)}`);
      }
    }
  }
}

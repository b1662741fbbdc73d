/**
 * The simulated world's physics: virtual time, per-node clocks and timers, the network
 * between nodes and services, and the service-call path every simulated port goes through,
 * where the seed's faults are injected (the injector wraps the call; stores stay plain).
 *
 * Rules of this file:
 * - Nothing here reads a wall clock or draws unseeded randomness (the purity test checks).
 * - Faults fire only in the fault phase; the heal phase is fault-free.
 * - A node that crashes takes its pending callbacks with it: anything scheduled for an
 *   older incarnation is dropped. A paused node's callbacks wait until the pause ends.
 */
import type { Clock } from "../core/ports/clock.js";
import type { TimerHandle, Timers } from "../core/ports/timers.js";
import { EventLoop } from "./event-loop.js";
import { Coverage, type FaultClass, type FaultConfig } from "./faults.js";
import type { Rng, RngTree } from "./random.js";
import { SyncPromise } from "./sync-promise.js";

/** The simulated start of time: 2026-11-28T00:00:00Z, so IDs and dates look real. */
export const SIM_EPOCH_MS = 1_795_824_000_000;

export type ServiceName = "log" | "store" | "sessions" | "directory" | "presence" | "push";

export class SimNode {
  incarnation = 0;
  alive = true;
  paused_until = 0;
  clock_offset_ms = 0;
  drift = 0;
  readonly clock: Clock;
  readonly timers: Timers;

  constructor(
    readonly name: string,
    readonly kernel: Kernel,
  ) {
    this.clock = { now: () => this.now() };
    this.timers = { at: (at_ms, fn) => this.at(at_ms, fn) };
  }

  now(): number {
    const v = this.kernel.loop.now;
    return Math.floor(SIM_EPOCH_MS + v * (1 + this.drift) + this.clock_offset_ms);
  }

  /** Every port call a host makes sets a timer for its timeout: the handle is its own flag. */
  private at(at_ms: number, fn: () => void): TimerHandle {
    const handle = new SimTimer();
    const delay_ms = Math.max(0, at_ms - this.now());
    const run = this.guard(() => {
      if (!handle.cancelled) fn();
    });
    this.kernel.loop.after(Math.ceil(delay_ms / (1 + this.drift)), run);
    return handle;
  }

  /** Wraps a callback so it runs only in this incarnation, and after any pause. */
  guard(fn: () => void): () => void {
    const incarnation = this.incarnation;
    const run = (): void => {
      if (!this.alive || this.incarnation !== incarnation) return;
      if (this.kernel.loop.now < this.paused_until) {
        this.kernel.loop.schedule(this.paused_until, run);
        return;
      }
      fn();
    };
    return run;
  }

  crash(): void {
    this.alive = false;
    this.incarnation++;
  }

  restart(): void {
    this.alive = true;
    this.paused_until = 0;
  }
}

class SimTimer implements TimerHandle {
  cancelled = false;

  cancel(): void {
    this.cancelled = true;
  }
}

export class Kernel {
  readonly loop = new EventLoop();
  readonly coverage = new Coverage();
  phase: "fault" | "heal" = "fault";
  /** Directed links that drop everything (from -> to), with the virtual time they heal. */
  private readonly cut = new Map<string, number>();
  /** Services that reject every call until the given virtual time. */
  private readonly outage = new Map<ServiceName, number>();
  readonly net: Rng;
  readonly svc: Rng;

  constructor(
    readonly rngs: RngTree,
    readonly faults: FaultConfig,
  ) {
    this.net = rngs.stream("network");
    this.svc = rngs.stream("services");
  }

  /** Whether a fault class may fire now, drawn with its rate times `scale`. */
  fires(fault: FaultClass, scale: number, rng: Rng = this.svc): boolean {
    if (this.phase !== "fault" || !this.faults.enabled.has(fault)) return false;
    if (!rng.chance(this.faults.rate[fault] * scale)) return false;
    this.coverage.fault(fault);
    return true;
  }

  heal(): void {
    this.phase = "heal";
    this.cut.clear();
    this.outage.clear();
  }

  cutLink(from: string, to: string, until_ms: number): void {
    this.cut.set(`${from}>${to}`, until_ms);
  }

  isCut(from: string, to: string): boolean {
    const until = this.cut.get(`${from}>${to}`);
    if (until === undefined) return false;
    if (this.loop.now >= until) {
      this.cut.delete(`${from}>${to}`);
      return false;
    }
    return true;
  }

  startOutage(service: ServiceName, until_ms: number): void {
    this.outage.set(service, until_ms);
  }

  inOutage(service: ServiceName): boolean {
    const until = this.outage.get(service);
    return until !== undefined && this.loop.now < until;
  }

  /** One-way latency of a message, with the seed's delay spikes and reordering jitter. */
  latency(): number {
    let ms = 1 + this.net.int(4);
    if (this.fires("net_delay", 0.02, this.net)) ms += 20 + this.net.int(400);
    if (this.fires("net_reordering", 0.05, this.net)) ms += this.net.int(60);
    return ms;
  }

  /**
   * A call from `from` to a service: the request travels, the operation applies at the
   * service (or the service fails it), the response travels back. Lost requests and lost
   * responses leave the promise pending forever: the caller's own timeout decides.
   */
  call<R>(from: SimNode, service: ServiceName, op: () => R, what: "write" | "read" | "append" = "write"): SyncPromise<R> {
    const promise = new SyncPromise<R>();
    if (!from.alive) return promise;
    if (this.isCut(from.name, service) || this.fires("net_loss", 0.01, this.net)) return promise;
    const incarnation = from.incarnation;
    this.loop.after(this.latency(), () => {
      if (this.inOutage(service)) {
        this.answer(from, incarnation, service, promise, false, new Error(`${service} unavailable`));
        return;
      }
      if (what !== "read" && this.failsBeforeApply(service, what)) {
        this.answer(from, incarnation, service, promise, false, new Error(`${service} refused the write`));
        return;
      }
      let result: R;
      try {
        result = op();
      } catch (error) {
        this.answer(from, incarnation, service, promise, false, error);
        return;
      }
      if (what !== "read" && this.losesResponseAfterApply(service, what)) return; // applied, but the caller never hears
      this.answer(from, incarnation, service, promise, true, result);
    });
    return promise;
  }

  /** The response travels back and settles the caller's promise, unless the caller died meanwhile. */
  private answer<R>(from: SimNode, incarnation: number, service: ServiceName, promise: SyncPromise<R>, ok: boolean, outcome: unknown): void {
    if (this.isCut(service, from.name)) return;
    let delay = this.latency();
    if ((service === "store" || service === "log") && this.fires("store_slow", 0.02)) delay += 200 + this.svc.int(3_000);
    const settle = (): void => {
      if (ok) promise.resolve(outcome as R);
      else promise.reject(outcome);
    };
    this.loop.after(delay, () => {
      if (!from.alive || from.incarnation !== incarnation) return;
      if (this.loop.now < from.paused_until) {
        this.loop.schedule(from.paused_until, settle);
        return;
      }
      settle();
    });
  }

  private failsBeforeApply(service: ServiceName, what: "write" | "append"): boolean {
    if (service === "log") return what === "append" && this.fires("log_append_fail", 0.01);
    if (service === "store") return this.fires("store_fail", 0.01);
    return false;
  }

  private losesResponseAfterApply(service: ServiceName, what: "write" | "append"): boolean {
    if (service === "log") return what === "append" && this.fires("log_append_timeout_applied", 0.01);
    if (service === "store") return this.fires("store_timeout_applied", 0.01);
    return false;
  }
}

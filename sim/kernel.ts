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

export type ServiceName = "log" | "store" | "sessions" | "directory" | "presence" | "push" | "relay";

/** How a cut between two regions treats what crosses it. */
export type RegionCut = { readonly until_ms: number; readonly mode: "drop" | "delay"; readonly delay_ms: number };

export class SimNode {
  incarnation = 0;
  alive = true;
  paused_until = 0;
  clock_offset_ms = 0;
  drift = 0;
  /** The region this node runs in (sim/regions.ts); a single-region world has only 0. */
  region = 0;
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

  private at(at_ms: number, fn: () => void): TimerHandle {
    const delay_ms = Math.max(0, at_ms - this.now());
    // One handle (its own cancel flag) and one closure per timer, where a guard around a
    // cancel check made four objects: timers are a good part of every simulated event. The
    // checks run in the guard's order (a paused node reschedules before the flag is read),
    // so the events, and the trace hash, are the same.
    const handle = new SimTimer();
    const incarnation = this.incarnation;
    const run = (): void => {
      if (!this.alive || this.incarnation !== incarnation) return;
      if (this.kernel.loop.now < this.paused_until) {
        this.kernel.loop.schedule(this.paused_until, run);
        return;
      }
      if (!handle.cancelled) fn();
    };
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

/** A timer's handle, which is also its cancel flag. */
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
  /**
   * Regions (sim/regions.ts): one-way WAN latency between two different regions, cuts
   * between region pairs ("a>b" -> cut), and regions whose processes and services are down
   * (region -> virtual time it returns). Empty in a single-region world, and never consulted
   * by a call that does not name a region, so such a world runs exactly as before regions.
   */
  wan_ms = 0;
  private readonly region_cuts = new Map<string, RegionCut>();
  private readonly regions_down = new Map<number, number>();

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
    this.region_cuts.clear();
    this.regions_down.clear();
  }

  cutRegions(a: number, b: number, cut: RegionCut): void {
    this.region_cuts.set(`${a}>${b}`, cut);
    this.region_cuts.set(`${b}>${a}`, cut);
  }

  /** Extra one-way latency from region `from` to region `to`, or null when dropped. */
  crossing(from: number, to: number): number | null {
    if (from === to) return 0;
    const cut = this.region_cuts.get(`${from}>${to}`);
    if (cut !== undefined && this.loop.now < cut.until_ms) return cut.mode === "drop" ? null : this.wan_ms + cut.delay_ms;
    return this.wan_ms;
  }

  loseRegion(region: number, until_ms: number): void {
    this.regions_down.set(region, until_ms);
  }

  isRegionDown(region: number): boolean {
    const until = this.regions_down.get(region);
    return until !== undefined && this.loop.now < until;
  }

  cutLink(from: string, to: string, until_ms: number): void {
    this.cut.set(`${from}>${to}`, until_ms);
  }

  isCut(from: string, to: string): boolean {
    // Most runs have no cut most of the time: no key to build (twice per service call).
    if (this.cut.size === 0) return false;
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
   *
   * `region` names the region whose instance of the service is called (null: a service every
   * region shares, such as the directory): a call into a region that is down is never
   * answered, and one into another region crosses the WAN (its latency, its cuts) both ways.
   */
  call<R>(from: SimNode, service: ServiceName, op: () => R, what: "write" | "read" | "append" = "write", region: number | null = null): SyncPromise<R> {
    const promise = new SyncPromise<R>();
    if (!from.alive) return promise;
    let wan = 0;
    if (region !== null) {
      const crossing = this.crossing(from.region, region);
      if (crossing === null || this.isRegionDown(region)) return promise;
      wan = crossing;
    }
    if (this.isCut(from.name, service) || this.fires("net_loss", 0.01, this.net)) return promise;
    const incarnation = from.incarnation;
    this.loop.after(this.latency() + wan, () => {
      if (region !== null && this.isRegionDown(region)) return;
      if (this.inOutage(service)) {
        this.answer(from, incarnation, service, region, promise, false, new Error(`${service} unavailable`));
        return;
      }
      if (what !== "read" && this.failsBeforeApply(service, what)) {
        this.answer(from, incarnation, service, region, promise, false, new Error(`${service} refused the write`));
        return;
      }
      let result: R;
      try {
        result = op();
      } catch (error) {
        this.answer(from, incarnation, service, region, promise, false, error);
        return;
      }
      if (what !== "read" && this.losesResponseAfterApply(service, what)) return; // applied, but the caller never hears
      this.answer(from, incarnation, service, region, promise, true, result);
    });
    return promise;
  }

  /**
   * The response of a call travels back to `from` (the same draws, in the same order, as
   * when it was a closure made per call; a method makes one closure per answer instead of
   * three). An error is now made before the response travels rather than on arrival: it
   * draws nothing and nobody sees the difference.
   */
  private answer<R>(from: SimNode, incarnation: number, service: ServiceName, region: number | null, promise: SyncPromise<R>, ok: boolean, value: unknown): void {
    if (this.isCut(service, from.name)) return;
    let delay = this.latency();
    if (region !== null && region !== from.region) {
      const back = this.crossing(region, from.region);
      if (back === null) return;
      delay += back;
    }
    if ((service === "store" || service === "log") && this.fires("store_slow", 0.02)) delay += 200 + this.svc.int(3_000);
    this.loop.after(delay, () => {
      if (!from.alive || from.incarnation !== incarnation) return;
      if (this.loop.now < from.paused_until) {
        this.loop.schedule(from.paused_until, () => settle(promise, ok, value));
        return;
      }
      settle(promise, ok, value);
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

function settle<R>(promise: SyncPromise<R>, ok: boolean, value: unknown): void {
  if (ok) promise.resolve(value as R);
  else promise.reject(value);
}

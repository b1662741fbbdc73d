/**
 * The gateway address book of a router (and of a gateway, for typing relays): the static
 * GATEWAYS list, plus what the GatewayRegistry says is live, read again every `refresh_ms`.
 * A new gateway is known within one refresh (sooner: asking for an unknown ID triggers a
 * refresh, at most one per `refresh_min_ms`), a departed one is forgotten within one refresh
 * after its entry lapsed or it deregistered. No restart either way.
 *
 * Rules: a static entry wins over the registry for the same ID (an operator's explicit word).
 * A failed refresh keeps the last book: a Redis outage must not make every gateway unknown.
 * Waiting comes from Timers (hosts never call setTimeout themselves).
 */
import type { Clock } from "../../core/ports/clock.js";
import type { GatewayEntry, GatewayRegistry } from "../../core/ports/gateway-registry.js";
import { fromPromise, within } from "./task.js";
import type { TimerHandle, Timers } from "./timers.js";

export type GatewayBookEvents = {
  joined?(entry: GatewayEntry): void;
  /** Also when its address changed (then joined follows with the new one). */
  departed?(gateway_id: string): void;
  refresh_failed?(reason: string): void;
};

export type GatewayBookOptions = {
  readonly refresh_ms: number;
  readonly refresh_min_ms: number;
  readonly call_timeout_ms: number;
};

export class GatewayBook {
  private discovered = new Map<string, GatewayEntry>();
  private timer: TimerHandle | null = null;
  private in_flight = false;
  private last_refresh_ms = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private first: Promise<void> | null = null;
  /** Callers of `fresh` waiting for the next read of the registry to end. */
  private waiters: (() => void)[] = [];
  private soon: TimerHandle | null = null;

  constructor(
    private readonly statics: ReadonlyMap<string, string>,
    private readonly registry: GatewayRegistry | null,
    private readonly ports: { readonly clock: Clock; readonly timers: Timers },
    private readonly options: GatewayBookOptions,
    private readonly events: GatewayBookEvents = {},
  ) {}

  /** Reads the registry once (resolves when done, ok or not), then keeps reading it. */
  start(): Promise<void> {
    if (this.first === null) this.first = new Promise((done) => this.refresh(done));
    return this.first;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.soon?.cancel();
    this.soon = null;
    this.wake();
  }

  /**
   * Resolves once the registry has been read again (at most one read per `refresh_min_ms`,
   * shared by every caller), or at once when `gateway_id` is known or there is no registry.
   * A delivery to a gateway that registered a moment ago waits for this instead of failing:
   * a failed delivery leaves the message in pending until the device's next resync, so a
   * client that connects to a new gateway would not see its first messages live.
   */
  fresh(gateway_id: string): Promise<void> {
    if (this.resolveKnown(gateway_id) !== null || this.registry === null || this.stopped) return Promise.resolve();
    return new Promise((done) => {
      this.waiters.push(done);
      if (this.in_flight || this.soon !== null) return;
      const at_ms = this.last_refresh_ms + this.options.refresh_min_ms;
      if (at_ms <= this.ports.clock.now()) this.refresh();
      else
        this.soon = this.ports.timers.at(at_ms, () => {
          this.soon = null;
          if (!this.in_flight) this.refresh();
        });
    });
  }

  /** The address of `gateway_id`, or null; an unknown ID asks the registry again soon. */
  resolve(gateway_id: string): string | null {
    const address = this.resolveKnown(gateway_id);
    if (address === null && this.registry !== null && !this.in_flight && this.ports.clock.now() - this.last_refresh_ms >= this.options.refresh_min_ms) this.refresh();
    return address;
  }

  private resolveKnown(gateway_id: string): string | null {
    return this.statics.get(gateway_id) ?? this.discovered.get(gateway_id)?.address ?? null;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const done of waiters) done();
  }

  /** Every gateway known now: the static ones, then the discovered ones. */
  entries(): GatewayEntry[] {
    const all = new Map<string, GatewayEntry>();
    for (const [gateway_id, entry] of this.discovered) all.set(gateway_id, entry);
    for (const [gateway_id, address] of this.statics) all.set(gateway_id, { gateway_id, address, region: all.get(gateway_id)?.region ?? "static", load: all.get(gateway_id)?.load ?? 0 });
    return [...all.values()];
  }

  private refresh(done: () => void = () => undefined): void {
    if (this.stopped || this.registry === null) {
      done();
      return;
    }
    const registry = this.registry;
    this.in_flight = true;
    this.last_refresh_ms = this.ports.clock.now();
    within(fromPromise(() => registry.live()), this.ports.timers, this.ports.clock, this.options.call_timeout_ms)(
      (entries) => {
        this.in_flight = false;
        this.apply(entries);
        this.schedule();
        this.wake();
        done();
      },
      (reason) => {
        this.in_flight = false;
        this.events.refresh_failed?.(reason);
        this.schedule();
        this.wake();
        done();
      },
    );
  }

  private apply(entries: readonly GatewayEntry[]): void {
    const next = new Map(entries.map((e) => [e.gateway_id, e] as const));
    for (const [gateway_id, old] of this.discovered) {
      const now = next.get(gateway_id);
      if (now === undefined || now.address !== old.address) this.events.departed?.(gateway_id);
    }
    for (const [gateway_id, entry] of next) {
      const old = this.discovered.get(gateway_id);
      if (old === undefined || old.address !== entry.address) this.events.joined?.(entry);
    }
    this.discovered = next;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.ports.timers.at(this.ports.clock.now() + this.options.refresh_ms, () => {
      this.timer = null;
      this.refresh();
    });
  }
}

/**
 * A gateway's entry in the GatewayRegistry: registered at start, registered again every
 * third of its TTL with the current load (so two renewals may fail before it lapses), and
 * removed when the gateway drains. A failed registration is reported and retried on the next
 * beat; routers keep their last book meanwhile.
 */
import type { Clock } from "../../core/ports/clock.js";
import type { GatewayEntry, GatewayRegistry } from "../../core/ports/gateway-registry.js";
import { fromPromise, within } from "./task.js";
import type { TimerHandle, Timers } from "./timers.js";

export class GatewayAnnouncer {
  private timer: TimerHandle | null = null;
  private stopped = false;

  constructor(
    private readonly registry: GatewayRegistry,
    private readonly ports: { readonly clock: Clock; readonly timers: Timers },
    private readonly entry: () => GatewayEntry,
    private readonly ttl_ms: number,
    private readonly failed: (reason: string) => void = () => undefined,
  ) {}

  /** Registers now; resolves when the first registration answered (ok or not). */
  start(): Promise<void> {
    return new Promise((done) => this.beat(done));
  }

  /** Stops renewing and removes the entry (best effort: otherwise it lapses within the TTL). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    await this.registry.deregister(this.entry().gateway_id).catch((error: unknown) => this.failed(String(error)));
  }

  private beat(done: () => void = () => undefined): void {
    if (this.stopped) {
      done();
      return;
    }
    const interval_ms = Math.max(1, Math.floor(this.ttl_ms / 3));
    within(fromPromise(() => this.registry.register(this.entry(), this.ttl_ms)), this.ports.timers, this.ports.clock, interval_ms)(
      () => done(),
      (reason) => {
        this.failed(reason);
        done();
      },
    );
    this.timer = this.ports.timers.at(this.ports.clock.now() + interval_ms, () => this.beat());
  }
}

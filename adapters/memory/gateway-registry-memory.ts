/** GatewayRegistryMemory: gateway discovery in process, on a Clock (ClockManual in tests). */
import type { Clock } from "../../core/ports/clock.js";
import type { GatewayEntry, GatewayRegistry } from "../../core/ports/gateway-registry.js";

export class GatewayRegistryMemory implements GatewayRegistry {
  private readonly entries = new Map<string, { entry: GatewayEntry; lapse_ms: number }>();

  constructor(private readonly clock: Clock) {}

  async register(entry: GatewayEntry, ttl_ms: number): Promise<void> {
    this.entries.set(entry.gateway_id, { entry: { ...entry }, lapse_ms: this.clock.now() + ttl_ms });
  }

  async deregister(gateway_id: string): Promise<void> {
    this.entries.delete(gateway_id);
  }

  async live(): Promise<GatewayEntry[]> {
    const now = this.clock.now();
    for (const [id, e] of this.entries) if (e.lapse_ms <= now) this.entries.delete(id);
    return [...this.entries.values()].map((e) => ({ ...e.entry })).sort((a, b) => (a.gateway_id < b.gateway_id ? -1 : 1));
  }
}

/**
 * LeaseStoreMemory: machine-number leases in process, on a Clock (ClockManual in tests), with
 * the same semantics as LeaseStoreRedis: a number whose lease is still there is never handed
 * out, renew and release compare the token. Scans from the lowest number (deterministic).
 */
import type { Clock } from "../../core/ports/clock.js";
import type { LeaseAcquireOutcome, LeaseStore } from "../../core/ports/lease-store.js";
import { assert } from "../../core/result.js";

export class LeaseStoreMemory implements LeaseStore {
  private readonly leases = new Map<number, { token: string; expires_ms: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly first = 0,
    private readonly count = 1024,
  ) {
    assert(Number.isInteger(first) && Number.isInteger(count) && first >= 0 && count >= 1 && first + count <= 1024, `LeaseStoreMemory: numbers [${first}, ${first + count}) must lie within 0..1023`);
  }

  async acquire(token: string, ttl_ms: number): Promise<LeaseAcquireOutcome> {
    const now = this.clock.now();
    for (let machine = this.first; machine < this.first + this.count; machine++) {
      const lease = this.live(machine, now);
      if (lease?.token === token) {
        lease.expires_ms = now + ttl_ms;
        return { acquired: true, machine };
      }
    }
    let soonest = Number.POSITIVE_INFINITY;
    for (let machine = this.first; machine < this.first + this.count; machine++) {
      const lease = this.live(machine, now);
      if (lease === undefined) {
        this.leases.set(machine, { token, expires_ms: now + ttl_ms });
        return { acquired: true, machine };
      }
      soonest = Math.min(soonest, lease.expires_ms - now);
    }
    return { acquired: false, wait_ms: soonest };
  }

  async renew(machine: number, token: string, ttl_ms: number): Promise<boolean> {
    const now = this.clock.now();
    const lease = this.live(machine, now);
    if (lease === undefined || lease.token !== token) return false;
    lease.expires_ms = now + ttl_ms;
    return true;
  }

  async release(machine: number, token: string): Promise<void> {
    if (this.live(machine, this.clock.now())?.token === token) this.leases.delete(machine);
  }

  async holders(): Promise<Map<number, string>> {
    const now = this.clock.now();
    const found = new Map<number, string>();
    for (const [machine] of this.leases) {
      const lease = this.live(machine, now);
      if (lease !== undefined) found.set(machine, lease.token);
    }
    return found;
  }

  private live(machine: number, now: number): { token: string; expires_ms: number } | undefined {
    const lease = this.leases.get(machine);
    if (lease !== undefined && lease.expires_ms > now) return lease;
    this.leases.delete(machine);
    return undefined;
  }
}

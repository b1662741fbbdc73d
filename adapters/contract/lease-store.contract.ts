/**
 * The LeaseStore contract: every implementation passes it (memory on a manual clock, Redis on
 * real time). `make(count)` builds a store over a pool of `count` numbers; `advance` lets the
 * TTLs pass (a sleep against a real server).
 */
import { describe, expect, it } from "vitest";
import type { LeaseStore } from "../../core/ports/lease-store.js";

export type LeaseStoreHarness = { readonly store: LeaseStore; advance(ms: number): Promise<void>; cleanup(): Promise<void> };

export function describeLeaseStoreContract(name: string, make: (count: number) => LeaseStoreHarness, options: { ttl_ms: number; test_timeout_ms?: number }): void {
  const ttl = options.ttl_ms;
  const timeout = options.test_timeout_ms ?? 10_000;
  describe(`${name} (LeaseStore contract)`, () => {
    it("hands out each number of the pool once, then refuses with the wait until the soonest expiry", async () => {
      const h = make(3);
      try {
        const got = await Promise.all(["a", "b", "c"].map((t) => h.store.acquire(t, ttl)));
        const machines = got.map((g) => (g.acquired ? g.machine : -1));
        expect(new Set(machines).size).toBe(3);
        expect(machines.every((m) => m >= 0)).toBe(true);
        const refused = await h.store.acquire("d", ttl);
        expect(refused.acquired).toBe(false);
        if (!refused.acquired) {
          expect(refused.wait_ms).toBeGreaterThan(0);
          expect(refused.wait_ms).toBeLessThanOrEqual(ttl);
        }
        expect([...(await h.store.holders()).values()].sort()).toEqual(["a", "b", "c"]);
      } finally {
        await h.cleanup();
      }
    }, timeout);

    it("renews only under the holder's token; a lease not renewed runs out and its number is free again", async () => {
      const h = make(1);
      try {
        const a = await h.store.acquire("a", ttl);
        expect(a.acquired).toBe(true);
        if (!a.acquired) return;
        expect(await h.store.renew(a.machine, "b", ttl)).toBe(false);
        await h.store.release(a.machine, "b");
        expect((await h.store.acquire("b", ttl)).acquired).toBe(false);
        await h.advance(ttl / 2);
        expect(await h.store.renew(a.machine, "a", ttl)).toBe(true);
        await h.advance(ttl * 0.75);
        // Renewed at ttl/2: still held at 1.25 ttl.
        expect((await h.store.acquire("b", ttl)).acquired).toBe(false);
        await h.advance(ttl);
        expect(await h.store.renew(a.machine, "a", ttl)).toBe(false);
        const b = await h.store.acquire("b", ttl);
        expect(b).toEqual({ acquired: true, machine: a.machine });
      } finally {
        await h.cleanup();
      }
    }, timeout);

    it("an acquire repeated under the same token (an earlier one timed out but applied) gets the same number back", async () => {
      const h = make(2);
      try {
        const first = await h.store.acquire("a", ttl);
        const again = await h.store.acquire("a", ttl);
        expect(again).toEqual(first);
        expect((await h.store.holders()).size).toBe(1);
      } finally {
        await h.cleanup();
      }
    }, timeout);

    it("a restarted holder (new token) waits out its own earlier lease; release by the holder frees at once", async () => {
      const h = make(1);
      try {
        const first = await h.store.acquire("node-1.incarnation-1", ttl);
        expect(first.acquired).toBe(true);
        if (!first.acquired) return;
        expect((await h.store.acquire("node-1.incarnation-2", ttl)).acquired).toBe(false);
        await h.store.release(first.machine, "node-1.incarnation-1");
        expect(await h.store.acquire("node-1.incarnation-2", ttl)).toEqual({ acquired: true, machine: first.machine });
      } finally {
        await h.cleanup();
      }
    }, timeout);
  });
}

/** The GatewayRegistry contract: memory on a manual clock, Redis on real time. */
import { describe, expect, it } from "vitest";
import type { GatewayRegistry } from "../../core/ports/gateway-registry.js";

export type GatewayRegistryHarness = { readonly registry: GatewayRegistry; advance(ms: number): Promise<void>; cleanup(): Promise<void> };

export function describeGatewayRegistryContract(name: string, make: () => GatewayRegistryHarness, options: { ttl_ms: number; test_timeout_ms?: number }): void {
  const ttl = options.ttl_ms;
  describe(`${name} (GatewayRegistry contract)`, () => {
    it("lists what registered, refreshes in place, drops what deregistered", async () => {
      const h = make();
      try {
        await h.registry.register({ gateway_id: "gw-b", address: "gw-b.internal:7101", region: "eu", load: 3 }, ttl);
        await h.registry.register({ gateway_id: "gw-a", address: "10.0.0.5:7101", region: "us", load: 0 }, ttl);
        await h.registry.register({ gateway_id: "gw-b", address: "[fd00::2]:7101", region: "eu", load: 9 }, ttl);
        expect(await h.registry.live()).toEqual([
          { gateway_id: "gw-a", address: "10.0.0.5:7101", region: "us", load: 0 },
          { gateway_id: "gw-b", address: "[fd00::2]:7101", region: "eu", load: 9 },
        ]);
        await h.registry.deregister("gw-a");
        expect((await h.registry.live()).map((e) => e.gateway_id)).toEqual(["gw-b"]);
      } finally {
        await h.cleanup();
      }
    }, options.test_timeout_ms ?? 10_000);

    it("an entry not registered again within its TTL lapses; one that is, stays", async () => {
      const h = make();
      try {
        await h.registry.register({ gateway_id: "gw-1", address: "a:1", region: "r", load: 0 }, ttl);
        await h.registry.register({ gateway_id: "gw-2", address: "b:1", region: "r", load: 0 }, ttl);
        await h.advance(ttl / 2);
        await h.registry.register({ gateway_id: "gw-2", address: "b:1", region: "r", load: 1 }, ttl);
        await h.advance(ttl * 0.75);
        expect((await h.registry.live()).map((e) => e.gateway_id)).toEqual(["gw-2"]);
      } finally {
        await h.cleanup();
      }
    }, options.test_timeout_ms ?? 10_000);
  });
}

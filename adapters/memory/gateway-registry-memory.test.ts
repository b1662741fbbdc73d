/** GatewayRegistryMemory passes the GatewayRegistry contract on a manual clock. */
import { describeGatewayRegistryContract } from "../contract/gateway-registry.contract.js";
import { ClockManual } from "./clock-memory.js";
import { GatewayRegistryMemory } from "./gateway-registry-memory.js";

describeGatewayRegistryContract(
  "GatewayRegistryMemory",
  () => {
    const clock = new ClockManual(0);
    return { registry: new GatewayRegistryMemory(clock), advance: async (ms) => void clock.advance(ms), cleanup: async () => undefined };
  },
  { ttl_ms: 1_000 },
);

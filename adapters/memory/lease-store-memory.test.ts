/** LeaseStoreMemory passes the LeaseStore contract on a manual clock. */
import { describeLeaseStoreContract } from "../contract/lease-store.contract.js";
import { ClockManual } from "./clock-memory.js";
import { LeaseStoreMemory } from "./lease-store-memory.js";

describeLeaseStoreContract(
  "LeaseStoreMemory",
  (count) => {
    const clock = new ClockManual(1_000);
    return { store: new LeaseStoreMemory(clock, 10, count), advance: async (ms) => void clock.advance(ms), cleanup: async () => undefined };
  },
  { ttl_ms: 1_000 },
);

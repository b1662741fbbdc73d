import { describe, expect, it } from "vitest";
import { describeSessionStoreContract } from "../contract/session-store.contract.js";
import { ClockManual } from "./clock-memory.js";
import { SessionStoreMemory } from "./session-store-memory.js";

describeSessionStoreContract("SessionStoreMemory", async () => {
  const clock = new ClockManual(1_750_000_000_000);
  const store = new SessionStoreMemory(clock);
  return {
    store,
    advance: async (ms: number) => {
      clock.advance(ms);
    },
    cleanup: () => store.close(),
  };
});

const entry = (user_id: string, connection_id: string) => ({ user_id, device_id: "dev", gateway_id: "gw", connection_id });

describe("SessionStoreMemory", () => {
  it("treats an entry as expired exactly at register + ttl_ms", async () => {
    const clock = new ClockManual(0);
    const store = new SessionStoreMemory(clock);
    await store.register(entry("u", "c"), 100);
    clock.set(99);
    expect((await store.lookup(["u"])).has("u")).toBe(true);
    clock.set(100);
    expect((await store.lookup(["u"])).has("u")).toBe(false);
  });

  it("keeps an entry alive longer when the clock steps back", async () => {
    const clock = new ClockManual(1_000);
    const store = new SessionStoreMemory(clock);
    await store.register(entry("u", "c"), 100);
    clock.set(500);
    expect((await store.lookup(["u"])).has("u")).toBe(true);
  });

  it("sweeps expired entries so that memory follows the live set", async () => {
    const clock = new ClockManual(0);
    const store = new SessionStoreMemory(clock, { sweep_every_writes: 10 });
    for (let i = 0; i < 9; i++) await store.register(entry(`u${i}`, "c"), 100);
    clock.advance(200);
    expect(store.sizeForTests().sessions).toBe(9);
    await store.cacheSet("k", "v", 1_000);
    expect(store.sizeForTests()).toEqual({ sessions: 0, cache: 1 });
  });

  it("evicts the least recently set cache key beyond cache_entries_max", async () => {
    const store = new SessionStoreMemory(new ClockManual(0), { cache_entries_max: 2 });
    await store.cacheSet("a", "1", 1_000);
    await store.cacheSet("b", "2", 1_000);
    await store.cacheSet("a", "3", 1_000);
    await store.cacheSet("c", "4", 1_000);
    expect(await store.cacheGet("b")).toBeNull();
    expect(await store.cacheGet("a")).toBe("3");
    expect(await store.cacheGet("c")).toBe("4");
  });

  it("rejects a non-positive ttl_ms as a caller bug", async () => {
    const store = new SessionStoreMemory(new ClockManual(0));
    await expect(store.register(entry("u", "c"), 0)).rejects.toThrow(/ttl_ms/);
    await expect(store.cacheSet("k", "v", -1)).rejects.toThrow(/ttl_ms/);
  });
});

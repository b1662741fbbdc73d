/**
 * The SessionStore contract (core/ports/session-store.ts), as vitest tests that every
 * SessionStore must pass: memory, simulated, and Redis for real.
 *
 * Rules of this suite: it speaks only the port and the harness; every test uses its own
 * users, connections and cache keys. Time moves only through the harness's `advance`: a
 * manual clock for memory and simulated stores, a real wait for Redis (whose TTLs run on
 * the server's clock). So TTLs here are a few seconds with a second or more of margin on
 * each side of every check, and a store is free to lose cache keys early only when the
 * harness says so (a simulated store with key loss must turn it off for this suite).
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionStore } from "../../core/ports/session-store.js";
import type { SessionEntry } from "../../core/model.js";

export type SessionStoreHarness = {
  readonly store: SessionStore;
  /** Lets `ms` milliseconds pass for the store's TTLs (move a manual clock, or wait). */
  advance(ms: number): Promise<void>;
  /** Closes the store and releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type SessionStoreContractOptions = {
  /** Per-test timeout for slow servers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
};

const TTL_MS = 3_000;

export function describeSessionStoreContract(
  name: string,
  factory: () => Promise<SessionStoreHarness>,
  options: SessionStoreContractOptions = {},
): void {
  describe(`SessionStore contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${run}-${++counter}`;

    let harness: SessionStoreHarness | null = null;
    beforeEach(async () => {
      harness = await factory();
    });
    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });
    const h = (): SessionStoreHarness => {
      if (harness === null) throw new Error("SessionStore contract: the harness is not open");
      return harness;
    };
    const store = (): SessionStore => h().store;

    const entry = (user_id: string, gateway_id = unique("gw")): SessionEntry => ({
      user_id,
      device_id: unique("dev"),
      gateway_id,
      connection_id: unique("conn"),
    });

    const byConnection = (entries: readonly SessionEntry[] | undefined): SessionEntry[] =>
      [...(entries ?? [])].sort((a, b) => (a.connection_id < b.connection_id ? -1 : a.connection_id > b.connection_id ? 1 : 0));

    const timeout = options.test_timeout_ms;

    it(
      "answers the live entries of each user asked, and leaves users with none out",
      async () => {
        const alice = unique("alice");
        const bob = unique("bob");
        const nobody = unique("nobody");
        const a1 = entry(alice);
        const a2 = entry(alice);
        const b1 = entry(bob);
        for (const e of [a1, a2, b1]) await store().register(e, TTL_MS);
        const found = await store().lookup([alice, bob, nobody]);
        expect([...found.keys()].sort()).toEqual([alice, bob].sort());
        expect(byConnection(found.get(alice))).toEqual(byConnection([a1, a2]));
        expect(found.get(bob)).toEqual([b1]);
        expect((await store().lookup([bob])).get(alice)).toBeUndefined();
        expect((await store().lookup([])).size).toBe(0);
      },
      timeout,
    );

    it(
      "replaces a connection's entry when it registers again",
      async () => {
        const alice = unique("alice");
        const first = entry(alice);
        await store().register(first, TTL_MS);
        const moved: SessionEntry = { ...first, gateway_id: unique("gw") };
        await store().register(moved, TTL_MS);
        expect((await store().lookup([alice])).get(alice)).toEqual([moved]);
      },
      timeout,
    );

    it(
      "answers whether a register found the connection's entry missing: created, refreshed, gone again",
      async () => {
        const alice = unique("alice");
        const a1 = entry(alice);
        const a2 = entry(alice);
        expect(await store().register(a1, TTL_MS)).toBe(true);
        expect(await store().register(a1, TTL_MS)).toBe(false);
        expect(await store().register(a2, TTL_MS)).toBe(true); // another connection of the same user
        await store().unregister(alice, a1.connection_id);
        expect(await store().register(a1, TTL_MS)).toBe(true);
        await h().advance(TTL_MS + 1_000);
        expect(await store().register(a1, TTL_MS)).toBe(true); // it had expired
      },
      timeout,
    );

    it(
      "removes exactly one connection on unregister, and accepts removing an absent one",
      async () => {
        const alice = unique("alice");
        const a1 = entry(alice);
        const a2 = entry(alice);
        await store().register(a1, TTL_MS);
        await store().register(a2, TTL_MS);
        await store().unregister(alice, a1.connection_id);
        expect((await store().lookup([alice])).get(alice)).toEqual([a2]);
        await store().unregister(alice, a1.connection_id);
        await store().unregister(unique("nobody"), unique("conn"));
        await store().unregister(alice, a2.connection_id);
        expect((await store().lookup([alice])).has(alice)).toBe(false);
      },
      timeout,
    );

    it(
      "expires an entry ttl_ms after its register, each entry on its own TTL",
      async () => {
        const alice = unique("alice");
        const short = entry(alice);
        const long = entry(alice);
        await store().register(short, TTL_MS);
        await store().register(long, 3 * TTL_MS);
        await h().advance(TTL_MS - 1_500);
        expect(byConnection((await store().lookup([alice])).get(alice))).toEqual(byConnection([short, long]));
        await h().advance(2_500);
        expect((await store().lookup([alice])).get(alice)).toEqual([long]);
        await h().advance(2 * TTL_MS);
        expect((await store().lookup([alice])).has(alice)).toBe(false);
      },
      timeout,
    );

    it(
      "restarts the TTL when a connection registers again",
      async () => {
        const alice = unique("alice");
        const e = entry(alice);
        await store().register(e, TTL_MS);
        await h().advance(TTL_MS - 1_500);
        await store().register(e, TTL_MS);
        // Past the first register's TTL, within the second's.
        await h().advance(TTL_MS - 1_500 + 500);
        expect((await store().lookup([alice])).get(alice)).toEqual([e]);
        await h().advance(2_000);
        expect((await store().lookup([alice])).has(alice)).toBe(false);
      },
      timeout,
    );

    it(
      "answers a cached value until its TTL, then null; a set replaces the value",
      async () => {
        const key = unique("cache");
        const other = unique("cache");
        expect(await store().cacheGet(key)).toBeNull();
        await store().cacheSet(key, "first", TTL_MS);
        expect(await store().cacheGet(key)).toBe("first");
        await store().cacheSet(key, "second", TTL_MS);
        expect(await store().cacheGet(key)).toBe("second");
        expect(await store().cacheGet(other)).toBeNull();
        await store().cacheSet(other, "long", 3 * TTL_MS);
        await h().advance(TTL_MS + 1_000);
        expect(await store().cacheGet(key)).toBeNull();
        expect(await store().cacheGet(other)).toBe("long");
      },
      timeout,
    );

    it(
      "keeps sessions and the cache apart",
      async () => {
        const alice = unique("alice");
        await store().cacheSet(alice, "value", TTL_MS);
        expect((await store().lookup([alice])).has(alice)).toBe(false);
        const e = entry(alice);
        await store().register(e, TTL_MS);
        expect(await store().cacheGet(e.connection_id)).toBeNull();
        expect(await store().cacheGet(alice)).toBe("value");
      },
      timeout,
    );
  });
}

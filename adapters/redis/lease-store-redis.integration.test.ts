/**
 * LeaseStoreRedis against a real Redis (127.0.0.1:6379, started by deploy/services.sh if the
 * port is closed): the LeaseStore contract on real time, then issuers (MachineLease holders
 * issuing Snowflake IDs) on real timers: more issuers than numbers, one of them crashing
 * without releasing, and every ID checked against who held which lease when.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snowflakeInit, snowflakeNext, type SnowflakeState } from "../../core/ids/snowflake.js";
import type { LeaseStore } from "../../core/ports/lease-store.js";
import { MachineLease } from "../../nodes/hosts/lease-host.js";
import { timersReal } from "../../nodes/timers-real.js";
import { describeLeaseStoreContract } from "../contract/lease-store.contract.js";
import { connectRedis, redisUrlFromEnv } from "./client.js";
import { LeaseStoreRedis } from "./lease-store-redis.js";
import { REDIS_PORT, ensureService, sleep } from "./test-support.js";

const PREFIX = `chat-test:${randomUUID().slice(0, 8)}:`;
let pools = 0;

beforeAll(async () => {
  await ensureService("redis", REDIS_PORT);
}, 150_000);

afterAll(async () => {
  const redis = connectRedis(redisUrlFromEnv());
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describeLeaseStoreContract(
  "LeaseStoreRedis",
  (count) => {
    const redis = connectRedis(redisUrlFromEnv());
    return { store: new LeaseStoreRedis({ redis, prefix: PREFIX, pool: `contract-${++pools}`, first: 100, count }), advance: sleep, cleanup: async () => void (await redis.quit()) };
  },
  { ttl_ms: 400 },
);

/** A store whose calls all fail once `crashed` is set: the holder process is gone (no release, no renewal). */
function crashable(store: LeaseStore): { store: LeaseStore; crash(): void } {
  let crashed = false;
  const gate = <T>(f: () => Promise<T>): Promise<T> => (crashed ? new Promise<T>(() => undefined) : f());
  return {
    crash: () => void (crashed = true),
    store: {
      acquire: (token, ttl_ms) => gate(() => store.acquire(token, ttl_ms)),
      renew: (machine, token, ttl_ms) => gate(() => store.renew(machine, token, ttl_ms)),
      release: (machine, token) => gate(() => store.release(machine, token)),
      holders: () => store.holders(),
    },
  };
}

type Issued = { readonly issuer: number; readonly machine: number; readonly at_ms: number; readonly id: string };

describe("machine leases on Redis, issuers on real timers", () => {
  it("7 issuers on 3 numbers: at most 3 issue at once, the rest issue nothing until a number frees, and a crashed holder's number moves only after its TTL", async () => {
    const TTL_MS = 1_500;
    const redis = connectRedis(redisUrlFromEnv());
    const store = new LeaseStoreRedis({ redis, prefix: PREFIX, pool: `issuers-${++pools}`, first: 40, count: 3 });
    const clock = { now: () => performance.now() };
    const timers = timersReal(clock);
    await redis.ping();
    const issued: Issued[] = [];
    const refusals: number[] = [];
    const issuers = Array.from({ length: 7 }, (_, index) => {
      const faulty = crashable(store);
      const lease = new MachineLease(
        { store: faulty.store, clock, timers },
        { token: `issuer-${index}.${randomUUID()}`, ttl_ms: TTL_MS, renew_every_ms: 300, margin_ms: 300, retry_ms: 50, call_timeout_ms: 500 },
        { refused: () => void refusals.push(index) },
      );
      let generator: SnowflakeState | null = null;
      // The issuer: every 5 ms it issues an ID if, and only if, the lease says it may.
      const loop = setInterval(() => {
        const machine = lease.machine();
        if (machine === null) return;
        if (generator === null || generator.machine !== machine) generator = snowflakeInit(machine);
        const next = snowflakeNext(generator, Date.now());
        generator = next.state;
        issued.push({ issuer: index, machine, at_ms: clock.now(), id: next.id });
      }, 5);
      return { lease, faulty, loop };
    });
    try {
      for (const i of issuers) i.lease.start();
      // Three hold a lease (on a loaded box, give the first acquires a moment).
      let holding = issuers.filter((i) => i.lease.machine() !== null);
      for (let tries = 0; holding.length < 3 && tries < 60; tries++) {
        await sleep(50);
        holding = issuers.filter((i) => i.lease.machine() !== null);
      }
      expect(holding).toHaveLength(3);
      await sleep(500);
      expect(refusals.length).toBeGreaterThan(0);
      // Crash one holder: it neither renews nor releases.
      const victim = holding[0]!;
      const victim_index = issuers.indexOf(victim);
      const victim_machine = victim.lease.machine()!;
      const crash_ms = clock.now();
      victim.faulty.crash();
      await sleep(3_500);
      // Its lease lapsed on its side, and someone else holds the number now.
      expect(victim.lease.machine()).toBeNull();
      const successors = issued.filter((x) => x.machine === victim_machine && x.issuer !== victim_index && x.at_ms > crash_ms);
      expect(successors.length).toBeGreaterThan(0);
      const victim_last = Math.max(...issued.filter((x) => x.issuer === victim_index).map((x) => x.at_ms));
      const successor_first = Math.min(...successors.map((x) => x.at_ms));
      // The victim stopped before the TTL (counted from its last renewal's send) ran out,
      // and the successor started after Redis expired the key.
      expect(victim_last - crash_ms).toBeLessThan(TTL_MS);
      expect(successor_first - victim_last).toBeGreaterThan(100);
      // Everything issued: unique IDs, and per number one issuer at a time.
      expect(new Set(issued.map((x) => x.id)).size).toBe(issued.length);
      const by_machine = new Map<number, Issued[]>();
      for (const x of issued) by_machine.set(x.machine, [...(by_machine.get(x.machine) ?? []), x]);
      expect([...by_machine.keys()].sort()).toEqual([40, 41, 42]);
      for (const list of by_machine.values()) {
        const spans = new Map<number, [number, number]>();
        for (const x of list) {
          const span = spans.get(x.issuer) ?? [x.at_ms, x.at_ms];
          spans.set(x.issuer, [Math.min(span[0], x.at_ms), Math.max(span[1], x.at_ms)]);
        }
        const ordered = [...spans.values()].sort((a, b) => a[0] - b[0]);
        for (let k = 1; k < ordered.length; k++) expect(ordered[k]![0]).toBeGreaterThan(ordered[k - 1]![1]);
      }
      // At no sampled moment did more than three issuers issue.
      const issuers_per_10ms = new Map<number, Set<number>>();
      for (const x of issued) {
        const slot = Math.floor(x.at_ms / 10);
        issuers_per_10ms.set(slot, (issuers_per_10ms.get(slot) ?? new Set()).add(x.issuer));
      }
      expect(Math.max(...[...issuers_per_10ms.values()].map((s) => s.size))).toBeLessThanOrEqual(3);
      // The holders Redis knows are the three issuers that say they hold a lease.
      const held = await store.holders();
      expect(held.size).toBe(3);
    } finally {
      for (const i of issuers) clearInterval(i.loop);
      await Promise.all(issuers.filter((i) => i !== undefined).map((i) => Promise.race([i.lease.stop(), sleep(300)])));
      await redis.quit();
    }
  }, 30_000);
});

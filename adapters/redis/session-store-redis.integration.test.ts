/**
 * SessionStoreRedis against a real Redis (127.0.0.1:6379, started by deploy/services.sh if the
 * port is closed): the SessionStore contract with real waits, then what is particular to Redis:
 * many users in one round trip, the per-user key's expiry, and the keys it writes.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionEntry } from "../../core/model.js";
import { describeSessionStoreContract } from "../contract/session-store.contract.js";
import { connectRedis, redisUrlFromEnv } from "./client.js";
import { SessionStoreRedis } from "./session-store-redis.js";
import { REDIS_PORT, ensureService, sleep } from "./test-support.js";

const PREFIX = `chat-test:${randomUUID().slice(0, 8)}:`;

beforeAll(async () => {
  await ensureService("redis", REDIS_PORT);
}, 150_000);

afterAll(async () => {
  // Sessions and cache keys expire by themselves; this removes what a failed test left early.
  const redis = connectRedis(redisUrlFromEnv());
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 1_000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
  await redis.quit();
});

function open(): { redis: Redis; store: SessionStoreRedis; cleanup(): Promise<void> } {
  const redis = connectRedis(redisUrlFromEnv(), { connection_name: "session-store-test" });
  const store = new SessionStoreRedis({ redis, prefix: PREFIX });
  return {
    redis,
    store,
    cleanup: async () => {
      await store.close();
      await redis.quit();
    },
  };
}

describeSessionStoreContract(
  "SessionStoreRedis",
  async () => {
    const { store, cleanup } = open();
    return { store, advance: sleep, cleanup };
  },
  { test_timeout_ms: 30_000 },
);

describe("SessionStoreRedis", () => {
  const run = randomUUID().slice(0, 8);
  const entry = (user_id: string, n: number): SessionEntry => ({
    user_id,
    device_id: `dev-${n}`,
    gateway_id: `gw-${n % 7}`,
    connection_id: `conn-${run}-${n}`,
  });

  it("looks up 500 users in one call and one pipeline", async () => {
    const { redis, store, cleanup } = open();
    try {
      const users = Array.from({ length: 500 }, (_, n) => `many-${run}-${n}`);
      await Promise.all(users.map((user_id, n) => store.register(entry(user_id, n), 30_000)));
      let pipelines = 0;
      const original = redis.pipeline.bind(redis);
      redis.pipeline = ((...args: Parameters<Redis["pipeline"]>) => {
        pipelines += 1;
        return original(...args);
      }) as Redis["pipeline"];
      const started_ms = performance.now();
      const found = await store.lookup([...users, `nobody-${run}`, users[0] as string]);
      const took_ms = performance.now() - started_ms;
      expect(pipelines).toBe(1);
      expect(found.size).toBe(500);
      users.forEach((user_id, n) => expect(found.get(user_id)).toEqual([entry(user_id, n)]));
      expect(took_ms).toBeLessThan(2_000);
    } finally {
      await cleanup();
    }
  });

  it("keeps one hash per user that expires with its latest entry, and drops lapsed fields on register", async () => {
    const { redis, store, cleanup } = open();
    try {
      const user = `layout-${run}`;
      await store.register(entry(user, 1), 300);
      await store.register(entry(user, 2), 20_000);
      const key = store.sessionKey(user);
      expect(key).toBe(`${PREFIX}session:{${user}}`);
      expect(await redis.hlen(key)).toBe(2);
      const ttl_ms = await redis.pttl(key);
      expect(ttl_ms).toBeGreaterThan(15_000);
      expect(ttl_ms).toBeLessThanOrEqual(20_000);
      await sleep(400);
      await store.register(entry(user, 3), 1_000);
      expect((await redis.hkeys(key)).sort()).toEqual([`conn-${run}-2`, `conn-${run}-3`]);
      // The key still lives as long as its longest entry.
      expect(await redis.pttl(key)).toBeGreaterThan(15_000);
      await store.unregister(user, `conn-${run}-2`);
      await store.unregister(user, `conn-${run}-3`);
      expect(await redis.exists(key)).toBe(0);
      await store.cacheSet("k", "v", 5_000);
      expect(await redis.get(`${PREFIX}cache:k`)).toBe("v");
      expect(await redis.pttl(`${PREFIX}cache:k`)).toBeGreaterThan(4_000);
    } finally {
      await cleanup();
    }
  });

  it("refuses calls after close and a non-positive ttl_ms", async () => {
    const { store, cleanup } = open();
    await expect(store.register(entry(`bad-${run}`, 1), 0)).rejects.toThrow(/ttl_ms/);
    await expect(store.cacheSet("k", "v", -5)).rejects.toThrow(/ttl_ms/);
    await cleanup();
    await expect(store.lookup(["x"])).rejects.toThrow(/closed/);
  });
});

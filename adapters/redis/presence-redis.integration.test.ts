/**
 * PresenceRedis against a real Redis (127.0.0.1:6379, started by deploy/services.sh if the port
 * is closed): the Presence contract on real time (the harness's `advance` sleeps; sweepers run
 * every 50 ms), then what only a shared Redis shows: two gateways, lapses settled exactly once,
 * tombstones, a heartbeat that beats the sweeper to a lapse, and a subscriber that reconnects.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PresenceChange } from "../../core/ports/presence.js";
import { describePresenceContract } from "../contract/presence.contract.js";
import { connectRedis, redisUrlFromEnv } from "./client.js";
import { PresenceRedis, type PresenceRedisOptions } from "./presence-redis.js";
import { serverMs } from "./session-store-redis.js";
import { REDIS_PORT, ensureService, sleep } from "./test-support.js";

const PREFIX = `chat-test:${randomUUID().slice(0, 8)}:`;
const SWEEP_INTERVAL_MS = 50;
const SETTLE_MS = 3_000;

beforeAll(async () => {
  await ensureService("redis", REDIS_PORT);
}, 150_000);

afterAll(async () => {
  // User records keep last_seen without a TTL; this test run's prefix is removed whole.
  const redis = connectRedis(redisUrlFromEnv());
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 1_000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
  await redis.quit();
});

type Gateway = { readonly redis: Redis; readonly presence: PresenceRedis; readonly errors: unknown[]; cleanup(): Promise<void> };

function gateway(options: Partial<PresenceRedisOptions> = {}): Gateway {
  const redis = connectRedis(redisUrlFromEnv(), { connection_name: "presence-test" });
  const errors: unknown[] = [];
  const presence = new PresenceRedis({
    redis,
    prefix: PREFIX,
    sweep_interval_ms: SWEEP_INTERVAL_MS,
    on_error: (error) => void errors.push(error),
    ...options,
  });
  return {
    redis,
    presence,
    errors,
    cleanup: async () => {
      await presence.close();
      await redis.quit();
    },
  };
}

describePresenceContract(
  "PresenceRedis",
  () => {
    const g = gateway();
    return { presence: g.presence, advance: sleep, cleanup: g.cleanup };
  },
  { ttl_ms: 1_000, settle_ms: SETTLE_MS, test_timeout_ms: 20_000 },
);

function recorder(): { changes: PresenceChange[]; listener: (change: PresenceChange) => void; statuses(): string[] } {
  const changes: PresenceChange[] = [];
  return { changes, listener: (change) => void changes.push(change), statuses: () => changes.map((change) => change.status) };
}

async function eventually(check: () => void | Promise<void>, within_ms = SETTLE_MS): Promise<void> {
  const deadline_ms = Date.now() + within_ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() >= deadline_ms) throw error;
      await sleep(10);
    }
  }
}

async function redisNow(redis: Redis): Promise<number> {
  return serverMs(await redis.time().then((time) => [String(time[0]), String(time[1])] as [string, string]));
}

describe("PresenceRedis", () => {
  const run = randomUUID().slice(0, 8);
  let counter = 0;
  const unique = (prefix: string): string => `${prefix}-${run}-${++counter}`;

  it("two gateways: a user online on one goes offline on lapse exactly once for listeners on the other", async () => {
    const [a, b] = [gateway(), gateway()];
    try {
      const user = unique("user");
      const [on_a, on_b, also_on_b] = [recorder(), recorder(), recorder()];
      await a.presence.subscribe(user, on_a.listener);
      await b.presence.subscribe(user, on_b.listener);
      await b.presence.subscribe(user, also_on_b.listener);
      await a.presence.heartbeat(user, unique("conn"), 300);
      expect((await b.presence.status([user])).get(user)?.status).toBe("online");
      await eventually(() => expect(on_b.statuses()).toEqual(["online", "offline"]));
      // Both sweepers ran over the lapse many times by now; wait a few more sweeps for a repeat.
      await sleep(10 * SWEEP_INTERVAL_MS);
      expect(on_a.statuses()).toEqual(["online", "offline"]);
      expect(on_b.statuses()).toEqual(["online", "offline"]);
      expect(also_on_b.statuses()).toEqual(["online", "offline"]);
      const state = (await a.presence.status([user])).get(user);
      expect(on_b.changes[1]).toEqual({ user_id: user, ...state });
      // Nothing of the user is left to sweep, and its connection keys have gone.
      const keys = a.presence.keysOf(user);
      expect(await a.redis.zscore(keys.lapses, user)).toBeNull();
      expect(await a.redis.exists(keys.live)).toBe(0);
      expect(a.errors.concat(b.errors)).toEqual([]);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it("keeps a user online across gateways while any of its connections lives", async () => {
    const [a, b] = [gateway(), gateway()];
    try {
      const user = unique("user");
      const heard = recorder();
      await b.presence.subscribe(user, heard.listener);
      const [on_a, on_b] = [unique("conn"), unique("conn")];
      await a.presence.heartbeat(user, on_a, 5_000);
      await b.presence.heartbeat(user, on_b, 5_000);
      await a.presence.disconnect(user, on_a);
      expect((await a.presence.status([user])).get(user)?.status).toBe("online");
      await b.presence.disconnect(user, on_b);
      expect((await a.presence.status([user])).get(user)?.status).toBe("offline");
      await eventually(() => expect(heard.statuses()).toEqual(["online", "offline"]));
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it("reports last_seen as the latest heartbeat after a lapse, and as the disconnect time after a disconnect", async () => {
    const g = gateway();
    try {
      const user = unique("user");
      const heard = recorder();
      await g.presence.subscribe(user, heard.listener);
      await g.presence.heartbeat(user, unique("conn"), 200);
      await sleep(100);
      const before_ms = await redisNow(g.redis);
      await g.presence.heartbeat(user, unique("conn"), 200);
      const after_ms = await redisNow(g.redis);
      await eventually(() => expect(heard.statuses()).toEqual(["online", "offline"]));
      const lapsed = heard.changes[1]?.last_seen_ms ?? Number.NaN;
      expect(lapsed).toBeGreaterThanOrEqual(before_ms);
      expect(lapsed).toBeLessThanOrEqual(after_ms);
      const connection = unique("conn");
      await g.presence.heartbeat(user, connection, 5_000);
      await sleep(50);
      const close_from_ms = await redisNow(g.redis);
      await g.presence.disconnect(user, connection);
      const close_to_ms = await redisNow(g.redis);
      const closed = (await g.presence.status([user])).get(user);
      expect(closed?.status).toBe("offline");
      expect(closed?.last_seen_ms).toBeGreaterThanOrEqual(close_from_ms);
      expect(closed?.last_seen_ms).toBeLessThanOrEqual(close_to_ms);
    } finally {
      await g.cleanup();
    }
  });

  it("ignores a heartbeat of a closed connection until the connection would have lapsed (the tombstone)", async () => {
    const g = gateway();
    try {
      const user = unique("user");
      const connection = unique("conn");
      const heard = recorder();
      await g.presence.subscribe(user, heard.listener);
      await g.presence.heartbeat(user, connection, 400);
      await g.presence.disconnect(user, connection);
      await g.presence.heartbeat(user, connection, 400);
      expect((await g.presence.status([user])).get(user)?.status).toBe("offline");
      const tombstone = g.presence.keysOf(user).connection(connection);
      expect(await g.redis.get(tombstone)).toMatch(/^C\|\d+$/);
      expect(await g.redis.pttl(tombstone)).toBeGreaterThan(0);
      await sleep(500);
      expect(await g.redis.exists(tombstone)).toBe(0);
      await g.presence.heartbeat(user, connection, 400);
      expect((await g.presence.status([user])).get(user)?.status).toBe("online");
      await eventually(() => expect(heard.statuses()).toEqual(["online", "offline", "online", "offline"]));
    } finally {
      await g.cleanup();
    }
  });

  it("with no sweeper running, a heartbeat after an unsettled lapse publishes offline then online, as the core does", async () => {
    const g = gateway({ sweep_interval_ms: null });
    try {
      const user = unique("user");
      const heard = recorder();
      await g.presence.subscribe(user, heard.listener);
      await g.presence.heartbeat(user, unique("conn"), 100);
      await sleep(200);
      // Status is exact without a sweep; the listener has not heard the lapse yet.
      expect((await g.presence.status([user])).get(user)?.status).toBe("offline");
      await sleep(50);
      expect(heard.statuses()).toEqual(["online"]);
      await g.presence.heartbeat(user, unique("conn"), 5_000);
      await eventually(() => expect(heard.statuses()).toEqual(["online", "offline", "online"]));
    } finally {
      await g.cleanup();
    }
  });

  it("settles a lapse that happened while no sweeper ran, once one starts", async () => {
    const quiet = gateway({ sweep_interval_ms: null });
    const later = gateway({ sweep_interval_ms: null });
    try {
      const user = unique("user");
      const heard = recorder();
      await quiet.presence.subscribe(user, heard.listener);
      await quiet.presence.heartbeat(user, unique("conn"), 100);
      await sleep(200);
      await eventually(() => expect(heard.statuses()).toEqual(["online"]));
      await later.presence.sweepNow();
      await eventually(() => expect(heard.statuses()).toEqual(["online", "offline"]));
    } finally {
      await quiet.cleanup();
      await later.cleanup();
    }
  });

  it("sweeps more lapsed users than one batch holds, in one sweep", async () => {
    const g = gateway({ sweep_interval_ms: null, sweep_batch_max: 4, buckets: 2 });
    try {
      const users = Array.from({ length: 40 }, () => unique("crowd"));
      const heard = users.map(() => recorder());
      await Promise.all(users.map((user_id, i) => g.presence.subscribe(user_id, (heard[i] as ReturnType<typeof recorder>).listener)));
      await Promise.all(users.map((user_id) => g.presence.heartbeat(user_id, unique("conn"), 100)));
      await sleep(200);
      await g.presence.sweepNow();
      await eventually(() => heard.forEach((h) => expect(h.statuses()).toEqual(["online", "offline"])));
    } finally {
      await g.cleanup();
    }
  });

  it("tells a listener the status it missed while its subscriber connection was down", async () => {
    const name = unique("subscriber");
    const g = gateway({ subscriber_name: name });
    try {
      const user = unique("user");
      const heard = recorder();
      await g.presence.subscribe(user, heard.listener);
      const clients = await g.redis.client("LIST");
      const id = /id=(\d+) [^\n]* name=(\S+)/g;
      const ids = [...String(clients).matchAll(id)].filter((match) => match[2] === name).map((match) => match[1] as string);
      expect(ids).toHaveLength(1);
      await g.redis.client("KILL", "ID", ids[0] as string);
      // Published while the subscriber is reconnecting: pub/sub drops it; the resync does not.
      await g.presence.heartbeat(user, unique("conn"), 10_000);
      await eventually(() => expect(heard.statuses()).toEqual(["online"]));
      await sleep(200);
      expect(heard.statuses()).toEqual(["online"]);
      expect(g.errors).toEqual([]);
    } finally {
      await g.cleanup();
    }
  });

  it("refuses calls after close, and close stops its sweeper and subscriber", async () => {
    const g = gateway();
    const stop = await g.presence.subscribe(unique("user"), () => undefined);
    await g.cleanup();
    await expect(g.presence.heartbeat("u", "c", 100)).rejects.toThrow(/after close/);
    await expect(g.presence.status(["u"])).rejects.toThrow(/after close/);
    await stop();
  });
});

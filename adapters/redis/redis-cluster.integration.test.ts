/**
 * The Redis adapters on a Redis Cluster (3 masters, 3 replicas on 127.0.0.1:7200-7205, started
 * by `deploy/services.sh up redis-cluster` when its first port is closed): the SessionStore,
 * Presence (sharded pub/sub), LeaseStore and GatewayRegistry contracts through ioredis'
 * Cluster client, keys spread over all three masters, and what a cluster adds: a cross-slot
 * lookup in one call, and a presence notice that travels over SSUBSCRIBE on the right shard.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PresenceChange } from "../../core/ports/presence.js";
import { describeGatewayRegistryContract } from "../contract/gateway-registry.contract.js";
import { describeLeaseStoreContract } from "../contract/lease-store.contract.js";
import { describePresenceContract } from "../contract/presence.contract.js";
import { describeSessionStoreContract } from "../contract/session-store.contract.js";
import { connectRedisCluster, redisClusterNodesFromEnv } from "./client.js";
import { GatewayRegistryRedis } from "./gateway-registry-redis.js";
import { LeaseStoreRedis } from "./lease-store-redis.js";
import { PresenceRedis } from "./presence-redis.js";
import { SessionStoreRedis } from "./session-store-redis.js";
import { ensureService, sleep } from "./test-support.js";

const PREFIX = `chat-test:${randomUUID().slice(0, 8)}:`;
const CLUSTER_PORT = 7200;
let names = 0;

beforeAll(async () => {
  await ensureService("redis-cluster", CLUSTER_PORT);
}, 150_000);

afterAll(async () => {
  const cluster = connectRedisCluster(redisClusterNodesFromEnv());
  for (const node of cluster.nodes("master")) {
    const keys = await node.keys(`${PREFIX}*`);
    for (const key of keys) await cluster.del(key);
  }
  await cluster.quit();
});

function open() {
  return connectRedisCluster(redisClusterNodesFromEnv(), { connection_name: "cluster-test" });
}

describeSessionStoreContract(
  "SessionStoreRedis on a Redis Cluster",
  async () => {
    const redis = open();
    const store = new SessionStoreRedis({ redis, prefix: PREFIX });
    return { store, advance: sleep, cleanup: async () => void (await store.close(), await redis.quit()) };
  },
  { test_timeout_ms: 30_000 },
);

describePresenceContract(
  "PresenceRedis on a Redis Cluster (sharded pub/sub)",
  () => {
    const redis = open();
    const presence = new PresenceRedis({ redis, prefix: PREFIX, sweep_interval_ms: 50, on_error: () => undefined });
    return { presence, advance: sleep, cleanup: async () => void (await presence.close(), await redis.quit()) };
  },
  { ttl_ms: 1_000, settle_ms: 3_000, test_timeout_ms: 20_000 },
);

describeLeaseStoreContract(
  "LeaseStoreRedis on a Redis Cluster",
  (count) => {
    const redis = open();
    return { store: new LeaseStoreRedis({ redis, prefix: PREFIX, pool: `pool-${++names}`, first: 0, count }), advance: sleep, cleanup: async () => void (await redis.quit()) };
  },
  { ttl_ms: 400 },
);

describeGatewayRegistryContract(
  "GatewayRegistryRedis on a Redis Cluster",
  () => {
    const redis = open();
    return { registry: new GatewayRegistryRedis({ redis, prefix: PREFIX, registry: `reg-${++names}` }), advance: sleep, cleanup: async () => void (await redis.quit()) };
  },
  { ttl_ms: 400 },
);

describe("the adapters on a Redis Cluster", () => {
  it("session keys of many users spread over all three masters, and one lookup reads them all", async () => {
    const redis = open();
    const store = new SessionStoreRedis({ redis, prefix: PREFIX });
    try {
      const users = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
      await Promise.all(users.map((user_id) => store.register({ user_id, device_id: "d", gateway_id: "gw-0", connection_id: `c-${user_id}` }, 10_000)));
      const found = await store.lookup(users);
      expect(found.size).toBe(30);
      const holders = new Set<number>();
      for (const node of redis.nodes("master")) if ((await node.keys(`${PREFIX}session:*`)).some((k) => k.includes("spread-"))) holders.add(node.options.port ?? 0);
      expect(holders.size).toBe(3);
    } finally {
      await store.close();
      await redis.quit();
    }
  });

  it("a presence notice reaches a listener on another client over SSUBSCRIBE, for users on every shard", async () => {
    const [a, b] = [open(), open()];
    const pa = new PresenceRedis({ redis: a, prefix: PREFIX, sweep_interval_ms: 50 });
    const pb = new PresenceRedis({ redis: b, prefix: PREFIX, sweep_interval_ms: 50 });
    try {
      const users = Array.from({ length: 12 }, (_, i) => `shard-user-${i}-${randomUUID().slice(0, 4)}`);
      const heard: PresenceChange[] = [];
      await Promise.all(users.map((u) => pb.subscribe(u, (c) => void heard.push(c))));
      await Promise.all(users.map((u) => pa.heartbeat(u, "conn", 300)));
      const deadline = Date.now() + 5_000;
      while (heard.filter((c) => c.status === "offline").length < users.length && Date.now() < deadline) await sleep(20);
      for (const u of users) expect(heard.filter((c) => c.user_id === u).map((c) => c.status)).toEqual(["online", "offline"]);
      const slots_masters = new Set(users.map((u) => pa.keysOf(u).channel.match(/\{(b\d+)\}/)?.[1]));
      expect(slots_masters.size).toBeGreaterThan(3);
    } finally {
      await pa.close();
      await pb.close();
      await a.quit();
      await b.quit();
    }
  }, 20_000);
});

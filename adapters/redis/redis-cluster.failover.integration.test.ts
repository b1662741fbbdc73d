/**
 * kill -9 of a Redis Cluster master under traffic (`deploy/services/redis-cluster.sh
 * kill-master`): two "gateways" keep registering sessions and heartbeating presence for 24
 * users spread over every shard while a third client looks sessions up. A replica takes over
 * (node timeout 2 s); then, within a few heartbeats, what the store says must again be the
 * truth: every live connection is found, every beating user is online, users whose last
 * connection closed after the failover are offline, and every listener's last notice agrees
 * with the status. (Redis replication is asynchronous: writes acknowledged just before the
 * kill may be lost. Sessions and presence are soft state that heartbeats rewrite, which is
 * why the check is convergence, not that nothing was lost.) The killed node is started again
 * afterwards and rejoins as a replica.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PresenceChange } from "../../core/ports/presence.js";
import { connectRedisCluster, redisClusterNodesFromEnv } from "./client.js";
import { PresenceRedis } from "./presence-redis.js";
import { SessionStoreRedis } from "./session-store-redis.js";
import { ensureService, sleep } from "./test-support.js";

const SCRIPT = fileURLToPath(new URL("../../deploy/services/redis-cluster.sh", import.meta.url));
const PREFIX = `chat-failover:${Date.now().toString(36)}:`;

beforeAll(async () => {
  await ensureService("redis-cluster", 7200);
}, 150_000);

afterAll(() => {
  // Whatever happened, leave six nodes running for the next suite (idempotent).
  execFileSync(SCRIPT, ["up"], { encoding: "utf8", timeout: 90_000 });
}, 120_000);

describe("Redis Cluster failover under traffic", () => {
  it("kill -9 of a master: sessions and presence converge to the truth within a few heartbeats", async () => {
    const TTL_MS = 3_000;
    const BEAT_MS = 500;
    const clients = [0, 1, 2].map(() => connectRedisCluster(redisClusterNodesFromEnv(), { on_error: () => undefined }));
    const [ca, cb, cr] = clients as [ReturnType<typeof connectRedisCluster>, ReturnType<typeof connectRedisCluster>, ReturnType<typeof connectRedisCluster>];
    const sessions = [new SessionStoreRedis({ redis: ca, prefix: PREFIX }), new SessionStoreRedis({ redis: cb, prefix: PREFIX })];
    const reader = new SessionStoreRedis({ redis: cr, prefix: PREFIX });
    const errors: unknown[] = [];
    const presence = [ca, cb].map((redis) => new PresenceRedis({ redis, prefix: PREFIX, sweep_interval_ms: 200, on_error: (e) => void errors.push(e) }));
    const [pa, pb] = presence as [PresenceRedis, PresenceRedis];
    const users = Array.from({ length: 24 }, (_, i) => `fo-user-${i}`);
    const heard = new Map<string, PresenceChange[]>();
    for (const u of users) heard.set(u, []);
    await Promise.all(users.map((u) => pb.subscribe(u, (c) => void heard.get(u)!.push(c))));
    // Users 0..15 keep beating throughout; users 16..23 disconnect after the failover.
    const beating = new Set(users);
    let stop = false;
    let ops = 0;
    let failed = 0;
    const traffic = (async () => {
      while (!stop) {
        const round = [...beating].map(async (u, i) => {
          const gateway = i % 2;
          try {
            await sessions[gateway]!.register({ user_id: u, device_id: "d", gateway_id: `gw-${gateway}`, connection_id: `conn-${u}` }, TTL_MS);
            await presence[gateway]!.heartbeat(u, `conn-${u}`, TTL_MS);
            await reader.lookup([u, users[(i + 7) % users.length]!]);
            ops++;
          } catch {
            failed++;
          }
        });
        await Promise.all([...round, sleep(BEAT_MS)]);
      }
    })();
    try {
      await sleep(1_500);
      const ops_before = ops;
      expect(failed).toBe(0);
      const killed = execFileSync(SCRIPT, ["kill-master"], { encoding: "utf8" }).trim();
      expect(killed).toMatch(/^\d+$/);
      // Wait for the replica's promotion: every slot served again.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const info = String(await cr.cluster("INFO").catch(() => ""));
        if (info.includes("cluster_state:ok") && ops > ops_before + 2 * users.length) break;
        if (Date.now() > deadline) throw new Error(`no failover within 20 s (ops ${ops}, failed ${failed})`);
        await sleep(200);
      }
      const failover_ms = 20_000 - (deadline - Date.now());
      // Users 16..23 close their connections now, on the promoted master where theirs live.
      const closing = users.slice(16);
      for (const u of closing) beating.delete(u);
      await sleep(BEAT_MS * 2);
      for (const [i, u] of closing.entries()) {
        await sessions[i % 2]!.unregister(u, `conn-${u}`);
        await presence[i % 2]!.disconnect(u, `conn-${u}`);
      }
      // A few heartbeats (and sweeps) later, everything agrees with the truth.
      await sleep(BEAT_MS * 4);
      const found = await reader.lookup(users);
      for (const u of users.slice(0, 16)) expect(found.get(u)?.map((e) => e.connection_id), u).toEqual([`conn-${u}`]);
      for (const u of closing) expect(found.has(u), u).toBe(false);
      const status = await pa.status(users);
      for (const u of users.slice(0, 16)) expect(status.get(u)?.status, u).toBe("online");
      for (const u of closing) expect(status.get(u)?.status, u).toBe("offline");
      const settle = Date.now() + 5_000;
      const last = (u: string): string | undefined => heard.get(u)!.at(-1)?.status;
      while (users.some((u) => last(u) !== status.get(u)?.status) && Date.now() < settle) await sleep(50);
      for (const u of users) expect(last(u), `last notice heard for ${u}`).toBe(status.get(u)?.status);
      process.stdout.write(`failover: killed master on port ${killed}; cluster ok again after ~${failover_ms} ms; ${ops} rounds ok, ${failed} failed during the failover\n`);
    } finally {
      stop = true;
      await traffic;
      await Promise.all(presence.map((p) => p.close()));
      await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
    }
  }, 90_000);
});

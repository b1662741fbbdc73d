/**
 * GatewayRegistryRedis against a real Redis (127.0.0.1:6379, started by deploy/services.sh if
 * the port is closed): the GatewayRegistry contract on real time; malformed entries skipped;
 * and discovery end to end: a router's GatewayBook learns a new gateway (by host name) and
 * reaches it over real gRPC, then notices it depart, with no restart.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClockSystem } from "../memory/clock-memory.js";
import type { Delivery } from "../../core/model.js";
import { GatewayAnnouncer } from "../../nodes/hosts/gateway-announcer.js";
import { GatewayBook } from "../../nodes/hosts/gateway-book.js";
import { timersReal } from "../../nodes/timers-real.js";
import { describeGatewayRegistryContract } from "../contract/gateway-registry.contract.js";
import { GatewayLinkGrpc } from "../grpc/gateway-link-grpc.js";
import { startGatewayGrpcServer } from "../grpc/gateway-server-grpc.js";
import { connectRedis, redisUrlFromEnv } from "./client.js";
import { GatewayRegistryRedis } from "./gateway-registry-redis.js";
import { REDIS_PORT, ensureService, sleep } from "./test-support.js";

const PREFIX = `chat-test:${randomUUID().slice(0, 8)}:`;
let registries = 0;

beforeAll(async () => {
  await ensureService("redis", REDIS_PORT);
}, 150_000);

afterAll(async () => {
  const redis = connectRedis(redisUrlFromEnv());
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describeGatewayRegistryContract(
  "GatewayRegistryRedis",
  () => {
    const redis = connectRedis(redisUrlFromEnv());
    return { registry: new GatewayRegistryRedis({ redis, prefix: PREFIX, registry: `contract-${++registries}` }), advance: sleep, cleanup: async () => void (await redis.quit()) };
  },
  { ttl_ms: 400 },
);

async function until(check: () => boolean, within_ms: number): Promise<void> {
  const deadline = Date.now() + within_ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${within_ms} ms`);
    await sleep(20);
  }
}

describe("gateway discovery on Redis", () => {
  it("skips a malformed entry (another node wrote it) and reports it", async () => {
    const redis = connectRedis(redisUrlFromEnv());
    const name = `malformed-${++registries}`;
    const malformed: string[] = [];
    const registry = new GatewayRegistryRedis({ redis, prefix: PREFIX, registry: name, on_malformed: (id, problem) => void malformed.push(`${id}: ${problem}`) });
    try {
      await registry.register({ gateway_id: "gw-ok", address: "localhost:7101", region: "eu", load: 1 }, 5_000);
      await redis.zadd(`${PREFIX}gateways:{${name}}:lapse`, Date.now() + 60_000, "gw-bad");
      await redis.hset(`${PREFIX}gateways:{${name}}:entry`, "gw-bad", JSON.stringify({ gateway_id: "gw-bad", address: "nowhere", region: "eu", load: 0 }));
      expect((await registry.live()).map((e) => e.gateway_id)).toEqual(["gw-ok"]);
      // The registry's keys expire with their latest entry (a cluster that is gone leaves nothing).
      expect(await redis.pttl(`${PREFIX}gateways:{${name}}:entry`)).toBeGreaterThan(4_000);
      expect(malformed).toEqual([`gw-bad: "nowhere" is not host:port (a name, an IPv4 address or a [bracketed] IPv6 address, then a port)`]);
    } finally {
      await redis.quit();
    }
  });

  it("a delivery to a gateway that registered after the book's last read waits for one more read, and arrives", async () => {
    const redis = connectRedis(redisUrlFromEnv());
    const clock = new ClockSystem();
    const timers = timersReal(clock);
    const registry = new GatewayRegistryRedis({ redis, prefix: PREFIX, registry: `late-${++registries}` });
    const received: Delivery[][] = [];
    const server = await startGatewayGrpcServer({ host: "127.0.0.1", port: 0, gateway_id: "gw-late", receive: (d) => void received.push(d) });
    // The periodic read is a minute away: only the delivery's own request can find gw-late.
    const book = new GatewayBook(new Map(), registry, { clock, timers }, { refresh_ms: 60_000, refresh_min_ms: 50, call_timeout_ms: 1_000 });
    const eager = new GatewayLinkGrpc((id) => book.resolve(id), { deadline_ms: 2_000 });
    const waiting = new GatewayLinkGrpc((id) => book.resolve(id), { deadline_ms: 2_000, refresh: (id) => book.fresh(id) });
    try {
      await book.start();
      await registry.register({ gateway_id: "gw-late", address: `127.0.0.1:${server.port}`, region: "local", load: 0 }, 30_000);
      const batch: Delivery[] = [{ kind: "typing", connection_id: "c-1", from: "alice", conversation_id: "d.alice.bob", group_id: null }];
      // Without the refresh the book still says nothing of gw-late: the delivery fails (and the
      // message would wait in pending for the device's next resync).
      await expect(eager.deliver("gw-late", batch)).rejects.toThrow(/no address is known/);
      await waiting.deliver("gw-late", batch);
      expect(received).toEqual([batch]);
      // An ID that is still unknown after the read fails, once the read is done.
      await expect(waiting.deliver("gw-never", batch)).rejects.toThrow(/no address is known/);
    } finally {
      book.stop();
      eager.close();
      waiting.close();
      await server.close();
      await redis.quit();
    }
  });

  it("a router's book learns a new gateway by host name and delivers to it over gRPC, then forgets it when it departs or lapses", async () => {
    const redis = connectRedis(redisUrlFromEnv());
    const clock = new ClockSystem();
    const timers = timersReal(clock);
    const registry = new GatewayRegistryRedis({ redis, prefix: PREFIX, registry: `e2e-${++registries}` });
    const received: Delivery[][] = [];
    const server = await startGatewayGrpcServer({ host: "127.0.0.1", port: 0, gateway_id: "gw-new", receive: (d) => void received.push(d) });
    const joined: string[] = [];
    const departed: string[] = [];
    const book = new GatewayBook(new Map([["gw-static", "127.0.0.1:9399"]]), registry, { clock, timers }, { refresh_ms: 200, refresh_min_ms: 50, call_timeout_ms: 1_000 }, {
      joined: (e) => void joined.push(`${e.gateway_id}@${e.address}/${e.region}`),
      departed: (id) => void departed.push(id),
    });
    const link = new GatewayLinkGrpc((id) => book.resolve(id), { deadline_ms: 2_000 });
    const announcer = new GatewayAnnouncer(registry, { clock, timers }, () => ({ gateway_id: "gw-new", address: `localhost:${server.port}`, region: "eu-west", load: 4 }), 1_500);
    // The quiet gateway's process dies later: from then on its registrations never arrive.
    let quiet_alive = true;
    const quiet_registry = { register: (e: Parameters<typeof registry.register>[0], ttl: number) => (quiet_alive ? registry.register(e, ttl) : new Promise<void>(() => undefined)), deregister: async () => undefined, live: () => registry.live() };
    const quiet = new GatewayAnnouncer(quiet_registry, { clock, timers }, () => ({ gateway_id: "gw-quiet", address: "gw-quiet.internal:7101", region: "eu-west", load: 0 }), 1_500);
    try {
      await book.start();
      expect(book.resolve("gw-new")).toBeNull();
      expect(book.resolve("gw-static")).toBe("127.0.0.1:9399");
      await announcer.start();
      await quiet.start();
      // Within one refresh (200 ms), no restart.
      await until(() => book.resolve("gw-new") !== null && book.resolve("gw-quiet") !== null, 2_000);
      expect(joined.sort()).toEqual([`gw-new@localhost:${server.port}/eu-west`, "gw-quiet@gw-quiet.internal:7101/eu-west"]);
      const batch: Delivery[] = [{ kind: "typing", connection_id: "c-1", from: "alice", conversation_id: "d.alice.bob", group_id: null }];
      await link.deliver("gw-new", batch);
      expect(received).toEqual([batch]);
      // Renewed every 500 ms, the entry outlives its 1,500 ms TTL.
      await sleep(2_500);
      expect(book.resolve("gw-new")).not.toBeNull();
      // One stops renewing without a word (a crash), the other deregisters (a drain).
      quiet_alive = false;
      await announcer.stop();
      await until(() => departed.includes("gw-new"), 2_000);
      expect(book.resolve("gw-quiet")).not.toBeNull();
      await until(() => departed.includes("gw-quiet"), 6_000);
      expect(book.resolve("gw-new")).toBeNull();
      await expect(link.deliver("gw-new", batch)).rejects.toThrow(/no address is known/);
      expect(book.entries().map((e) => e.gateway_id)).toEqual(["gw-static"]);
    } finally {
      book.stop();
      await quiet.stop();
      link.close();
      await server.close();
      await redis.quit();
    }
  }, 20_000);
});

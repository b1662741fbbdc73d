/**
 * Sign-outs over Redis pub/sub against a real Redis (127.0.0.1:6379): what an api node
 * publishes reaches every gateway's subscriber, and whatever else lands on the channel is
 * ignored without a throw. Each run uses a channel of its own (the Redis is shared).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis, redisUrlFromEnv } from "./client.js";
import { decodeSignOut, publishSignOut, subscribeSignOuts } from "./sign-outs-redis.js";
import { REDIS_PORT, ensureService, sleep } from "./test-support.js";

const CHANNEL = `chat-test:${randomUUID().slice(0, 8)}:signed-out`;
const redis = connectRedis(redisUrlFromEnv(), { connection_name: "sign-outs-test" });

beforeAll(async () => {
  await ensureService("redis", REDIS_PORT);
}, 150_000);

afterAll(async () => {
  await redis.quit();
});

describe("sign-outs over Redis", () => {
  it("reaches every subscriber, and ignores what is not a sign-out", async () => {
    const heard: [string, string, readonly string[]][] = [];
    const gateways = await Promise.all(["g1", "g2"].map((g) => subscribeSignOuts(redis, (u, d) => heard.push([g, u, d]), undefined, CHANNEL)));
    await redis.publish(CHANNEL, "not json");
    await redis.publish(CHANNEL, JSON.stringify({ u: 1, d: ["x"] }));
    await publishSignOut(redis, "u1", ["d1", "d2"], CHANNEL);
    const deadline = Date.now() + 5_000;
    while (heard.length < 2 && Date.now() < deadline) await sleep(20);
    await sleep(100);
    expect(heard.sort()).toEqual([
      ["g1", "u1", ["d1", "d2"]],
      ["g2", "u1", ["d1", "d2"]],
    ]);
    await Promise.all(gateways.map((g) => g.close()));
  });

  it("decodes only {u: string, d: string[]}", () => {
    expect(decodeSignOut('{"u":"a","d":["b"]}')).toEqual({ user_id: "a", device_ids: ["b"] });
    for (const bad of ["", "null", "[]", '{"u":"a"}', '{"u":"a","d":[1]}', '{"u":"a","d":"b"}', "{".repeat(10)]) expect(decodeSignOut(bad)).toBeNull();
  });
});

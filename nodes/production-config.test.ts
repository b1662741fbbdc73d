/**
 * The production roles' environment: every variable is validated at start, and a bad one
 * is refused with a sentence that names it (the binaries print it and exit 2).
 */
import { describe, expect, it } from "vitest";
import { parseEnv } from "./config.js";
import { BlobStoreLocal } from "../adapters/blob/blob-store-local.js";
import { BlobStoreS3 } from "../adapters/blob/blob-store-s3.js";
import { ClockSystem } from "../adapters/memory/clock-memory.js";
import { advertisedAddress, apiEnv, gatewayEnv, homeRegionDefault, multiRegion, openBlobStore, partitionBase, productionEnv, regionsProblem, routerEnv, routerGroup, sessionPrefix } from "./production.js";
import { roleEnv } from "./role.js";

const SECRET = "s".repeat(32);

describe("production configuration", () => {
  it("fills every default of the shared variables", () => {
    const c = parseEnv(productionEnv, { DATABASE_URL: "postgres://chat:pw@db:5432/chat" });
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.value.KAFKA_BROKERS).toBe("127.0.0.1:9092");
    expect(c.value.LOG_TOPIC).toBe("chat-log");
    expect(c.value.CASSANDRA_CONSISTENCY).toBe("LOCAL_QUORUM");
    expect(c.value.CASSANDRA_SERIAL_CONSISTENCY).toBe("SERIAL");
    expect(c.value.GATEWAYS.size).toBe(0);
  });

  it("has no default DATABASE_URL, so no node starts on a development password by omission (issue 14 finding 8)", () => {
    const c = parseEnv(productionEnv, {});
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.message).toContain("DATABASE_URL:");
    expect(c.message).toContain("is required");
    const bad = parseEnv(productionEnv, { DATABASE_URL: "mysql://x" });
    expect(!bad.ok && bad.message).toContain("postgres:// URL");
  });

  it("parses the gateway map", () => {
    const c = parseEnv(productionEnv, { DATABASE_URL: "postgres://chat:pw@db:5432/chat", GATEWAYS: "gw-0=127.0.0.1:7101, gw-1=127.0.0.1:7102" });
    expect(c.ok && [...c.value.GATEWAYS]).toEqual([
      ["gw-0", "127.0.0.1:7101"],
      ["gw-1", "127.0.0.1:7102"],
    ]);
  });

  it.each([
    [{ GATEWAYS: "gw-0:7101" }, "GATEWAYS", "gateway_id=host:port"],
    [{ LOG_PARTITIONS: "0" }, "LOG_PARTITIONS", ">="],
    [{ LOG_TOPIC: "chat log" }, "LOG_TOPIC", ""],
    [{ CASSANDRA_KEYSPACE: "Chat" }, "CASSANDRA_KEYSPACE", "lower-case CQL identifier"],
    [{ CASSANDRA_CONSISTENCY: "TWO_AND_A_HALF" }, "CASSANDRA_CONSISTENCY", "LOCAL_QUORUM"],
    [{ CASSANDRA_SERIAL_CONSISTENCY: "QUORUM" }, "CASSANDRA_SERIAL_CONSISTENCY", "SERIAL"],
  ])("refuses %j, naming %s", (env, name, hint) => {
    const c = parseEnv(productionEnv, { DATABASE_URL: "postgres://chat:pw@db:5432/chat", ...env });
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.message).toContain(`${name}:`);
    expect(c.message).toContain(hint);
  });

  it("needs a shared SECRET of at least 32 characters on every role", () => {
    const c = parseEnv(roleEnv, { SECRET: "short" });
    expect(!c.ok && c.message).toContain("SECRET: must be at least 32 characters");
    expect(parseEnv(roleEnv, { SECRET }).ok).toBe(true);
  });

  it("needs a gateway ID and a gRPC port on a gateway", () => {
    const missing = parseEnv(gatewayEnv, {});
    expect(!missing.ok && missing.message).toMatch(/GATEWAY_ID: .*GRPC_PORT: /);
    const bad = parseEnv(gatewayEnv, { GATEWAY_ID: "gw 1", GRPC_PORT: "70000" });
    expect(!bad.ok && bad.message).toMatch(/GATEWAY_ID: must be letters, digits, _ or -.*GRPC_PORT: /);
    expect(parseEnv(gatewayEnv, { GATEWAY_ID: "gw-1", GRPC_PORT: "7102" }).ok).toBe(true);
  });

  it("gives routers a consumer group of their topic's own unless ROUTER_GROUP says", () => {
    const c = parseEnv(productionEnv, { DATABASE_URL: "postgres://chat:pw@db:5432/chat", LOG_TOPIC: "chat-log-e2e-1" });
    const own = parseEnv(routerEnv, { ROUTER_ID: "router-0" });
    if (!c.ok || !own.ok) throw new Error("valid configuration refused");
    expect(routerGroup(own.value, c.value)).toBe("routers.chat-log-e2e-1");
    const named = parseEnv(routerEnv, { ROUTER_ID: "router-0", ROUTER_GROUP: "blue" });
    expect(named.ok && routerGroup(named.value, c.value)).toBe("blue");
    expect(parseEnv(routerEnv, { ROUTER_ID: "router-0", ROUTER_WORKERS: "0" }).ok).toBe(false);
  });

  it("refuses an api PUBLIC_URL that is not a URL", () => {
    const c = parseEnv(apiEnv, { PUBLIC_URL: "chat.example" });
    expect(!c.ok && c.message).toContain("PUBLIC_URL:");
  });

  it("puts media on S3 when S3_BUCKET is set, with its credentials required, for the api and the gateways alike", () => {
    for (const schema of [apiEnv, gatewayEnv]) {
      const base = schema === gatewayEnv ? { GATEWAY_ID: "gw-1", GRPC_PORT: "7102" } : {};
      const half = parseEnv(schema, { ...base, S3_BUCKET: "chat-media" });
      expect(!half.ok && half.message).toMatch(/S3_ACCESS_KEY_ID: is required with S3_BUCKET.*S3_SECRET_ACCESS_KEY/);
      expect(parseEnv(schema, { ...base, S3_BUCKET: "Chat_Media", S3_ACCESS_KEY_ID: "a", S3_SECRET_ACCESS_KEY: "b" }).ok).toBe(false);
      expect(parseEnv(schema, { ...base, S3_PREFIX: "media" }).ok).toBe(false);
    }
    const ok = parseEnv(apiEnv, { S3_BUCKET: "chat-media", S3_ACCESS_KEY_ID: "a", S3_SECRET_ACCESS_KEY: "b", S3_ENDPOINT: "http://127.0.0.1:9100", S3_FORCE_PATH_STYLE: "1" });
    if (!ok.ok) throw new Error(ok.message);
    const blobs = openBlobStore(ok.value, SECRET, new ClockSystem());
    expect(blobs).toBeInstanceOf(BlobStoreS3);
    (blobs as BlobStoreS3).close();
    const local = parseEnv(apiEnv, {});
    expect(local.ok && openBlobStore(local.value, SECRET, new ClockSystem())).toBeInstanceOf(BlobStoreLocal);
  });
});

describe("machine lease configuration (router)", () => {
  it("fills the defaults: a 10 s TTL renewed every 3 s with a 1 s margin, numbers 0..1023", () => {
    const c = parseEnv(routerEnv, { ROUTER_ID: "r1" });
    expect(c.ok && [c.value.MACHINE_LEASE_TTL_MS, c.value.MACHINE_LEASE_RENEW_MS, c.value.MACHINE_LEASE_MARGIN_MS, c.value.MACHINE_FIRST, c.value.MACHINE_COUNT, c.value.MACHINE_LEASE_POOL]).toEqual([10_000, 3_000, 1_000, 0, 1024, "machines"]);
  });

  it.each([
    [{ MACHINE_FIRST: "1000", MACHINE_COUNT: "30" }, "MACHINE_COUNT", "must be at most 1024"],
    [{ MACHINE_LEASE_RENEW_MS: "9500" }, "MACHINE_LEASE_RENEW_MS", "must be below MACHINE_LEASE_TTL_MS"],
    [{ MACHINE_LEASE_MARGIN_MS: "10" }, "MACHINE_LEASE_MARGIN_MS", "must be at least 200 ms"],
    [{ MACHINE_LEASE_TTL_MS: "500" }, "MACHINE_LEASE_TTL_MS", ">="],
    [{ MACHINE_LEASE_POOL: "a{b}" }, "MACHINE_LEASE_POOL", "letters, digits"],
    [{ MACHINE_LEASE_PREFIX: "x{" }, "MACHINE_LEASE_PREFIX", "no braces"],
  ])("refuses %j, naming %s", (env, name, words) => {
    const c = parseEnv(routerEnv, { ROUTER_ID: "r1", ...env });
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.message).toContain(`${name}:`);
    expect(c.message).toContain(words);
  });
});

describe("gateway discovery configuration", () => {
  // DATABASE_URL is required (issue 14), so every case here carries one.
  const DB = { DATABASE_URL: "postgres://chat:pw@db:5432/chat" };
  it("accepts host names and bracketed IPv6 in GATEWAYS, discovery on by default with a registry per topic", () => {
    const c = parseEnv(productionEnv, { ...DB, GATEWAYS: "gw-0=gw-0.chat.internal:7101,gw-1=[fd00::1]:7101", LOG_TOPIC: "t1" });
    expect(c.ok && [...c.value.GATEWAYS]).toEqual([
      ["gw-0", "gw-0.chat.internal:7101"],
      ["gw-1", "[fd00::1]:7101"],
    ]);
    expect(c.ok && [c.value.GATEWAY_DISCOVERY, c.value.GATEWAY_REGISTRY, c.value.GATEWAY_REGISTRY_TTL_MS, c.value.REGION]).toEqual(["redis", undefined, 10_000, "local"]);
  });

  it.each([
    [{ GATEWAYS: "gw-0=host:99999" }, "GATEWAYS", "port 99999"],
    [{ GATEWAYS: "gw-0=-bad-:1" }, "GATEWAYS", "not host:port"],
    [{ GATEWAY_DISCOVERY: "consul" }, "GATEWAY_DISCOVERY", "redis"],
    [{ GATEWAY_REGISTRY_TTL_MS: "10" }, "GATEWAY_REGISTRY_TTL_MS", ">="],
    [{ REGION: "eu west" }, "REGION", "letters, digits"],
    [{ REDIS_CLUSTER_NODES: "127.0.0.1:7200,127.0.0.1" }, "REDIS_CLUSTER_NODES", "not host:port"],
  ])("refuses %j, naming %s", (env, name, words) => {
    const c = parseEnv(productionEnv, { ...DB, ...env });
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.message).toContain(`${name}:`);
    expect(c.message).toContain(words);
  });

  it("takes REDIS_CLUSTER_NODES as a list of host:port (unset: REDIS_URL alone)", () => {
    const c = parseEnv(productionEnv, { ...DB, REDIS_CLUSTER_NODES: "127.0.0.1:7200, redis-2.internal:7201" });
    expect(c.ok && c.value.REDIS_CLUSTER_NODES).toEqual(["127.0.0.1:7200", "redis-2.internal:7201"]);
    const none = parseEnv(productionEnv, DB);
    expect(none.ok).toBe(true);
    expect(none.ok && none.value.REDIS_CLUSTER_NODES).toBeUndefined();
  });

  it("a gateway advertises GATEWAY_ADVERTISE, else HOST:GRPC_PORT; a wildcard HOST needs GATEWAY_ADVERTISE", () => {
    expect(advertisedAddress("127.0.0.1", { GRPC_PORT: 7101 })).toEqual({ ok: true, address: "127.0.0.1:7101" });
    expect(advertisedAddress("::1", { GRPC_PORT: 7101 })).toEqual({ ok: true, address: "[::1]:7101" });
    expect(advertisedAddress("0.0.0.0", { GRPC_PORT: 7101, GATEWAY_ADVERTISE: "gw-3.internal:7101" })).toEqual({ ok: true, address: "gw-3.internal:7101" });
    const wildcard = advertisedAddress("0.0.0.0", { GRPC_PORT: 7101 });
    expect(!wildcard.ok && wildcard.message).toContain("GATEWAY_ADVERTISE: is required when HOST is 0.0.0.0");
    const bad = parseEnv(gatewayEnv, { GATEWAY_ID: "gw-0", GRPC_PORT: "7101", GATEWAY_ADVERTISE: "gw 3:1" });
    expect(!bad.ok && bad.message).toContain("GATEWAY_ADVERTISE:");
  });
});

describe("region configuration (issue 12)", () => {
  const DB = { DATABASE_URL: "postgres://chat:pw@db:5432/chat" };
  const parse = (env: Record<string, string>) => parseEnv(productionEnv, { ...DB, ...env });

  it("takes REGIONS as region=host:port and accepts one region naming REGION", () => {
    const c = parse({ REGION: "eu", REGIONS: "eu=relay-eu.internal:7301", HOME_REGION_DEFAULT: "eu" });
    expect(c.ok && [...c.value.REGIONS]).toEqual([["eu", "relay-eu.internal:7301"]]);
    expect(c.ok && regionsProblem(c.value)).toBeNull();
    const none = parse({});
    expect(none.ok && none.value.REGIONS.size === 0 && regionsProblem(none.value)).toBeNull();
  });

  it("runs two regions once each has a topic, and numbers their partitions one after the other", () => {
    const env = { REGIONS: "eu=relay-eu:7301,us=relay-us:7301", REGION_LOG_TOPICS: "eu=log-eu,us=log-us", LOG_PARTITIONS: "16" };
    const eu = parse({ ...env, REGION: "eu", LOG_TOPIC: "log-eu", HOME_REGION_DEFAULT: "us" });
    const us = parse({ ...env, REGION: "us", LOG_TOPIC: "log-us" });
    expect(eu.ok && regionsProblem(eu.value)).toBeNull();
    expect(us.ok && regionsProblem(us.value)).toBeNull();
    if (!eu.ok || !us.ok) return;
    expect([multiRegion(eu.value), partitionBase(eu.value, "eu"), partitionBase(eu.value, "us")]).toEqual([true, 0, 16]);
    expect([homeRegionDefault(eu.value), homeRegionDefault(us.value)]).toEqual(["us", "us"]);
    // Two regions share one Redis here: each keeps its sessions under its own prefix.
    expect([sessionPrefix(eu.value), sessionPrefix(us.value)]).toEqual(["chat:eu:", "chat:us:"]);
    const one = parse({});
    expect(one.ok && [multiRegion(one.value), sessionPrefix(one.value), partitionBase(one.value, "local")]).toEqual([false, "chat:", 0]);
  });

  it.each([
    [{ REGIONS: "eu" }, "REGIONS", "missing '='"],
    [{ REGIONS: "eu west=h:1" }, "REGIONS", "must be 1-64 letters"],
    [{ REGIONS: "eu=h:99999" }, "REGIONS", "port 99999"],
    [{ REGIONS: "eu=h:1,eu=g:2" }, "REGIONS", "named twice"],
    [{ HOME_REGION_DEFAULT: "eu west" }, "HOME_REGION_DEFAULT", "letters, digits"],
    [{ REGION_LOG_TOPICS: "eu" }, "REGION_LOG_TOPICS", "is not region=topic"],
    [{ REGION_LOG_TOPICS: "eu=a topic" }, "REGION_LOG_TOPICS", "is not region=topic"],
    [{ DATABASE_SCHEMA: "Chat-1" }, "DATABASE_SCHEMA", "lower-case SQL identifier"],
  ])("refuses %j, naming %s", (env, name, words) => {
    const c = parse(env);
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.message).toContain(`${name}:`);
    expect(c.message).toContain(words);
  });

  it.each([
    [{ REGION: "us", REGIONS: "eu=h:1" }, "does not name this node's REGION, us"],
    [{ REGION: "eu", REGIONS: "eu=h:1", HOME_REGION_DEFAULT: "ap" }, "HOME_REGION_DEFAULT: ap is not one of REGIONS"],
    [{ REGION: "eu", HOME_REGION_DEFAULT: "ap" }, "HOME_REGION_DEFAULT: ap is not this deployment's only region"],
    [{ REGION: "eu", REGIONS: "eu=h:1,us=h:2" }, "REGION_LOG_TOPICS: region eu has no log topic"],
    [{ REGION: "eu", REGIONS: "eu=h:1,us=h:2", LOG_TOPIC: "log-eu", REGION_LOG_TOPICS: "eu=log-eu" }, "region us has no log topic"],
    [{ REGION: "eu", REGIONS: "eu=h:1,us=h:2", LOG_TOPIC: "log-eu", REGION_LOG_TOPICS: "eu=log-eu,us=log-us,ap=log-ap" }, "region ap is not one of REGIONS"],
    [{ REGION: "eu", REGIONS: "eu=h:1,us=h:2", LOG_TOPIC: "chat-log", REGION_LOG_TOPICS: "eu=log-eu,us=log-us" }, "but LOG_TOPIC is chat-log"],
    [{ REGION: "eu", REGIONS: "eu=h:1,us=h:2", LOG_TOPIC: "log", REGION_LOG_TOPICS: "eu=log,us=log" }, "two regions share a topic"],
    [{ REGION: "eu", REGIONS: "eu=h:1,us=h:2", LOG_TOPIC: "a", REGION_LOG_TOPICS: "eu=a,us=b", LOG_PARTITIONS: "600" }, "exceed the 1,024 partition numbers"],
    [{ REGION: "eu", REGION_LOG_TOPICS: "eu=a" }, "REGION_LOG_TOPICS: set without REGIONS"],
  ])("regionsProblem refuses %j with a sentence", (env, words) => {
    const c = parse(env);
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(regionsProblem(c.value)).toContain(words);
  });
});

/**
 * The production ports, from the environment: Kafka (or Redpanda) for the log, Cassandra (or
 * ScyllaDB) for messages and pending entries, Redis for sessions and presence, PostgreSQL
 * for the directory, gRPC between routers and gateways. Shared by the gateway, router, api
 * and migrate binaries; each takes only what it needs.
 */
import { resolve } from "node:path";
import { z } from "zod";
import type { BlobStore, ResumableUploads } from "../core/ports/blob-store.js";
import { BlobStoreLocal } from "../adapters/blob/blob-store-local.js";
import { BlobStoreS3 } from "../adapters/blob/blob-store-s3.js";
import type { Clock } from "../core/ports/clock.js";
import { LogKafka, type KafkaLogSink } from "../adapters/kafka/index.js";
import { cassandraClient, MessageStoreCassandra, PendingStoreCassandra, migrateCassandra } from "../adapters/cassandra/index.js";
import { StatementCounter } from "../adapters/cassandra/statement-counter.js";
import { connectRedis, connectRedisCluster, GatewayRegistryRedis, type RedisClient, LeaseStoreRedis, PresenceRedis, SessionStoreRedis } from "../adapters/redis/index.js";
import { gatewayAddressProblem } from "../core/ports/gateway-registry.js";
import { GatewayBook, type GatewayBookEvents } from "./hosts/gateway-book.js";
import type { Timers } from "./hosts/timers.js";
import { consistencyCode } from "../adapters/cassandra/cql.js";
import { CqlWriteBatcher, WRITE_BATCH_PENDING_MAX_DEFAULT, WRITE_BATCH_STATEMENTS_MAX_DEFAULT } from "../adapters/cassandra/write-batcher.js";
import { connectPostgres, DirectoryPostgres, migratePostgres } from "../adapters/postgres/index.js";
import { GatewayLinkGrpc } from "../adapters/grpc/gateway-link-grpc.js";
import type { Log } from "../core/ports/log.js";
import { HomeRegions, PartitionShiftedLog, RegionalLog } from "./regions.js";
import { connectionsPerAddressEnv, parseEnv } from "./config.js";
import { wsCompressionEnv, wsCompressionRules } from "./http/compression.js";
import { deriveKey } from "./keys.js";
import { pushEnv, pushEnvRules } from "./push.js";
import { leaseMarginMin } from "../core/lease/index.js";
import { regionName as fieldRegionName } from "../core/protocol/fields.js";

const regionName = fieldRegionName;

export const productionEnv = z.object({
  KAFKA_BROKERS: z.string().min(1).default("127.0.0.1:9092"),
  LOG_TOPIC: z.string().regex(/^[A-Za-z0-9._-]+$/).default("chat-log"),
  /** kafkajs fetch knobs (see LogKafkaOptions): the broker's long-poll wait, and the bytes that end it early. */
  KAFKA_FETCH_WAIT_MS: z.coerce.number().int().min(1).max(10_000).default(500),
  KAFKA_FETCH_MIN_BYTES: z.coerce.number().int().min(1).max(1_048_576).default(1),
  LOG_PARTITIONS: z.coerce.number().int().min(1).max(1024).default(16),
  CASSANDRA_CONTACT_POINTS: z.string().min(1).default("127.0.0.1:9042"),
  CASSANDRA_LOCAL_DC: z.string().min(1).default("datacenter1"),
  CASSANDRA_KEYSPACE: z.string().regex(/^[a-z][a-z0-9_]{0,47}$/, "must be a lower-case CQL identifier").default("chat"),
  /** Consistency of ordinary reads and writes, and of the Paxos phase of the dedup claims. */
  CASSANDRA_CONSISTENCY: z.enum(["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"]).default("LOCAL_QUORUM"),
  CASSANDRA_SERIAL_CONSISTENCY: z.enum(["SERIAL", "LOCAL_SERIAL"]).default("SERIAL"),
  /**
   * Plain writes issued in the same event-loop turn leave as one unlogged batch of at most this
   * many statements (adapters/cassandra/write-batcher.ts); 1 sends each on its own.
   */
  CASSANDRA_WRITE_BATCH_STATEMENTS: z.coerce.number().int().min(1).max(100).default(WRITE_BATCH_STATEMENTS_MAX_DEFAULT),
  REDIS_URL: z.string().min(1).default("redis://127.0.0.1:6379"),
  /**
   * A Redis Cluster instead of REDIS_URL: `host:port` of some of its nodes, comma-separated (the
   * rest are discovered). Sessions, presence (sharded pub/sub), leases and the gateway registry.
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s.trim() === "") return undefined;
      const nodes = s.split(",").map((x) => x.trim()).filter((x) => x !== "");
      for (const node of nodes) {
        const problem = gatewayAddressProblem(node);
        if (problem !== null) {
          ctx.addIssue({ code: "custom", message: problem });
          return z.NEVER;
        }
      }
      return nodes;
    }),
  /**
   * No default: the only sensible one carries a password (the development `chat:chat`), and a
   * production node must never start on it because a variable was forgotten.
   * `deploy/services.sh env` prints the local one.
   */
  DATABASE_URL: z
    .string({ error: "is required: postgres://USER:PASSWORD@HOST:PORT/DB (for the local services: eval \"$(deploy/services.sh env)\")" })
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  /**
   * The PostgreSQL schema the directory (and the regions' outboxes) live in; default the
   * server's search_path. Lets two clusters share one server (deploy/cluster.sh sets it for a
   * named multi-region cluster); `migrate` creates it.
   */
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier").optional(),
  /**
   * The static address book: `gw-0=127.0.0.1:7101,gw-1=gw-1.internal:7101`. Optional beside
   * discovery (a static entry wins for its ID); the only book when GATEWAY_DISCOVERY=off.
   */
  GATEWAYS: z
    .string()
    .default("")
    .transform((s, ctx) => {
      const map = new Map<string, string>();
      for (const part of s.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
        const m = /^([A-Za-z0-9_-]+)=(.+)$/.exec(part);
        const problem = m === null ? "missing '='" : gatewayAddressProblem(m[2]!);
        if (m === null || problem !== null) {
          ctx.addIssue({ code: "custom", message: `"${part}" is not gateway_id=host:port (${problem})` });
          return z.NEVER;
        }
        map.set(m[1]!, m[2]!);
      }
      return map;
    }),
  /** `redis`: gateways register themselves in Redis and routers read the registry; `off`: GATEWAYS only. */
  GATEWAY_DISCOVERY: z.enum(["redis", "off"]).default("redis"),
  /** The registry's name (its Redis hash tag); default `gateways.<LOG_TOPIC>`, so clusters sharing a Redis stay apart. */
  GATEWAY_REGISTRY: z.string().regex(/^[A-Za-z0-9._-]+$/, "must be letters, digits, '.', '_' or '-'").max(200).optional(),
  /** A gateway's entry lapses this long after its last registration (it registers every third of it). */
  GATEWAY_REGISTRY_TTL_MS: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /** Routers read the registry this often (and at once, at most every 250 ms, when asked for an unknown gateway). */
  GATEWAY_DISCOVERY_REFRESH_MS: z.coerce.number().int().min(100).max(600_000).default(2_000),
  /** The node's region (docs/OPERATIONS.md, "Regions"); also registered with each gateway. */
  REGION: regionName.default("local"),
  /**
   * Every region of the deployment and its relay's address, `name=host:port,...`; empty: one
   * region (REGION). Checked by regionsProblem(): it must name REGION, and more than one
   * region is refused at start until cross-region routing is wired in the nodes.
   */
  REGIONS: z
    .string()
    .default("")
    .transform((s, ctx) => {
      const map = new Map<string, string>();
      for (const part of s.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
        const m = /^([^=]+)=(.+)$/.exec(part);
        const name = m === null ? null : regionName.safeParse(m[1]);
        const problem = m === null ? "missing '='" : !name!.success ? `region ${JSON.stringify(m[1])} must be 1-64 letters, digits, _ or -` : gatewayAddressProblem(m[2]!);
        if (m === null || problem !== null) {
          ctx.addIssue({ code: "custom", message: `"${part}" is not region=host:port (${problem})` });
          return z.NEVER;
        }
        if (map.has(m[1]!)) {
          ctx.addIssue({ code: "custom", message: `region ${m[1]} is named twice` });
          return z.NEVER;
        }
        map.set(m[1]!, m[2]!);
      }
      return map;
    }),
  /** The home region of a user the directory has none for (users created before regions); default REGION. */
  HOME_REGION_DEFAULT: regionName.optional(),
  /**
   * With more than one region: each region's log topic, `name=topic,...`, naming every region
   * of REGIONS, this node's as LOG_TOPIC. Gateways append a send to its conversation's ordering
   * region's topic (docs/OPERATIONS.md, "Regions").
   */
  REGION_LOG_TOPICS: z
    .string()
    .default("")
    .transform((s, ctx) => {
      const map = new Map<string, string>();
      for (const part of s.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
        const m = /^([A-Za-z0-9_-]{1,64})=([A-Za-z0-9._-]{1,249})$/.exec(part);
        if (m === null) {
          ctx.addIssue({ code: "custom", message: `"${part}" is not region=topic (a region is letters, digits, _ or -; a topic letters, digits, '.', '_' or '-')` });
          return z.NEVER;
        }
        map.set(m[1]!, m[2]!);
      }
      return map;
    }),
});
export type ProductionConfig = z.infer<typeof productionEnv>;

/**
 * What is wrong with the region settings as a whole, in a sentence, or null. Run at start
 * (productionConfig): REGIONS must name this node's REGION and HOME_REGION_DEFAULT; with more
 * than one region, REGION_LOG_TOPICS must give every region a topic of its own, this node's
 * being LOG_TOPIC (a region whose topic were unknown could not be forwarded to).
 */
export function regionsProblem(c: Pick<ProductionConfig, "REGION" | "REGIONS" | "HOME_REGION_DEFAULT" | "REGION_LOG_TOPICS" | "LOG_TOPIC" | "LOG_PARTITIONS">): string | null {
  if (c.REGIONS.size === 0) {
    if (c.HOME_REGION_DEFAULT !== undefined && c.HOME_REGION_DEFAULT !== c.REGION) return `HOME_REGION_DEFAULT: ${c.HOME_REGION_DEFAULT} is not this deployment's only region, ${c.REGION}.`;
    if (c.REGION_LOG_TOPICS.size > 0) return "REGION_LOG_TOPICS: set without REGIONS; name every region and its relay in REGIONS.";
    return null;
  }
  if (!c.REGIONS.has(c.REGION)) return `REGIONS: it does not name this node's REGION, ${c.REGION}.`;
  if (c.HOME_REGION_DEFAULT !== undefined && !c.REGIONS.has(c.HOME_REGION_DEFAULT)) return `HOME_REGION_DEFAULT: ${c.HOME_REGION_DEFAULT} is not one of REGIONS (${[...c.REGIONS.keys()].join(", ")}).`;
  if (c.REGIONS.size === 1) return null;
  if (c.REGIONS.size * c.LOG_PARTITIONS > 1024) return `REGIONS: ${c.REGIONS.size} regions of LOG_PARTITIONS ${c.LOG_PARTITIONS} partitions exceed the 1,024 partition numbers (the 10 machine bits of a message ID).`;
  for (const name of c.REGIONS.keys()) if (!c.REGION_LOG_TOPICS.has(name)) return `REGION_LOG_TOPICS: region ${name} has no log topic (with ${c.REGIONS.size} regions every one needs one).`;
  for (const name of c.REGION_LOG_TOPICS.keys()) if (!c.REGIONS.has(name)) return `REGION_LOG_TOPICS: region ${name} is not one of REGIONS (${[...c.REGIONS.keys()].join(", ")}).`;
  if (c.REGION_LOG_TOPICS.get(c.REGION) !== c.LOG_TOPIC) return `REGION_LOG_TOPICS: this node's region ${c.REGION} has topic ${c.REGION_LOG_TOPICS.get(c.REGION)}, but LOG_TOPIC is ${c.LOG_TOPIC}.`;
  if (new Set(c.REGION_LOG_TOPICS.values()).size !== c.REGION_LOG_TOPICS.size) return "REGION_LOG_TOPICS: two regions share a topic; each region orders its conversations in a log of its own.";
  return null;
}

/** More than one region: the nodes forward sends, split pending entries and run a relay. */
export function multiRegion(c: Pick<ProductionConfig, "REGIONS">): boolean {
  return c.REGIONS.size > 1;
}

/** The home region of users the directory records none for. */
export function homeRegionDefault(c: Pick<ProductionConfig, "REGION" | "HOME_REGION_DEFAULT">): string {
  return c.HOME_REGION_DEFAULT ?? c.REGION;
}

/**
 * Where region `name`'s partitions are numbered from: its place in REGIONS times
 * LOG_PARTITIONS (every region has the same count), as the simulator's logs are, so no two
 * regions share a partition number, the machine bits of a message-ID chain.
 */
export function partitionBase(c: Pick<ProductionConfig, "REGIONS" | "LOG_PARTITIONS">, name: string): number {
  const index = [...c.REGIONS.keys()].indexOf(name);
  return Math.max(0, index) * c.LOG_PARTITIONS;
}

/** Session keys of a region's Redis: with several regions sharing one Redis, each its own. */
export function sessionPrefix(c: Pick<ProductionConfig, "REGIONS" | "REGION">): string {
  return multiRegion(c) ? `chat:${c.REGION}:` : "chat:";
}

const nodeId = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, _ or -").max(64);

/**
 * Where media live, for the api (uploads, downloads) and the gateways (which check that an
 * image or file message names an upload of its sender): the same folder for all of them.
 */
export const mediaEnv = z
  .object({
    MEDIA_DIR: z.string().min(1).default("./data/media"),
    /** S3-compatible storage instead of MEDIA_DIR: set S3_BUCKET (and the rest as needed). */
    S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name").optional(),
    S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    S3_REGION: z.string().min(1).default("us-east-1"),
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    S3_FORCE_PATH_STYLE: z.enum(["0", "1", "true", "false"]).transform((v) => v === "1" || v === "true").default(false),
    S3_PREFIX: z.string().regex(/^([A-Za-z0-9_.-]+\/)*$/, "must be empty or end in '/'").default(""),
  })
  .superRefine((env, ctx) => {
    if (env.S3_BUCKET === undefined) return;
    for (const name of ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const) {
      if (env[name] === undefined) ctx.addIssue({ code: "custom", path: [name], message: "is required with S3_BUCKET" });
    }
  });

/** The gateway's own variables (besides roleEnv and productionEnv). */
export const gatewayEnv = z
  .object({
    GATEWAY_ID: nodeId,
    GRPC_PORT: z.coerce.number().int().min(1).max(65_535),
    /** The `host:port` routers reach this gateway's gRPC at (registered for discovery); default HOST:GRPC_PORT. */
    GATEWAY_ADVERTISE: z
      .string()
      .optional()
      .superRefine((v, ctx) => {
        const problem = v === undefined ? null : gatewayAddressProblem(v);
        if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
      }),
    ...connectionsPerAddressEnv,
    ...wsCompressionEnv,
  })
  .superRefine(wsCompressionRules)
  .and(mediaEnv);

/**
 * Where this gateway tells routers to reach it: GATEWAY_ADVERTISE, else HOST:GRPC_PORT. A
 * wildcard HOST (0.0.0.0, ::) is nowhere to reach, so it needs GATEWAY_ADVERTISE.
 */
export function advertisedAddress(host: string, own: { GATEWAY_ADVERTISE?: string | undefined; GRPC_PORT: number }): { ok: true; address: string } | { ok: false; message: string } {
  if (own.GATEWAY_ADVERTISE !== undefined) return { ok: true, address: own.GATEWAY_ADVERTISE };
  if (host === "0.0.0.0" || host === "::" || host === "[::]") return { ok: false, message: `Invalid configuration: GATEWAY_ADVERTISE: is required when HOST is ${host} (routers cannot reach a wildcard address).` };
  const address = host.includes(":") ? `[${host}]:${own.GRPC_PORT}` : `${host}:${own.GRPC_PORT}`;
  const problem = gatewayAddressProblem(address);
  return problem === null ? { ok: true, address } : { ok: false, message: `Invalid configuration: HOST: ${problem}; set GATEWAY_ADVERTISE.` };
}

/**
 * The blob store of the api and gateway nodes: S3 when S3_BUCKET is set (pre-signed URLs
 * point at the storage), else the MEDIA_DIR folder (signed URLs relative to the api, which
 * makes them absolute), signed with the key derived for media URLs alone (nodes/keys.ts).
 */
export function openBlobStore(own: z.infer<typeof mediaEnv>, secret: string, clock: Clock): BlobStore & ResumableUploads {
  if (own.S3_BUCKET !== undefined && own.S3_ACCESS_KEY_ID !== undefined && own.S3_SECRET_ACCESS_KEY !== undefined) {
    return new BlobStoreS3({
      bucket: own.S3_BUCKET,
      region: own.S3_REGION,
      ...(own.S3_ENDPOINT === undefined ? {} : { endpoint: own.S3_ENDPOINT }),
      access_key_id: own.S3_ACCESS_KEY_ID,
      secret_access_key: own.S3_SECRET_ACCESS_KEY,
      force_path_style: own.S3_FORCE_PATH_STYLE,
      prefix: own.S3_PREFIX,
      clock,
    });
  }
  return new BlobStoreLocal(resolve(own.MEDIA_DIR), "", deriveKey(secret, "media-urls"));
}

/**
 * Snowflake machine numbers, leased in Redis (core/lease, adapters/redis/lease-store-redis.ts):
 * every ID issuer of a cluster shares one pool of numbers; no ID is issued without a live lease.
 */
export const machineLeaseEnv = {
  /** The lease's TTL in Redis: a crashed issuer's number is free again this long after its last renewal. */
  MACHINE_LEASE_TTL_MS: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /** Renew this often (well under the TTL: renewal may fail a few times before the lease lapses). */
  MACHINE_LEASE_RENEW_MS: z.coerce.number().int().min(100).max(300_000).default(3_000),
  /** Taken off the TTL on the issuer's side, for clocks that run at different rates (and the store's 1 ms). */
  MACHINE_LEASE_MARGIN_MS: z.coerce.number().int().min(1).max(300_000).default(1_000),
  /** The pool's numbers: [MACHINE_FIRST, MACHINE_FIRST + MACHINE_COUNT) within 0..1023. */
  MACHINE_FIRST: z.coerce.number().int().min(0).max(1023).default(0),
  MACHINE_COUNT: z.coerce.number().int().min(1).max(1024).default(1024),
  /** The pool's name (its Redis hash tag): one per cluster. */
  MACHINE_LEASE_POOL: z.string().regex(/^[A-Za-z0-9._-]+$/, "must be letters, digits, '.', '_' or '-'").max(100).default("machines"),
  /** Prefix of the lease keys in Redis (`<prefix>lease:{<pool>}:<n>`). */
  MACHINE_LEASE_PREFIX: z.string().regex(/^[A-Za-z0-9:._-]*$/, "must be letters, digits, ':', '.', '_' or '-' (no braces)").max(100).default("chat:"),
};

export function machineLeaseRules(env: { MACHINE_LEASE_TTL_MS: number; MACHINE_LEASE_RENEW_MS: number; MACHINE_LEASE_MARGIN_MS: number; MACHINE_FIRST: number; MACHINE_COUNT: number }, ctx: z.RefinementCtx): void {
  if (env.MACHINE_FIRST + env.MACHINE_COUNT > 1024) {
    ctx.addIssue({ code: "custom", path: ["MACHINE_COUNT"], message: `MACHINE_FIRST (${env.MACHINE_FIRST}) + MACHINE_COUNT (${env.MACHINE_COUNT}) must be at most 1024 (10 bits of machine)` });
  }
  if (env.MACHINE_LEASE_RENEW_MS + env.MACHINE_LEASE_MARGIN_MS >= env.MACHINE_LEASE_TTL_MS) {
    ctx.addIssue({ code: "custom", path: ["MACHINE_LEASE_RENEW_MS"], message: `MACHINE_LEASE_RENEW_MS (${env.MACHINE_LEASE_RENEW_MS}) + MACHINE_LEASE_MARGIN_MS (${env.MACHINE_LEASE_MARGIN_MS}) must be below MACHINE_LEASE_TTL_MS (${env.MACHINE_LEASE_TTL_MS})` });
  }
  const margin_min = leaseMarginMin(env.MACHINE_LEASE_TTL_MS, LEASE_DRIFT_RATIO_MAX);
  if (env.MACHINE_LEASE_MARGIN_MS < margin_min) {
    ctx.addIssue({ code: "custom", path: ["MACHINE_LEASE_MARGIN_MS"], message: `must be at least ${margin_min} ms for a ${env.MACHINE_LEASE_TTL_MS} ms TTL (clock rates may differ by ${LEASE_DRIFT_RATIO_MAX * 100}%)` });
  }
}

/** Clock rates of the issuers and Redis may differ by this share (NTP slews by at most 0.05%; this is 20 times that). */
export const LEASE_DRIFT_RATIO_MAX = 0.01;

/** The router's own variables. */
export const routerEnv = z
  .object({
    ROUTER_ID: nodeId,
    ROUTER_WORKERS: z.coerce.number().int().min(1).max(64).default(2),
    ROUTER_GROUP: z.string().regex(/^[A-Za-z0-9._-]+$/).max(200).optional(),
    ...machineLeaseEnv,
    /** Push providers (webhook, Web Push, APNs, FCM): nodes/push.ts. */
    ...pushEnv.shape,
  })
  .superRefine(pushEnvRules)
  .superRefine(machineLeaseRules);

/**
 * One consumer group per topic by default: two clusters sharing a broker (a test run beside
 * `make cluster-up`) must not split each other's partitions among members that never read
 * them (kafkajs assigns every subscribed topic's partitions over all members of a group).
 */
export function routerGroup(own: z.infer<typeof routerEnv>, c: ProductionConfig): string {
  return own.ROUTER_GROUP ?? `routers.${c.LOG_TOPIC}`;
}

/** The api node's own variables. */
export const apiEnv = mediaEnv.and(z.object({ WEB_DIR: z.string().min(1).default("web/dist"), PUBLIC_URL: z.url().optional() }));

export function productionConfig(env: Record<string, string | undefined>): ProductionConfig {
  const parsed = parseEnv(productionEnv, env);
  if (!parsed.ok) {
    process.stderr.write(`${parsed.message}\n`);
    process.exit(2);
  }
  const regions = regionsProblem(parsed.value);
  if (regions !== null) {
    process.stderr.write(`${regions}\n`);
    process.exit(2);
  }
  return parsed.value;
}

/**
 * `logger` hears kafkajs's warnings and errors and the consumers' joins and losses (pino fits).
 * `topic`: another region's log (default this node's, LOG_TOPIC).
 */
export async function openLog(c: ProductionConfig, logger?: KafkaLogSink, topic: string = c.LOG_TOPIC): Promise<LogKafka> {
  return LogKafka.open({
    brokers: c.KAFKA_BROKERS.split(","),
    topic,
    partition_count: c.LOG_PARTITIONS,
    fetch_wait_ms_max: c.KAFKA_FETCH_WAIT_MS,
    fetch_bytes_min: c.KAFKA_FETCH_MIN_BYTES,
    ...(logger === undefined ? {} : { logger, log_level: "warn" as const }) });
}

/**
 * The logs a node of this region writes and reads, partitions numbered across regions
 * (partitionBase): `own` is this region's (the router consumes it); `append` is what a gateway
 * appends through: with several regions, each record to its conversation's ordering region's
 * topic (nodes/regions.ts). `kafka` are the underlying logs, for their counters.
 */
export async function openRegionLogs(c: ProductionConfig, homes: HomeRegions | null, logger?: KafkaLogSink): Promise<{ own: Log; append: Log; kafka: LogKafka[] }> {
  const own_kafka = await openLog(c, logger);
  const own = new PartitionShiftedLog(own_kafka, partitionBase(c, c.REGION));
  if (!multiRegion(c) || homes === null) return { own, append: own, kafka: [own_kafka] };
  const logs = new Map<string, Log>([[c.REGION, own]]);
  const kafka = [own_kafka];
  for (const [region, topic] of c.REGION_LOG_TOPICS) {
    if (region === c.REGION) continue;
    const other = await openLog(c, logger, topic);
    kafka.push(other);
    logs.set(region, new PartitionShiftedLog(other, partitionBase(c, region)));
  }
  return { own, append: new RegionalLog(logs, c.REGION, homes), kafka };
}

/** The directory's home regions and groups' creators, cached (nodes/regions.ts). */
export function homeRegions(c: ProductionConfig, directory: DirectoryPostgres): HomeRegions {
  const regions = c.REGIONS.size === 0 ? new Set([c.REGION]) : new Set(c.REGIONS.keys());
  return new HomeRegions(directory, regions, homeRegionDefault(c));
}

export function openCassandra(c: ProductionConfig) {
  const counter = new StatementCounter();
  const client = cassandraClient({ contact_points: c.CASSANDRA_CONTACT_POINTS.split(","), local_datacenter: c.CASSANDRA_LOCAL_DC, counter });
  // One batcher per process: the writes of every router worker (and of both stores) share its batches.
  const batcher = new CqlWriteBatcher(client, {
    consistency: consistencyCode(c.CASSANDRA_CONSISTENCY),
    statements_max: c.CASSANDRA_WRITE_BATCH_STATEMENTS,
    pending_max: WRITE_BATCH_PENDING_MAX_DEFAULT,
  });
  return {
    client,
    counter,
    messages: new MessageStoreCassandra(client, { keyspace: c.CASSANDRA_KEYSPACE, consistency: c.CASSANDRA_CONSISTENCY, serial_consistency: c.CASSANDRA_SERIAL_CONSISTENCY, batcher }),
    pending: new PendingStoreCassandra(client, { keyspace: c.CASSANDRA_KEYSPACE, consistency: c.CASSANDRA_CONSISTENCY, batcher }),
    close: () => client.shutdown(),
  };
}

/** `warn` hears of the first error of each Redis outage (calls fail meanwhile and are retried). */
export function openRedis(c: ProductionConfig, warn: (error: unknown) => void = () => undefined) {
  const redis: RedisClient = c.REDIS_CLUSTER_NODES === undefined ? connectRedis(c.REDIS_URL, { on_error: warn }) : connectRedisCluster(c.REDIS_CLUSTER_NODES, { on_error: warn });
  return {
    redis,
    sessions: new SessionStoreRedis({ redis, prefix: sessionPrefix(c) }),
    presence: new PresenceRedis({ redis }),
    close: async () => void (await redis.quit()),
  };
}

/** The machine-number lease store of the router's pool (the same Redis as sessions). */
export function openLeaseStore(own: z.infer<typeof routerEnv>, redis: RedisClient): LeaseStoreRedis {
  return new LeaseStoreRedis({ redis, prefix: own.MACHINE_LEASE_PREFIX, pool: own.MACHINE_LEASE_POOL, first: own.MACHINE_FIRST, count: own.MACHINE_COUNT });
}

export function openDirectory(c: ProductionConfig) {
  const pool = connectPostgres(c.DATABASE_URL, c.DATABASE_SCHEMA === undefined ? {} : { schema: c.DATABASE_SCHEMA });
  return { pool, directory: new DirectoryPostgres(pool), close: () => pool.end() };
}

/** The registry of this cluster's gateways, or null when discovery is off. */
export function openGatewayRegistry(c: ProductionConfig, redis: RedisClient, on_malformed?: (gateway_id: string, problem: string) => void): GatewayRegistryRedis | null {
  if (c.GATEWAY_DISCOVERY === "off") return null;
  return new GatewayRegistryRedis({ redis, registry: c.GATEWAY_REGISTRY ?? `gateways.${c.LOG_TOPIC}`, ...(on_malformed === undefined ? {} : { on_malformed }) });
}

/** The address book (static GATEWAYS plus the registry) and the gRPC link that resolves through it. */
export function gatewayLink(c: ProductionConfig, registry: GatewayRegistryRedis | null, ports: { clock: Clock; timers: Timers }, events: GatewayBookEvents = {}): { book: GatewayBook; link: GatewayLinkGrpc } {
  let link: GatewayLinkGrpc | null = null;
  const book = new GatewayBook(c.GATEWAYS, registry, ports, { refresh_ms: c.GATEWAY_DISCOVERY_REFRESH_MS, refresh_min_ms: 250, call_timeout_ms: 2_000 }, {
    ...events,
    departed: (gateway_id) => {
      link?.forget(gateway_id);
      events.departed?.(gateway_id);
    },
  });
  link = new GatewayLinkGrpc((gateway_id) => book.resolve(gateway_id), { refresh: (gateway_id) => book.fresh(gateway_id) });
  return { book, link };
}

/** Schema migrations for CQL and SQL, and the log's topic; idempotent. */
export async function migrateAll(c: ProductionConfig): Promise<string[]> {
  const done: string[] = [];
  const cassandra = openCassandra(c);
  try {
    const r = await migrateCassandra(cassandra.client, c.CASSANDRA_KEYSPACE);
    done.push(`cassandra ${c.CASSANDRA_KEYSPACE}: ${JSON.stringify(r)}`);
  } finally {
    await cassandra.close();
  }
  const pg = openDirectory(c);
  try {
    if (c.DATABASE_SCHEMA !== undefined) await pg.pool.query(`CREATE SCHEMA IF NOT EXISTS ${c.DATABASE_SCHEMA}`);
    const r = await migratePostgres(pg.pool);
    done.push(`postgres: ${JSON.stringify(r)}`);
  } finally {
    await pg.close();
  }
  const log = await openLog(c);
  done.push(`kafka topic ${c.LOG_TOPIC} with ${c.LOG_PARTITIONS} partitions`);
  await log.close();
  return done;
}

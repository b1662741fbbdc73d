/**
 * The production ports, from the environment: Kafka (or Redpanda) for the log, Cassandra (or
 * ScyllaDB) for messages and pending entries, Redis for sessions and presence, PostgreSQL
 * for the directory, gRPC between routers and gateways. Shared by the gateway, router, api
 * and migrate binaries; each takes only what it needs.
 */
import { resolve } from "node:path";
import { z } from "zod";
import type { BlobStore } from "../core/ports/blob-store.js";
import { BlobStoreLocal } from "../adapters/blob/blob-store-local.js";
import { BlobStoreS3 } from "../adapters/blob/blob-store-s3.js";
import type { Clock } from "../core/ports/clock.js";
import { LogKafka, type KafkaLogSink } from "../adapters/kafka/index.js";
import { cassandraClient, MessageStoreCassandra, PendingStoreCassandra, migrateCassandra } from "../adapters/cassandra/index.js";
import { StatementCounter } from "../adapters/cassandra/statement-counter.js";
import { connectRedis, PresenceRedis, SessionStoreRedis } from "../adapters/redis/index.js";
import { connectPostgres, DirectoryPostgres, migratePostgres } from "../adapters/postgres/index.js";
import { GatewayLinkGrpc } from "../adapters/grpc/gateway-link-grpc.js";
import { connectionsPerAddressEnv, parseEnv } from "./config.js";
import { deriveKey } from "./keys.js";
import { pushEnv, pushEnvRules } from "./push.js";

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
  REDIS_URL: z.string().min(1).default("redis://127.0.0.1:6379"),
  /**
   * No default: the only sensible one carries a password (the development `chat:chat`), and a
   * production node must never start on it because a variable was forgotten.
   * `deploy/services.sh env` prints the local one.
   */
  DATABASE_URL: z
    .string({ error: "is required: postgres://USER:PASSWORD@HOST:PORT/DB (for the local services: eval \"$(deploy/services.sh env)\")" })
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  /** The gateways' gRPC addresses: `gw-0=127.0.0.1:7101,gw-1=127.0.0.1:7102`. */
  GATEWAYS: z
    .string()
    .default("")
    .transform((s, ctx) => {
      const map = new Map<string, string>();
      for (const part of s.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
        const m = /^([A-Za-z0-9_-]+)=([0-9.]+:\d+)$/.exec(part);
        if (m === null) {
          ctx.addIssue({ code: "custom", message: `"${part}" is not gateway_id=host:port` });
          return z.NEVER;
        }
        map.set(m[1]!, m[2]!);
      }
      return map;
    }),
});
export type ProductionConfig = z.infer<typeof productionEnv>;

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
export const gatewayEnv = z.object({ GATEWAY_ID: nodeId, GRPC_PORT: z.coerce.number().int().min(1).max(65_535), ...connectionsPerAddressEnv }).and(mediaEnv);

/**
 * The blob store of the api and gateway nodes: S3 when S3_BUCKET is set (pre-signed URLs
 * point at the storage), else the MEDIA_DIR folder (signed URLs relative to the api, which
 * makes them absolute), signed with the key derived for media URLs alone (nodes/keys.ts).
 */
export function openBlobStore(own: z.infer<typeof mediaEnv>, secret: string, clock: Clock): BlobStore {
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

/** The router's own variables. */
export const routerEnv = z
  .object({
    ROUTER_ID: nodeId,
    ROUTER_WORKERS: z.coerce.number().int().min(1).max(64).default(2),
    ROUTER_GROUP: z.string().regex(/^[A-Za-z0-9._-]+$/).max(200).optional(),
    /** Push providers (webhook, Web Push, APNs, FCM): nodes/push.ts. */
    ...pushEnv.shape,
  })
  .superRefine(pushEnvRules);

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
  return parsed.value;
}

/** `logger` hears kafkajs's warnings and errors and the consumers' joins and losses (pino fits). */
export async function openLog(c: ProductionConfig, logger?: KafkaLogSink): Promise<LogKafka> {
  return LogKafka.open({
    brokers: c.KAFKA_BROKERS.split(","),
    topic: c.LOG_TOPIC,
    partition_count: c.LOG_PARTITIONS,
    fetch_wait_ms_max: c.KAFKA_FETCH_WAIT_MS,
    fetch_bytes_min: c.KAFKA_FETCH_MIN_BYTES,
    ...(logger === undefined ? {} : { logger, log_level: "warn" as const }) });
}

export function openCassandra(c: ProductionConfig) {
  const counter = new StatementCounter();
  const client = cassandraClient({ contact_points: c.CASSANDRA_CONTACT_POINTS.split(","), local_datacenter: c.CASSANDRA_LOCAL_DC, counter });
  return {
    client,
    counter,
    messages: new MessageStoreCassandra(client, { keyspace: c.CASSANDRA_KEYSPACE, consistency: c.CASSANDRA_CONSISTENCY, serial_consistency: c.CASSANDRA_SERIAL_CONSISTENCY }),
    pending: new PendingStoreCassandra(client, { keyspace: c.CASSANDRA_KEYSPACE, consistency: c.CASSANDRA_CONSISTENCY }),
    close: () => client.shutdown(),
  };
}

/** `warn` hears of the first error of each Redis outage (calls fail meanwhile and are retried). */
export function openRedis(c: ProductionConfig, warn: (error: unknown) => void = () => undefined) {
  const redis = connectRedis(c.REDIS_URL, { on_error: warn });
  return {
    redis,
    sessions: new SessionStoreRedis({ redis }),
    presence: new PresenceRedis({ redis }),
    close: async () => void (await redis.quit()),
  };
}

export function openDirectory(c: ProductionConfig) {
  const pool = connectPostgres(c.DATABASE_URL);
  return { pool, directory: new DirectoryPostgres(pool), close: () => pool.end() };
}

export function gatewayLink(c: ProductionConfig): GatewayLinkGrpc {
  return new GatewayLinkGrpc((gateway_id) => c.GATEWAYS.get(gateway_id) ?? null);
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

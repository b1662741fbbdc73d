/**
 * The production ports, from the environment: Kafka (or Redpanda) for the log, Cassandra (or
 * ScyllaDB) for messages and pending entries, Redis for sessions and presence, PostgreSQL
 * for the directory, gRPC between routers and gateways. Shared by the gateway, router, api
 * and migrate binaries; each takes only what it needs.
 */
import { z } from "zod";
import { LogKafka, type KafkaLogSink } from "../adapters/kafka/index.js";
import { cassandraClient, MessageStoreCassandra, PendingStoreCassandra, migrateCassandra } from "../adapters/cassandra/index.js";
import { StatementCounter } from "../adapters/cassandra/statement-counter.js";
import { connectRedis, PresenceRedis, SessionStoreRedis } from "../adapters/redis/index.js";
import { connectPostgres, DirectoryPostgres, migratePostgres } from "../adapters/postgres/index.js";
import { GatewayLinkGrpc } from "../adapters/grpc/gateway-link-grpc.js";
import { parseEnv } from "./config.js";

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
  DATABASE_URL: z.string().min(1).default("postgres://chat:chat@127.0.0.1:5432/chat"),
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

/** The gateway's own variables (besides roleEnv and productionEnv). */
export const gatewayEnv = z.object({ GATEWAY_ID: nodeId, GRPC_PORT: z.coerce.number().int().min(1).max(65_535) });

/** The router's own variables. */
export const routerEnv = z.object({
  ROUTER_ID: nodeId,
  ROUTER_WORKERS: z.coerce.number().int().min(1).max(64).default(2),
  PUSH_PREVIEW_CHARS: z.coerce.number().int().min(0).max(200).default(0),
  ROUTER_GROUP: z.string().regex(/^[A-Za-z0-9._-]+$/).max(200).optional(),
});

/**
 * One consumer group per topic by default: two clusters sharing a broker (a test run beside
 * `make cluster-up`) must not split each other's partitions among members that never read
 * them (kafkajs assigns every subscribed topic's partitions over all members of a group).
 */
export function routerGroup(own: z.infer<typeof routerEnv>, c: ProductionConfig): string {
  return own.ROUTER_GROUP ?? `routers.${c.LOG_TOPIC}`;
}

/** The api node's own variables. */
export const apiEnv = z.object({ MEDIA_DIR: z.string().min(1).default("./data/media"), WEB_DIR: z.string().min(1).default("web/dist"), PUBLIC_URL: z.url().optional() });

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

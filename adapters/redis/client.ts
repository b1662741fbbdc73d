/**
 * Opening a Redis connection the way the Redis adapters expect it: auto-pipelining on (commands
 * issued in the same tick share one write and one round trip), a bounded connect timeout, and a
 * name that shows in CLIENT LIST.
 *
 * The adapters take a client rather than a URL, so that a node can share one command
 * connection between SessionStoreRedis and PresenceRedis. Whoever calls `connectRedis` owns the
 * connection and quits it; the adapters close only the connections they open themselves (the
 * presence subscriber).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";

export type RedisConnectOptions = {
  /** Told of the first error of each outage (the connection retries by itself). */
  readonly on_error?: (error: unknown) => void;
  /** Shown by CLIENT LIST, to tell gateways (and tests) apart. */
  readonly connection_name?: string;
  /** Extra ioredis options; they win over the defaults below. */
  readonly ioredis?: RedisOptions;
};

const CONNECT_TIMEOUT_MS = 5_000;

/** A client for `url` (redis://host:port[/db]); it connects in the background. */
export function connectRedis(url: string, options: RedisConnectOptions = {}): Redis {
  const redis = new Redis(url, {
    enableAutoPipelining: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    ...(options.connection_name === undefined ? {} : { connectionName: options.connection_name }),
    ...options.ioredis,
  });
  // ioredis prints "Unhandled error event" with a stack for every failed reconnect attempt
  // when nobody listens; commands still fail (and callers retry), so report once per outage.
  let down = false;
  redis.on("error", (error: unknown) => {
    if (down) return;
    down = true;
    options.on_error?.(error);
  });
  redis.on("ready", () => (down = false));
  return redis;
}

/**
 * What the Redis adapters take: one server, or a Redis Cluster through ioredis' Cluster client
 * (keys are hash-tagged so that each script's keys share a slot; presence fans out with
 * sharded pub/sub there).
 */
export type RedisClient = Redis | Cluster;

/**
 * A Cluster client for `nodes` (`host:port` of any of its nodes; the rest are discovered), with
 * the same auto-pipelining (per node), connect timeout and once-per-outage error report.
 */
export function connectRedisCluster(nodes: readonly string[], options: RedisConnectOptions & { readonly cluster?: ClusterOptions } = {}): Cluster {
  const cluster = new Cluster(
    nodes.map((node) => {
      const colon = node.lastIndexOf(":");
      return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) };
    }),
    {
      enableAutoPipelining: true,
      redisOptions: { connectTimeout: CONNECT_TIMEOUT_MS, ...(options.connection_name === undefined ? {} : { connectionName: options.connection_name }), ...options.ioredis },
      ...options.cluster,
    },
  );
  let down = false;
  cluster.on("error", (error: unknown) => {
    if (down) return;
    down = true;
    options.on_error?.(error);
  });
  cluster.on("ready", () => (down = false));
  return cluster;
}

/** Whether `redis` is a Cluster client (sharded pub/sub, per-slot scripts). */
export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/** REDIS_URL from the environment (deploy/services.sh env), or the local test server. */
export function redisUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_URL ?? "redis://127.0.0.1:6379";
}

/** REDIS_CLUSTER_NODES from the environment (deploy/services.sh env redis-cluster), or the local test cluster. */
export function redisClusterNodesFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.REDIS_CLUSTER_NODES ?? "127.0.0.1:7200,127.0.0.1:7201,127.0.0.1:7202").split(",").map((x) => x.trim()).filter((x) => x !== "");
}

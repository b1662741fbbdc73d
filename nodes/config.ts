/**
 * Node configuration from environment variables, validated with zod: a bad value stops the
 * node at start with a sentence naming the variable, never later with a stack trace.
 */
import { z } from "zod";
import { pushEnv, pushEnvRules, pushTargetsEnv } from "./push.js";
import { wsCompressionEnv, wsCompressionRules } from "./http/compression.js";

export { pushTargetsEnv };

const port = z.coerce.number().int().min(0).max(65_535);
const bool = z.enum(["0", "1", "true", "false"]).transform((v) => v === "1" || v === "true");

/**
 * What every node with an HTTP edge reads about its edge's bounds (docs/OPERATIONS.md).
 * Spread into each role's schema.
 */
export const edgeEnv = {
  /** A request's headers must arrive within this long (also a half-open WebSocket upgrade): 408 after. */
  HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** The whole request (headers and body, a media upload included) must arrive within this long: 408 after. */
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise). */
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
};

/**
 * Push targets (webhook URLs, Web Push endpoints) are user input: private, loopback and
 * link-local addresses are refused where the socket connects, unless named here.
 */

/** The node's limits with the edge's bounds from its environment. */
export function withEdgeBounds<L extends { headersTimeoutMs: number; requestTimeoutMs: number }>(limits: L, env: { HEADERS_TIMEOUT_MS: number; REQUEST_TIMEOUT_MS: number }): L {
  return { ...limits, headersTimeoutMs: env.HEADERS_TIMEOUT_MS, requestTimeoutMs: Math.max(env.REQUEST_TIMEOUT_MS, env.HEADERS_TIMEOUT_MS) };
}

/** WebSocket connections from one client address (0: no cap); raise it for clients behind one NAT. */
export const connectionsPerAddressEnv = {
  CONNECTIONS_PER_ADDRESS_MAX: z.coerce.number().int().min(0).max(10_000_000).default(2_000),
};

export const allInOneEnv = z.object({
  ...edgeEnv,
  ...pushTargetsEnv,
  ...connectionsPerAddressEnv,
  ...wsCompressionEnv,
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: port.default(8080),
  DATA_DIR: z.string().min(1).default("./data"),
  /** Secret for tokens and signed URLs; generated and kept in DATA_DIR when unset. */
  SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** The URL clients reach this node at (for pre-signed media URLs); http://HOST:PORT by default. */
  PUBLIC_URL: z.url().optional(),
  /** Where the built web page is; the node serves it at /. */
  WEB_DIR: z.string().min(1).default("web/dist"),
  LOG_PARTITIONS: z.coerce.number().int().min(1).max(256).default(8),
  /**
   * Group commit: SQLite commits at least this many ms apart under load (0: every loop turn).
   * Larger windows write fewer WAL pages per message and add up to one window per durable step.
   */
  COMMIT_WINDOW_MS: z.coerce.number().min(0).max(100).default(2),
  /** WAL checkpoints on a worker thread this often (ms); 0 runs them inline, on the event loop. */
  CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(100),
  /**
   * Admission: while this many log records wait in front of the routers, new sends are
   * refused with a retryable OVERLOADED (0 turns it off). About 0.3 s of work at this box's
   * throughput, so accepted messages stay fast under overload.
   */
  SEND_BACKLOG_MAX: z.coerce.number().int().min(0).max(10_000_000).default(2_000),
  /**
   * Admission too: while a router's last poll found sends that had waited this long (ms) since
   * the gateway accepted them, new sends are refused with OVERLOADED (0 turns it off). This
   * one holds whatever the machine's speed; the count above is the hard bound.
   */
  SEND_LAG_MAX_MS: z.coerce.number().int().min(0).max(600_000).default(250),
  /**
   * Admission too, off by default: while the event loop is busier than this share of its
   * time (smoothed over about half a second), new sends are refused with OVERLOADED. It keeps
   * accepted messages fast under overload (2x: p99 118 ms), but group commit makes the node
   * cheaper per message as load rises, so a busy loop is not yet a full one: at 0.95 it
   * refused 15% of 2,000 msg/s that the node carries at p99 ~100 ms without it, and in
   * process it held the node near 1,600/s where it carries 3,400/s. A saturated loop reads frames slower
   * than they come, and what waits in socket buffers is invisible to the two bounds above.
   */
  SEND_ELU_MAX: z.coerce.number().min(0).max(1).default(0),
  /** In-process router workers (members of one consumer group). */
  ROUTERS: z.coerce.number().int().min(1).max(64).default(4),
  /** Push providers (webhook, Web Push, APNs, FCM): nodes/push.ts. */
  ...pushEnv.shape,
  /** How long SIGTERM waits for in-flight work before exiting anyway. */
  DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** REST rate limit per client address and per user: burst, and sustained requests per second. */
  REST_BURST: z.coerce.number().int().min(1).max(1_000_000).default(200),
  REST_PER_SECOND: z.coerce.number().min(0.1).max(1_000_000).default(50),
  /** scrypt cost for new password hashes (power of two, at least 1024). Lower it only for load tests. */
  PASSWORD_HASH_COST: z.coerce.number().int().min(1024).max(1_048_576).refine((n) => Number.isInteger(Math.log2(n)), "must be a power of two").default(16_384),
  /** Use the deliberately small limits of tests (fast heartbeats and resyncs). */
  TEST_LIMITS: bool.default(false),
}).superRefine(pushEnvRules).superRefine(wsCompressionRules);

export type AllInOneConfig = z.infer<typeof allInOneEnv>;

export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): { ok: true; value: z.infer<S> } | { ok: false; message: string } {
  const parsed = schema.safeParse(env);
  if (parsed.success) return { ok: true, value: parsed.data };
  const lines = parsed.error.issues.map((i) => `${i.path.join(".") || "environment"}: ${i.message}`);
  return { ok: false, message: `Invalid configuration: ${lines.join("; ")}.` };
}

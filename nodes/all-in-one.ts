/**
 * The all-in-one node: every role in one process on embedded storage. A gateway host, a
 * few in-process router workers (one consumer group over the SQLite log), the REST API, the
 * WebSocket edge and the web page, on one HTTP port. Sessions and presence live in process
 * (there is only one gateway); everything acknowledged lives in one SQLite file in DATA_DIR.
 *
 * Start: `node dist/nodes/all-in-one.js` (or `make run`). SIGTERM drains: clients are told
 * to reconnect, in-flight work finishes (bounded by DRAIN_TIMEOUT_MS), the process exits 0.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { defaultLimits, type Limits } from "../core/limits.js";
import type { ConsumedRecord } from "../core/model.js";
import type { Push } from "../core/ports/push.js";
import { PresenceMemory } from "../adapters/memory/presence-memory.js";
import { SessionStoreMemory } from "../adapters/memory/session-store-memory.js";
import { GatewayLinkMemory } from "../adapters/memory/gateway-link-memory.js";
import { ClockSystem } from "../adapters/memory/clock-memory.js";
import { RandomSystem } from "../adapters/memory/random-memory.js";
import { BlobStoreLocal } from "../adapters/blob/blob-store-local.js";
import { Database, DirectorySqlite, LogSqlite, MessageStoreSqlite, PendingStoreSqlite } from "../adapters/sqlite/index.js";
import { setPasswordHashCost, Tokens } from "./auth.js";
import { deriveKey } from "./keys.js";
import { allInOneEnv, parseEnv, withEdgeBounds, type AllInOneConfig } from "./config.js";
import { GatewayHost } from "./hosts/gateway-host.js";
import { RouterHost } from "./hosts/router-host.js";
import { timersReal } from "./timers-real.js";
import { registerApi } from "./http/api.js";
import { createApp } from "./http/app.js";
import { serveStatic } from "./http/static.js";
import { wsCompressionFrom } from "./http/compression.js";
import { attachWebSocket, type WebSocketEdge } from "./http/websocket.js";
import { DEVICE_SWEEP_INTERVAL_MS, DeviceSessions } from "./sessions.js";
import { Metrics } from "./metrics.js";
import { MEDIA_SWEEP_INTERVAL_MS, mediaOwnership } from "./media.js";
import { openPush } from "./push.js";
import { instrumentGateway } from "./observe.js";

const ROUTER_GROUP = "routers";

export type AllInOne = {
  readonly url: string;
  readonly app: FastifyInstance;
  /** Graceful: drain clients, finish in-flight work, close storage. */
  stop(): Promise<void>;
};

/** Small timings for tests: fast heartbeats, resyncs and retries. */
export function testLimits(): Limits {
  return { ...defaultLimits(), heartbeatIntervalMs: 2_000, presenceTtlMs: 5_000, pendingResyncIntervalMs: 3_000 };
}

function secretFor(config: AllInOneConfig): string {
  if (config.SECRET !== undefined) return config.SECRET;
  const file = join(config.DATA_DIR, "secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

/**
 * The database holds password hashes and every message: readable by its owner only. SQLite
 * gives its -wal and -shm files the main file's mode, so creating that file 0600 before
 * SQLite does covers them; files left by an older version are tightened too.
 */
function ownerOnly(path: string): string {
  closeSync(openSync(path, "a", 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  return path;
}

/**
 * The node without its HTTP edge: storage, the gateway host and the router workers, wired as
 * the node runs them. startAllInOne puts the HTTP API and the WebSocket edge in front of it;
 * bench/pipeline drives it directly, to measure the hot path without sockets.
 */
export type Embedded = {
  readonly db: Database;
  readonly log: pino.Logger;
  readonly limits: Limits;
  readonly clock: ClockSystem;
  readonly metrics: Metrics;
  readonly secret: string;
  readonly directory: DirectorySqlite;
  readonly messages: MessageStoreSqlite;
  readonly pending: PendingStoreSqlite;
  readonly presence: PresenceMemory;
  readonly blobs: BlobStoreLocal;
  readonly gateway: GatewayHost;
  readonly routers: readonly RouterHost[];
  /** Joins every router to the consumer group; resolves once all have joined. */
  startRouters(): Promise<void>;
  /** Drains the gateway (clients are told to reconnect) and stops the routers after a bounded wait. */
  drain(drain_ms: number): Promise<void>;
  /** Closes storage, once drained. */
  close(): Promise<void>;
};

export function assembleEmbedded(config: AllInOneConfig, providers: { push?: Push } = {}): Embedded {
  const log = pino({ level: config.LOG_LEVEL, base: { role: "all-in-one" } });
  setPasswordHashCost(config.PASSWORD_HASH_COST);
  mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 });
  const limits = withEdgeBounds(config.TEST_LIMITS ? testLimits() : defaultLimits(), config);
  const clock = new ClockSystem();
  const timers = timersReal(clock);
  const secret = secretFor(config);
  const tokens = new Tokens(secret);
  const metrics = new Metrics();
  const db = Database.open(ownerOnly(join(config.DATA_DIR, "chat.sqlite3")), {
    commit_window_ms: config.COMMIT_WINDOW_MS,
    checkpoint: config.CHECKPOINT_INTERVAL_MS === 0 ? "inline" : { interval_ms: config.CHECKPOINT_INTERVAL_MS },
    checkpoint_failed: (why) => log.error({ why }, "the checkpoint thread failed; checkpoints run inline from now on"),
  });
  const logPort = new LogSqlite(db, { partition_count: config.LOG_PARTITIONS });
  const messages = new MessageStoreSqlite(db);
  const pending = new PendingStoreSqlite(db);
  const directory = new DirectorySqlite(db);
  const sessions = new SessionStoreMemory(clock);
  const presence = new PresenceMemory({ clock, limits });
  // Deliveries go from router to gateway without a copy. A copy (structuredClone: 4% of the
  // main thread's busy time in bench-pipeline at 2,000 msg/s, ~16 us per message) only guards against a side changing a
  // batch after handing it over; the cores never do (effects and deliveries are readonly
  // values, built fresh per step), and the simulator's link (sim/stores-sim.ts
  // GatewayLinkSim) hands the same objects over uncopied, so every seed runs the hosts this way.
  const link = new GatewayLinkMemory({ copy: false });
  // Signed URLs are made relative here and absolute by the API, once the port is known.
  const blobs = new BlobStoreLocal(join(config.DATA_DIR, "media"), "", deriveKey(secret, "media-urls"));
  // Push: webhook, Web Push, APNs and FCM as configured (nodes/push.ts). A platform without
  // a provider is refused per notification; a registration its provider calls gone is deleted.
  const push: Push = providers.push ?? openPush(config, secret, directory);

  // How long the sends a router's last poll found had waited since their gateway accepted
  // them, per router; an empty poll means that router has caught up (0). Sends accepted
  // before this process started (read again after a crash) count from the start: replaying
  // them is real work in front of new sends, but their age is not.
  const started_ms = clock.now();
  const lag_by_router = new Map<number, number>();
  const routingLagMs = (): number => Math.max(0, ...lag_by_router.values());
  const observePoll = (router: number, records: readonly ConsumedRecord[]): void => {
    const now = clock.now();
    let lag = 0;
    for (const r of records) if (r.record.kind === "send") lag = Math.max(lag, now - Math.max(started_ms, r.record.accepted_at_ms));
    lag_by_router.set(router, lag);
  };

  // The event loop's utilisation (admission: a saturated loop), sampled every 100 ms and
  // smoothed over about half a second: one long commit or GC pause makes a single 100 ms
  // window look saturated, and refusing on that cost a third of the sends at 2,000 msg/s.
  const loop = { busy: 0, last: performance.eventLoopUtilization() };
  const sampler =
    config.SEND_ELU_MAX > 0
      ? setInterval(() => {
          const now = performance.eventLoopUtilization();
          loop.busy = 0.8 * loop.busy + 0.2 * performance.eventLoopUtilization(now, loop.last).utilization;
          loop.last = now;
        }, 100)
      : null;
  sampler?.unref();

  const gateway_id = "gw-0";
  const gateway = new GatewayHost(
    { log: logPort, pending, sessions, presence, directory, link, media: mediaOwnership(tokens, blobs), clock, timers },
    {
      gateway_id,
      limits,
      call_timeout_ms: 5_000,
      session_ttl_ms: 3 * limits.heartbeatIntervalMs,
      admission: {
        overloaded: () =>
          (config.SEND_ELU_MAX > 0 && loop.busy >= config.SEND_ELU_MAX) ||
          (config.SEND_BACKLOG_MAX > 0 && logPort.backlog(ROUTER_GROUP) >= config.SEND_BACKLOG_MAX) ||
          (config.SEND_LAG_MAX_MS > 0 && routingLagMs() >= config.SEND_LAG_MAX_MS),
      },
    },
    instrumentGateway(metrics, clock),
  );
  link.register(gateway_id, (deliveries) => gateway.receive(deliveries));

  const routers: RouterHost[] = [];
  for (let i = 0; i < config.ROUTERS; i++) {
    const router = new RouterHost(
      { log: logPort, messages, pending, directory, sessions, link, push, clock, timers },
      {
        router_id: `router-${i}`,
        machine: (Number.parseInt(randomBytes(2).toString("hex"), 16) + i) % 1024,
        limits,
        push_preview_chars: config.PUSH_PREVIEW_CHARS,
        variant: "correct",
        group: ROUTER_GROUP,
        member_id: `router-${i}-${randomBytes(4).toString("hex")}`,
        call_timeout_ms: 10_000,
        poll_wait_ms: 500,
      },
      {
        polled: (records) => observePoll(i, records),
        observed: (what) => metrics.router.inc({ what }),
        delivery_failed: (target, reason) => {
          metrics.delivery_failures.inc();
          log.debug({ target, reason }, "best-effort delivery failed; pending keeps the message");
        },
      },
    );
    routers.push(router);
  }

  return {
    db,
    log,
    limits,
    clock,
    metrics,
    secret,
    directory,
    messages,
    pending,
    presence,
    blobs,
    gateway,
    routers,
    startRouters: () => Promise.all(routers.map((r) => new Promise<void>((ok, no) => r.start((e) => (e === null ? ok() : no(new Error(e))))))).then(() => undefined),
    async drain(drain_ms) {
      gateway.drain();
      // Let routers finish what they hold, bounded.
      await new Promise((r) => setTimeout(r, drain_ms));
      await Promise.all(routers.map((r) => new Promise<void>((ok) => r.stop(ok))));
    },
    async close() {
      if (sampler !== null) clearInterval(sampler);
      await Promise.all([logPort.close(), messages.close(), pending.close(), directory.close()]);
      await presence.close();
      await sessions.close();
      await db.close();
    },
  };
}

export async function startAllInOne(config: AllInOneConfig, providers: { push?: Push } = {}): Promise<AllInOne> {
  const core = assembleEmbedded(config, providers);
  const { db, log, limits, clock, metrics, secret, directory, messages, pending, presence, blobs, gateway } = core;
  const random = new RandomSystem();
  const tokens = new Tokens(secret);
  let ready = false;
  const app = createApp(
    log,
    limits,
    metrics,
    () => (!ready ? "starting" : gateway.isDraining ? "draining" : "ok"),
    () => {
      metrics.connections.set(gateway.connectionCount);
      const depth = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM pending").get();
      if (depth !== undefined) metrics.pending_depth.set(depth.n);
    },
    { metrics_token: config.METRICS_TOKEN },
  );
  let listening_url = `http://${config.HOST}:${config.PORT}`;
  const public_url = (): string => config.PUBLIC_URL ?? listening_url;
  // Declarations of uploads that never came, and temporary files a crash left, are deleted
  // now and then: the media folder is bounded by the uploads that completed.
  const sweeper = setInterval(() => void blobs.sweep(clock.now()).catch((error: unknown) => log.warn({ err: error }, "media sweep failed")), MEDIA_SWEEP_INTERVAL_MS);
  sweeper.unref();

  // Sign-outs close the device's sockets here: the WebSocket edge is attached below.
  let edge: WebSocketEdge | null = null;
  const sessions = new DeviceSessions({
    directory,
    pending,
    limits,
    signed_out: (user_id, device_ids) => void edge?.signOut(user_id, device_ids),
    warn: (error, what) => log.warn({ err: error }, what),
  });
  registerApi(app, { directory, messages, presence, blobs, tokens, clock, random, limits, public_url, rest_burst: config.REST_BURST, rest_per_second: config.REST_PER_SECOND, sessions });
  // Devices whose token expired can never connect again: they and their pending rows go.
  const device_sweeper = setInterval(() => void sessions.sweepExpired(clock.now()).catch((error: unknown) => log.warn({ err: error }, "expired device sweep failed")), DEVICE_SWEEP_INTERVAL_MS);
  device_sweeper.unref();
  serveStatic(app, resolve(config.WEB_DIR));

  const ws = attachWebSocket(app.server, {
    gateway,
    tokens,
    clock,
    frame_bytes_max: limits.frameBytesMax,
    send_buffer_bytes_max: 4 * 1024 * 1024,
    ping_interval_ms: 30_000,
    connections_per_address_max: config.CONNECTIONS_PER_ADDRESS_MAX,
    compression: wsCompressionFrom(config),
    device_current: (user_id, device_id) => sessions.current(user_id, device_id),
  });
  edge = ws;

  // Pending rows of devices retired by a process that stopped before its settle sweep (or
  // between removing a device and its rows) are collected in the background: no put of the
  // stopped process can land any more, and this process's routers put only for devices the
  // directory lists. One seek per device holding rows (about 1 s per 50,000 on a busy box).
  const orphans = sessions
    .dropOrphans((after, limit) => pending.devicesWithEntries(after, limit))
    .then(
      (devices) => devices > 0 && log.info({ devices }, "dropped the pending rows of devices retired before the last stop"),
      (error: unknown) => log.warn({ err: error }, "collecting the pending rows of retired devices failed"),
    );
  await core.startRouters();
  await app.listen({ host: config.HOST, port: config.PORT });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.PORT;
  ready = true;
  const url = `http://${config.HOST}:${port}`;
  listening_url = url;
  log.info({ url }, "all-in-one node ready");

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(sweeper);
      clearInterval(device_sweeper);
      await orphans;
      await core.drain(Math.min(config.DRAIN_TIMEOUT_MS, 500));
      ws.close();
      await app.close();
      await core.close();
    })();
    return stopping;
  };
  return { url, app, stop };
}

/** Started as a program: read the environment, serve until SIGTERM/SIGINT, exit 0 after draining. */
async function main(): Promise<void> {
  const parsed = parseEnv(allInOneEnv, process.env);
  if (!parsed.ok) {
    process.stderr.write(`${parsed.message}\n`);
    process.exit(2);
  }
  const node = await startAllInOne(parsed.value);
  process.stdout.write(`\n  chat is running: open ${node.url}\n\n`);
  let signalled = false;
  const onSignal = (signal: string): void => {
    if (signalled) return;
    signalled = true;
    node.app.log.info({ signal }, "draining");
    const force = setTimeout(() => process.exit(1), parsed.value.DRAIN_TIMEOUT_MS + 5_000);
    force.unref();
    node.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        node.app.log.error({ err: error }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]).replace(/\.ts$/, ".js") === resolve(new URL(import.meta.url).pathname).replace(/\.ts$/, ".js")) {
  main().catch((error: unknown) => {
    process.stderr.write(`all-in-one failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

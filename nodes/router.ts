/**
 * `node dist/nodes/router.js`: consumes the log (ROUTER_WORKERS members of one consumer
 * group), orders, persists, delivers to gateways over gRPC, pushes to offline users.
 * /healthz and /metrics on PORT. SIGTERM stops consuming (uncommitted work is redelivered).
 * Each worker leases its Snowflake machine number in Redis first and consumes only while it
 * holds the lease (MACHINE_LEASE_*; docs/OPERATIONS.md).
 */
import { randomBytes } from "node:crypto";
import { msFromIso } from "../core/model.js";
import { parseEnv } from "./config.js";
import { openPush } from "./push.js";
import { MachineLease } from "./hosts/lease-host.js";
import { RouterHost } from "./hosts/router-host.js";
import { timersReal } from "./timers-real.js";
import { createApp } from "./http/app.js";
import { gatewayLink, homeRegions, multiRegion, openGatewayRegistry, openCassandra, openDirectory, openLeaseStore, openRedis, openRegionLogs, productionConfig, routerEnv, routerGroup } from "./production.js";
import { OutboxPostgres } from "../adapters/postgres/outbox-postgres.js";
import { RegionalPending } from "./regions.js";
import { fatal, onSignals, role } from "./role.js";

async function main(): Promise<void> {
  const r = role("router", process.env);
  const own = parseEnv(routerEnv, process.env);
  if (!own.ok) throw new Error(own.message);
  const c = productionConfig(process.env);
  const group = routerGroup(own.value, c);
  // This region's log (partitions numbered across regions); with several regions, entries of
  // members homed elsewhere go to this region's outbox in the same persist step (nodes/regions.ts).
  // Opened before Redis: nothing may await between openRedis and the registry's and lease
  // store's script definitions (ioredis puts a custom command queued into an auto-pipeline
  // created before its defineCommand into that pipeline, which lacks it, and the process dies).
  const logs = await openRegionLogs(c, null, r.log);
  const log = logs.own;
  const cassandra = openCassandra(c);
  const redis = openRedis(c, (err) => r.log.warn({ err }, "redis unreachable; retrying"));
  const pg = openDirectory(c);
  const pending = multiRegion(c) ? new RegionalPending(cassandra.pending, new OutboxPostgres(pg.pool, c.REGION), c.REGION, homeRegions(c, pg.directory)) : cassandra.pending;
  const registry = openGatewayRegistry(c, redis.redis, (gateway_id, problem) => r.log.warn({ gateway_id, problem }, "malformed gateway registry entry skipped"));
  const { book, link } = gatewayLink(c, registry, { clock: r.clock, timers: r.timers }, {
    joined: (entry) => r.log.info({ gateway: entry }, "gateway discovered"),
    departed: (gateway_id) => r.log.info({ gateway_id }, "gateway departed"),
    refresh_failed: (reason) => r.log.warn({ reason }, "gateway registry unreachable; keeping the last address book"),
  });
  await book.start();
  // Webhook, Web Push, APNs and FCM as configured; gone registrations are deleted (nodes/push.ts).
  const push = openPush(own.value, r.config.SECRET, pg.directory);
  r.metrics.observeServices({ cql: cassandra.counter, kafka: logs.kafka[0]!.stats });
  // Machine numbers are leased (core/lease): a worker consumes only while it holds one, and
  // its claims, where IDs leave the process, check the lease at that moment (router-host.ts).
  // Lease time is monotonic: a wall clock stepping back must not stretch a lease.
  const monotonic = { now: () => performance.now() };
  const lease_timers = timersReal(monotonic);
  const leases = openLeaseStore(own.value, redis.redis);
  const incarnation = randomBytes(6).toString("hex");
  const workers = Array.from({ length: own.value.ROUTER_WORKERS }, (_, i) => {
    const name = `${own.value.ROUTER_ID}-${i}`;
    let host: RouterHost | null = null;
    const lease: MachineLease = new MachineLease(
      { store: leases, clock: monotonic, timers: lease_timers },
      {
        token: `${name}.${incarnation}`,
        ttl_ms: own.value.MACHINE_LEASE_TTL_MS,
        renew_every_ms: own.value.MACHINE_LEASE_RENEW_MS,
        margin_ms: own.value.MACHINE_LEASE_MARGIN_MS,
        retry_ms: Math.min(500, own.value.MACHINE_LEASE_RENEW_MS),
        call_timeout_ms: Math.max(100, Math.min(2_000, own.value.MACHINE_LEASE_RENEW_MS)),
      },
      {
        gained: (machine) => {
          r.log.info({ worker: name, machine }, "machine number leased; consuming");
          host = new RouterHost(
            { log, messages: cassandra.messages, pending, directory: pg.directory, sessions: redis.sessions, link, push, clock: r.clock, timers: r.timers, lease },
            {
              router_id: name,
              machine,
              limits: r.limits,
              push_preview_chars: own.value.PUSH_PREVIEW_CHARS,
              variant: "correct",
              group,
              member_id: `${name}-${randomBytes(4).toString("hex")}`,
              call_timeout_ms: 10_000,
              poll_wait_ms: 500,
            },
            {
              observed: (what) => r.metrics.router.inc({ what }),
              delivery_failed: () => r.metrics.delivery_failures.inc(),
              call_done: (call, ms, ok) => r.metrics.router_calls.observe({ call, ok: String(ok) }, ms / 1000),
              polled: (records) => {
                const now = r.clock.now();
                for (const c of records) if (c.record.kind === "send") r.metrics.stages.observe({ stage: "fetched" }, Math.max(0, now - c.record.accepted_at_ms) / 1000);
              },
              effect: (effect) => {
                if (effect.type !== "deliver") return;
                const now = r.clock.now();
                for (const d of effect.deliveries) {
                  if (d.kind === "message") r.metrics.stages.observe({ stage: "delivering" }, Math.max(0, now - msFromIso(d.message.sent_at)) / 1000);
                }
              },
            },
          );
          host.start();
        },
        lost: (machine, reason) => {
          // Stop consuming: uncommitted work is redelivered to whoever takes the partitions.
          r.log.warn({ worker: name, machine, reason }, "machine lease lost; stopped consuming until a number is leased again");
          host?.stop();
          host = null;
        },
        call_failed: (call, reason) => r.log.warn({ worker: name, call, reason }, "machine lease store call failed; retrying"),
      },
    );
    return {
      lease,
      stop: () => new Promise<void>((ok) => (host === null ? ok() : host.stop(ok))).then(() => lease.stop()),
    };
  });
  for (const w of workers) w.lease.start();
  let ready = false;
  // 503 "starting" while any worker waits for (or lost) its machine lease: it consumes nothing then.
  const app = createApp(r.log, r.limits, r.metrics, () => (!ready ? "starting" : workers.every((w) => w.lease.machine() !== null) ? "ok" : "starting"), undefined, { metrics_token: r.config.METRICS_TOKEN });
  await app.listen({ host: r.config.HOST, port: r.config.PORT });
  await Promise.all(workers.map((w) => w.lease.gained()));
  ready = true;
  const address = app.server.address();
  process.stdout.write(`router ${own.value.ROUTER_ID} consuming with ${workers.length} workers (leased machines ${workers.map((w) => w.lease.machine()).join(",")}); health on http://${r.config.HOST}:${typeof address === "object" && address !== null ? address.port : r.config.PORT}\n`);
  onSignals(r, async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await app.close();
    book.stop();
    link.close();
    await log.close();
    await Promise.all([cassandra.close(), redis.presence.close(), pg.close()]);
    await redis.close();
  });
}

main().catch(fatal("router"));

/**
 * `node dist/nodes/router.js`: consumes the log (ROUTER_WORKERS members of one consumer
 * group), orders, persists, delivers to gateways over gRPC, pushes to offline users.
 * /healthz and /metrics on PORT. SIGTERM stops consuming (uncommitted work is redelivered).
 */
import { randomBytes } from "node:crypto";
import { parseEnv } from "./config.js";
import { openPush } from "./push.js";
import { RouterHost } from "./hosts/router-host.js";
import { createApp } from "./http/app.js";
import { gatewayLink, openCassandra, openDirectory, openLog, openRedis, productionConfig, routerEnv, routerGroup } from "./production.js";
import { fatal, onSignals, role } from "./role.js";

async function main(): Promise<void> {
  const r = role("router", process.env);
  const own = parseEnv(routerEnv, process.env);
  if (!own.ok) throw new Error(own.message);
  const c = productionConfig(process.env);
  const group = routerGroup(own.value, c);
  const log = await openLog(c, r.log);
  const cassandra = openCassandra(c);
  const redis = openRedis(c, (err) => r.log.warn({ err }, "redis unreachable; retrying"));
  const pg = openDirectory(c);
  const link = gatewayLink(c);
  // Webhook, Web Push, APNs and FCM as configured; gone registrations are deleted (nodes/push.ts).
  const push = openPush(own.value, r.config.SECRET, pg.directory);
  r.metrics.observeServices({ cql: cassandra.counter, kafka: log.stats });
  const routers: RouterHost[] = [];
  for (let i = 0; i < own.value.ROUTER_WORKERS; i++) {
    routers.push(
      new RouterHost(
        { log, messages: cassandra.messages, pending: cassandra.pending, directory: pg.directory, sessions: redis.sessions, link, push, clock: r.clock, timers: r.timers },
        {
          router_id: `${own.value.ROUTER_ID}-${i}`,
          machine: Number.parseInt(randomBytes(2).toString("hex"), 16) % 1024,
          limits: r.limits,
          push_preview_chars: own.value.PUSH_PREVIEW_CHARS,
          variant: "correct",
          group,
          member_id: `${own.value.ROUTER_ID}-${i}-${randomBytes(4).toString("hex")}`,
          call_timeout_ms: 10_000,
          poll_wait_ms: 500,
        },
        {
          observed: (what) => r.metrics.router.inc({ what }),
          delivery_failed: () => r.metrics.delivery_failures.inc(),
          call_done: (call, ms, ok) => r.metrics.router_calls.observe({ call, ok: String(ok) }, ms / 1000),
        },
      ),
    );
  }
  let ready = false;
  const app = createApp(r.log, r.limits, r.metrics, () => (ready ? "ok" : "starting"), undefined, { metrics_token: r.config.METRICS_TOKEN });
  await app.listen({ host: r.config.HOST, port: r.config.PORT });
  await Promise.all(routers.map((h) => new Promise<void>((ok) => h.start(() => ok()))));
  ready = true;
  const address = app.server.address();
  process.stdout.write(`router ${own.value.ROUTER_ID} consuming with ${routers.length} workers; health on http://${r.config.HOST}:${typeof address === "object" && address !== null ? address.port : r.config.PORT}\n`);
  onSignals(r, async () => {
    await Promise.all(routers.map((h) => new Promise<void>((ok) => h.stop(ok))));
    await app.close();
    link.close();
    await log.close();
    await Promise.all([cassandra.close(), redis.presence.close(), pg.close()]);
    await redis.close();
  });
}

main().catch(fatal("router"));

/**
 * `node dist/nodes/gateway.js`: holds WebSockets. GATEWAY_ID names it, GRPC_PORT is where
 * routers deliver to it. It registers itself (GATEWAY_ADVERTISE or HOST:GRPC_PORT, REGION,
 * load) in the gateway registry with a TTL unless GATEWAY_DISCOVERY=off; the address book of
 * the other gateways (for typing relays) is the registry plus the static GATEWAYS list.
 * SIGTERM drains: clients are told to reconnect elsewhere, then the process exits 0.
 */
import { startGatewayGrpcServer } from "../adapters/grpc/gateway-server-grpc.js";
import { Tokens } from "./auth.js";
import { parseEnv } from "./config.js";
import { GatewayAnnouncer } from "./hosts/gateway-announcer.js";
import { GatewayHost } from "./hosts/gateway-host.js";
import { createApp } from "./http/app.js";
import { wsCompressionFrom } from "./http/compression.js";
import { attachWebSocket } from "./http/websocket.js";
import { instrumentGateway } from "./observe.js";
import { mediaOwnership } from "./media.js";
import { advertisedAddress, gatewayEnv, gatewayLink, openGatewayRegistry, openBlobStore, openCassandra, openDirectory, openRedis, openRegionLogs, homeRegions, multiRegion, productionConfig } from "./production.js";
import { fatal, onSignals, role } from "./role.js";
import { subscribeSignOuts } from "../adapters/redis/index.js";
import { DeviceSessions } from "./sessions.js";

async function main(): Promise<void> {
  const r = role("gateway", process.env);
  const own = parseEnv(gatewayEnv, process.env);
  if (!own.ok) throw new Error(own.message);
  const c = productionConfig(process.env);
  // Where routers will reach this gateway: checked before anything starts.
  const advertised = advertisedAddress(r.config.HOST, own.value);
  if (!advertised.ok) throw new Error(advertised.message);
  const pg = openDirectory(c);
  // With several regions, a send or ack goes to its conversation's ordering region's log (nodes/regions.ts).
  // Opened before Redis: see nodes/router.ts (no await between openRedis and the script definitions).
  const homes = homeRegions(c, pg.directory);
  const logs = await openRegionLogs(c, homes, r.log);
  const log = logs.append;
  const cassandra = openCassandra(c);
  const redis = openRedis(c, (err) => r.log.warn({ err }, "redis unreachable; retrying"));
  const registry = openGatewayRegistry(c, redis.redis, (gateway_id, problem) => r.log.warn({ gateway_id, problem }, "malformed gateway registry entry skipped"));
  const { book, link } = gatewayLink(c, registry, { clock: r.clock, timers: r.timers }, {
    joined: (entry) => r.log.info({ gateway: entry }, "gateway discovered"),
    departed: (gateway_id) => r.log.info({ gateway_id }, "gateway departed"),
    refresh_failed: (reason) => r.log.warn({ reason }, "gateway registry unreachable; keeping the last address book"),
  });
  await book.start();
  const tokens = new Tokens(r.config.SECRET);
  // Only `current` is used here; retiring happens on api nodes.
  const sessions = new DeviceSessions({ directory: pg.directory, pending: null, limits: r.limits, signed_out: () => undefined });
  r.metrics.observeServices({ cql: cassandra.counter, kafka: logs.kafka[0]!.stats });
  const gateway = new GatewayHost(
    {
      log,
      pending: cassandra.pending,
      sessions: redis.sessions,
      presence: redis.presence,
      directory: pg.directory,
      link,
      media: mediaOwnership(tokens, openBlobStore(own.value, r.config.SECRET, r.clock)),
      clock: r.clock,
      timers: r.timers,
    },
    { gateway_id: own.value.GATEWAY_ID, limits: r.limits, call_timeout_ms: 5_000, session_ttl_ms: 3 * r.limits.heartbeatIntervalMs },
    instrumentGateway(r.metrics, r.clock),
  );
  const grpc = await startGatewayGrpcServer({ host: r.config.HOST, port: own.value.GRPC_PORT, gateway_id: own.value.GATEWAY_ID, receive: (d) => gateway.receive(d) });
  // Discovery: register this gateway (address, region, load) with a TTL; removed on drain.
  const announcer =
    registry === null
      ? null
      : new GatewayAnnouncer(
          registry,
          { clock: r.clock, timers: r.timers },
          () => ({ gateway_id: own.value.GATEWAY_ID, address: advertised.address, region: c.REGION, load: gateway.connectionCount }),
          c.GATEWAY_REGISTRY_TTL_MS,
          (reason) => r.log.warn({ reason }, "gateway registration failed; retrying"),
        );
  await announcer?.start();
  let ready = false;
  const app = createApp(r.log, r.limits, r.metrics, () => (!ready ? "starting" : gateway.isDraining ? "draining" : "ok"), () => r.metrics.connections.set(gateway.connectionCount), { metrics_token: r.config.METRICS_TOKEN });
  const ws = attachWebSocket(app.server, {
    gateway,
    tokens,
    clock: r.clock,
    frame_bytes_max: r.limits.frameBytesMax,
    send_buffer_bytes_max: 4 * 1024 * 1024,
    ping_interval_ms: 30_000,
    connections_per_address_max: own.value.CONNECTIONS_PER_ADDRESS_MAX,
    compression: wsCompressionFrom(own.value),
    device_current: (user_id, device_id) => sessions.current(user_id, device_id),
    // A user's devices connect in their home region, where their pending entries are.
    ...(multiRegion(c)
      ? { region_check: async (user_id: string) => {
          const home = (await homes.homeOf([user_id])).get(user_id) ?? homes.fallback;
          return home === c.REGION ? null : `This user's home region is ${home}; connect to a gateway of ${home}, not ${c.REGION}.`;
        } }
      : {}),
  });
  // Devices signed out on an api node: their open sockets here close (4001).
  const sign_outs = await subscribeSignOuts(redis.redis, (user_id, device_ids) => void ws.signOut(user_id, device_ids), (err) => r.log.warn({ err }, "sign-out subscriber: redis unreachable; retrying"));
  await app.listen({ host: r.config.HOST, port: r.config.PORT });
  ready = true;
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : r.config.PORT;
  process.stdout.write(`gateway ${own.value.GATEWAY_ID} listening: ws://${r.config.HOST}:${port}/ws grpc ${r.config.HOST}:${grpc.port}\n`);
  onSignals(r, async () => {
    await announcer?.stop();
    gateway.drain();
    await new Promise((res) => setTimeout(res, Math.min(500, r.config.DRAIN_TIMEOUT_MS)));
    ws.close();
    await sign_outs.close();
    await app.close();
    await grpc.close();
    book.stop();
    link.close();
    await log.close();
    await Promise.all([cassandra.close(), redis.presence.close(), pg.close()]);
    await redis.close();
  });
}

main().catch(fatal("gateway"));

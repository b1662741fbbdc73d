/**
 * `node dist/nodes/relay.js`: a region's relay (docs/OPERATIONS.md, "Regions"). It drains this
 * region's outbox towards every other region (core/region/relay.ts through
 * nodes/hosts/relay-host.ts: in order, one batch per crossing, trimmed only once the
 * destination answered, retried with capped backoff, never dropped) and applies the batches
 * other regions' relays send it (pending store, then the gateways of this region).
 *
 * It listens on PORT (its address in REGIONS): `POST /relay/v1/batch` with a JSON body
 * `{from, ops}` signed by `x-relay-signature` (HMAC-SHA256 of the body with the `relay` key
 * derived from SECRET, which every node of the deployment shares), /healthz and /metrics.
 * Needs more than one region in REGIONS. SIGTERM stops draining; untrimmed items stay in
 * the outbox for the next start.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { decodeBody } from "../core/protocol/decode.js";
import { relayBatchSchema, type RelayOp } from "../core/region/index.js";
import { OutboxPostgres } from "../adapters/postgres/outbox-postgres.js";
import { createApp } from "./http/app.js";
import { fail, failWith } from "./http/errors.js";
import { RelayHost } from "./hosts/relay-host.js";
import { deriveKey } from "./keys.js";
import { gatewayLink, multiRegion, openCassandra, openDirectory, openGatewayRegistry, openRedis, productionConfig } from "./production.js";
import { fatal, onSignals, role } from "./role.js";

/** A batch's body may carry a group's entries with long texts: well above the API's body limit. */
const RELAY_BODY_BYTES_MAX = 16 * 1024 * 1024;
const RELAY_CALL_TIMEOUT_MS = 5_000;

async function main(): Promise<void> {
  const r = role("relay", process.env);
  const c = productionConfig(process.env);
  if (!multiRegion(c)) throw new Error("Invalid configuration: REGIONS: a relay needs at least two regions (name=host:port,...), this deployment has one.");
  const key = deriveKey(r.config.SECRET, "relay");
  const sign = (body: string): string => createHmac("sha256", key).update(body).digest("hex");
  const cassandra = openCassandra(c);
  const redis = openRedis(c, (err) => r.log.warn({ err }, "redis unreachable; retrying"));
  const pg = openDirectory(c);
  const registry = openGatewayRegistry(c, redis.redis, (gateway_id, problem) => r.log.warn({ gateway_id, problem }, "malformed gateway registry entry skipped"));
  const { book, link } = gatewayLink(c, registry, { clock: r.clock, timers: r.timers }, {
    refresh_failed: (reason) => r.log.warn({ reason }, "gateway registry unreachable; keeping the last address book"),
  });
  await book.start();
  const outbox = new OutboxPostgres(pg.pool, c.REGION);

  const send = async (dest: string, ops: readonly RelayOp[]): Promise<void> => {
    const address = c.REGIONS.get(dest);
    if (address === undefined) throw new Error(`no relay address for region ${dest}`);
    const body = JSON.stringify({ from: c.REGION, ops });
    const res = await fetch(`http://${address}/relay/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-relay-signature": sign(body) },
      body,
      signal: AbortSignal.timeout(RELAY_CALL_TIMEOUT_MS),
    });
    if (res.status !== 200) throw new Error(`relay ${dest} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    await res.arrayBuffer().catch(() => undefined);
  };

  const host = new RelayHost(
    { outbox, send, pending: cassandra.pending, sessions: redis.sessions, link, clock: r.clock, timers: r.timers },
    { region: c.REGION, destinations: [...c.REGIONS.keys()], call_timeout_ms: RELAY_CALL_TIMEOUT_MS + 1_000 },
    {
      observed: (what, dest) => r.metrics.router.inc({ what: `${what}_${dest}` }),
      applied: (from, ops, puts) => r.log.debug({ from, ops, puts }, "relayed batch applied"),
      call_failed: (call, dest, reason) => r.log.warn({ call, dest, reason }, "relay call failed; retrying with backoff"),
    },
  );

  let ready = false;
  const app = createApp(r.log, { ...r.limits, bodyBytesMax: RELAY_BODY_BYTES_MAX }, r.metrics, () => (ready ? "ok" : "starting"), undefined, { metrics_token: r.config.METRICS_TOKEN });
  // Each lane's phase and failed attempts, and how many operations wait in this region's outbox.
  app.get("/relay/v1/lanes", async (_req, reply) => reply.send({ region: c.REGION, lanes: host.lanesNow(), outbox: await outbox.size().catch(() => null) }));
  app.post("/relay/v1/batch", async (req, reply) => {
    const text = typeof req.body === "string" ? req.body : "";
    const given = Buffer.from(String(req.headers["x-relay-signature"] ?? ""), "utf8");
    const wanted = Buffer.from(sign(text), "utf8");
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return fail(reply, "UNAUTHENTICATED", "x-relay-signature must be the HMAC-SHA256 of the body with the relay key (derived from SECRET).");
    const decoded = decodeBody(relayBatchSchema, text, RELAY_BODY_BYTES_MAX);
    if (!decoded.ok) return failWith(reply, decoded.error);
    const batch = decoded.value;
    if (batch.from === c.REGION || !c.REGIONS.has(batch.from)) return fail(reply, "MALFORMED_REQUEST", `from: ${batch.from} is not another region of REGIONS.`);
    try {
      await host.receive(batch.from, batch.ops);
    } catch (err) {
      r.log.warn({ err, from: batch.from }, "relayed batch not applied; the sender retries");
      return fail(reply, "STORE_UNAVAILABLE", "The batch could not be applied to this region's pending store yet; retry.");
    }
    return reply.send({ applied: batch.ops.length });
  });
  await app.listen({ host: r.config.HOST, port: r.config.PORT });
  host.start();
  ready = true;
  process.stdout.write(`relay ${c.REGION} draining towards ${[...c.REGIONS.keys()].filter((k) => k !== c.REGION).join(",")}; listening on ${r.config.HOST}:${r.config.PORT}\n`);
  onSignals(r, async () => {
    host.stop();
    await app.close();
    book.stop();
    link.close();
    await Promise.all([cassandra.close(), redis.presence.close(), pg.close()]);
    await redis.close();
  });
}

main().catch(fatal("relay"));

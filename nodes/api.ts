/**
 * `node dist/nodes/api.js`: the REST API (sign-up, sessions, history, groups, presence,
 * media, devices) and the web page, on PORT. Media live under MEDIA_DIR behind signed URLs.
 */
import { resolve } from "node:path";
import { BlobStoreS3 } from "../adapters/blob/blob-store-s3.js";
import { Tokens } from "./auth.js";
import { BlobStoreLocal } from "../adapters/blob/blob-store-local.js";
import { parseEnv } from "./config.js";
import { registerApi } from "./http/api.js";
import { createApp } from "./http/app.js";
import { serveStatic } from "./http/static.js";
import { publishSignOut } from "../adapters/redis/index.js";
import { DEVICE_SWEEP_INTERVAL_MS, DeviceSessions } from "./sessions.js";
import { apiEnv, homeRegionDefault, multiRegion, openBlobStore, openCassandra, openDirectory, openRedis, productionConfig } from "./production.js";
import { fatal, onSignals, role } from "./role.js";
import { MEDIA_SWEEP_INTERVAL_MS } from "./media.js";

async function main(): Promise<void> {
  const r = role("api", process.env);
  const own = parseEnv(apiEnv, process.env);
  if (!own.ok) throw new Error(own.message);
  const c = productionConfig(process.env);
  const cassandra = openCassandra(c);
  const redis = openRedis(c, (err) => r.log.warn({ err }, "redis unreachable; retrying"));
  const pg = openDirectory(c);
  const blobs = openBlobStore(own.value, r.config.SECRET, r.clock);
  // A fresh local S3 (s3proxy) has no bucket yet; on AWS this is one HEAD.
  if (blobs instanceof BlobStoreS3) await blobs.ensureBucket();
  let listening = `http://${r.config.HOST}:${r.config.PORT}`;
  let ready = false;
  // Uploads that never came are deleted now and then (every api node may; deleting one twice
  // is harmless): in the folder, expired declarations and resumable uploads with their parts;
  // on S3, expired resumable (multipart) uploads with their parts, while a lifecycle rule
  // expires the declarations of single PUTs (docs/OPERATIONS.md).
  const sweeper = setInterval(() => {
    const now = r.clock.now();
    const swept = blobs instanceof BlobStoreLocal ? blobs.sweep(now) : blobs.abortExpired(now);
    void swept.catch((err: unknown) => r.log.warn({ err }, "media sweep failed"));
  }, MEDIA_SWEEP_INTERVAL_MS);
  sweeper.unref();
  // A retired device's sockets live on the gateways: they hear of it over Redis.
  const sessions = new DeviceSessions({
    directory: pg.directory,
    pending: cassandra.pending,
    limits: r.limits,
    signed_out: (user_id, device_ids) => void publishSignOut(redis.redis, user_id, device_ids).catch((err: unknown) => r.log.warn({ err }, "sign-out not published; sockets close on their own")),
    warn: (err, what) => r.log.warn({ err }, what),
  });
  // Devices whose token expired go with their pending partitions (every api node may sweep;
  // a device retired twice is retired once).
  const device_sweeper = setInterval(() => void sessions.sweepExpired(r.clock.now()).catch((err: unknown) => r.log.warn({ err }, "expired device sweep failed")), DEVICE_SWEEP_INTERVAL_MS);
  device_sweeper.unref();
  const app = createApp(r.log, r.limits, r.metrics, () => (ready ? "ok" : "starting"), undefined, { metrics_token: r.config.METRICS_TOKEN });
  registerApi(app, {
    directory: pg.directory,
    messages: cassandra.messages,
    presence: redis.presence,
    blobs,
    tokens: new Tokens(r.config.SECRET),
    clock: r.clock,
    random: r.random,
    limits: r.limits,
    public_url: () => own.value.PUBLIC_URL ?? listening,
    rest_burst: 200,
    rest_per_second: 50,
    sessions,
    // Recorded at sign-up only when the deployment has several regions (docs/OPERATIONS.md, "Regions").
    ...(multiRegion(c) ? { regions: { names: new Set(c.REGIONS.keys()), fallback: homeRegionDefault(c) } } : {}),
  });
  serveStatic(app, resolve(own.value.WEB_DIR));
  await app.listen({ host: r.config.HOST, port: r.config.PORT });
  const address = app.server.address();
  listening = `http://${r.config.HOST}:${typeof address === "object" && address !== null ? address.port : r.config.PORT}`;
  ready = true;
  process.stdout.write(`api listening: ${listening}\n`);
  onSignals(r, async () => {
    clearInterval(device_sweeper);
    clearInterval(sweeper);
    await app.close();
    await Promise.all([cassandra.close(), redis.presence.close(), pg.close()]);
    await redis.close();
  });
}

main().catch(fatal("api"));

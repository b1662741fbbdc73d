/**
 * The production roles as a cluster, in make test: the four real services (started by
 * deploy/services.sh when their ports are closed), migrations into a keyspace and a topic of
 * this run's own (and so a consumer group of its own), two gateways, two routers and an api
 * node as separate processes. Media go to S3 (s3proxy, started the same way), as in
 * production; CLUSTER_E2E_MEDIA=folder puts them in a shared folder instead. Whichever is
 * chosen, the S3_* variables of the nodes are this file's, never the caller's: an exported
 * `deploy/services.sh env` must not change which world is tested. Then the end-to-end
 * scenarios and the smoke run with users on
 * both gateways, and the fault run: kill -9 of a gateway and a router under steady traffic,
 * restart, and the invariant checkers over the clients' histories. Each node's output is
 * kept in a temporary folder, printed at the end when a test failed.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ensureService } from "../adapters/contract/services.js";
import { databaseUrlFromEnv } from "../adapters/postgres/pool.js";
import { cassandraPending, killAndRestart, runClusterFault } from "./cluster.fault.js";
import { runClusterSmoke, type Endpoints } from "./testing/cluster-smoke.js";
import { registerE2E } from "./testing/e2e-suite.js";
import { startPushStandIns, type PushStandIns } from "./testing/push-stand-ins.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const run = randomBytes(4).toString("hex");
const media = mkdtempSync(join(tmpdir(), "chat-cluster-"));
/** Every node's output, kept after a failed run: `<tmp>/chat-cluster-logs-<run>/<node>.log`. */
const logs = mkdtempSync(join(tmpdir(), `chat-cluster-logs-${run}-`));
let failed = false;
const children = new Map<string, ChildProcess>();
let endpoints: Endpoints;
let env: Record<string, string>;
/** APNs and FCM stand-ins the routers push to: the production router's providers, for real. */
let push: PushStandIns;
const ports: Record<string, number> = {};
const MEDIA: "folder" | "s3" = process.env.CLUSTER_E2E_MEDIA === "folder" ? "folder" : "s3";
/** The local S3 of deploy/services/s3proxy.sh, under a prefix of this run's own. */
const S3_ENV = {
  S3_ENDPOINT: "http://127.0.0.1:9100",
  S3_BUCKET: "chat-media",
  S3_REGION: "us-east-1",
  S3_ACCESS_KEY_ID: "chat-local-access",
  S3_SECRET_ACCESS_KEY: "chat-local-secret-key-0123456789",
  S3_FORCE_PATH_STYLE: "1",
  S3_PREFIX: `e2e-${run}/`,
};

/** The caller's environment without any S3_* variable: this file decides where media go. */
function inherited(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("S3_")));
}

function freePort(): Promise<number> {
  return new Promise((ok, no) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a !== null ? ok(a.port) : no(new Error("no port"))));
    });
  });
}

function start(name: string, script: string, extra: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, `nodes/${script}.ts`)], { cwd: root, env: { ...inherited(), ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
  children.set(name, child);
  let out = "";
  const keep = (d: Buffer): void => {
    out += d.toString();
    try {
      appendFileSync(join(logs, `${name}.log`), d);
    } catch {
      // The run is over and its logs were removed; a last line of output is not worth a failure.
    }
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return new Promise((ok, no) => {
    const timer = setTimeout(() => no(new Error(`${name} not ready in 90 s:\n${out.slice(-3000)}`)), 90_000);
    const poll = setInterval(() => {
      if (/listening|consuming/.test(out)) {
        clearInterval(poll);
        clearTimeout(timer);
        ok();
      }
    }, 100);
    child.once("exit", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      if (code !== null && code !== 0) no(new Error(`${name} exited ${code}:\n${out.slice(-3000)}`));
    });
  });
}

const startGateway = (i: number): Promise<void> => start(`gw-${i}`, "gateway", { GATEWAY_ID: `gw-${i}`, PORT: String(ports[`gw-${i}`]), GRPC_PORT: String(ports[`grpc-${i}`]) });
const startRouter = (i: number): Promise<void> => start(`router-${i}`, "router", { ROUTER_ID: `router-${i}` });

beforeAll(async () => {
  await Promise.all([ensureService("redis", 6379), ensureService("postgres", 5432)]);
  await ensureService("kafka", 9092, 300_000);
  await ensureService("cassandra", 9042, 400_000);
  if (MEDIA === "s3") await ensureService("s3proxy", 9100, 180_000);
  // CLUSTER_E2E_PORT_BASE: consecutive ports from there (on a shared box with a port range of one's own).
  const base = Number(process.env.CLUSTER_E2E_PORT_BASE ?? 0);
  for (const [i, k] of ["gw-0", "gw-1", "grpc-0", "grpc-1", "api"].entries()) ports[k] = base > 0 ? base + i : await freePort();
  push = await startPushStandIns(media);
  env = {
    ...push.env,
    SECRET: randomBytes(32).toString("base64url"),
    LOG_LEVEL: "warn",
    LOG_TOPIC: `chat-log-e2e-${run}`,
    LOG_PARTITIONS: "8",
    CASSANDRA_KEYSPACE: `chat_e2e_${run}`,
    // No GATEWAYS: routers and gateways find each other through the gateway registry in Redis
    // (discovery, registry `gateways.<LOG_TOPIC>`); cluster.fault.ts keeps the static list.
    MEDIA_DIR: media,
    ...(MEDIA === "s3" ? S3_ENV : {}),
    // Production roles have no default DATABASE_URL (it would carry a password): the local one.
    DATABASE_URL: databaseUrlFromEnv(),
  };
  execFileSync(process.execPath, ["--import", "tsx", join(root, "nodes/migrate.ts")], { cwd: root, env: { ...inherited(), ...env }, stdio: "pipe", timeout: 120_000 });
  await Promise.all([startGateway(0), startGateway(1), startRouter(0), startRouter(1), start("api", "api", { PORT: String(ports.api) })]);
  endpoints = { api: `http://127.0.0.1:${ports.api}`, gateways: [0, 1].map((i) => `ws://127.0.0.1:${ports[`gw-${i}`]}/ws`) };
}, 600_000);

afterAll(async () => {
  // Wait for each node's pipes to close, so no late output is written after the logs go.
  await Promise.all(
    [...children.values()].map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          c.once("close", () => done());
          c.kill("SIGKILL");
        }),
    ),
  );
  await push?.close();
  rmSync(media, { recursive: true, force: true });
  if (failed) console.log(`cluster node logs kept in ${logs}`);
  else rmSync(logs, { recursive: true, force: true });
});

afterEach((context) => {
  if (context.task.result?.state === "fail") failed = true;
});

// The all-in-one node's end-to-end scenarios, users alternating between the two gateways.
registerE2E("cluster", () => ({ api: endpoints.api, gateways: endpoints.gateways.map((g) => g.replace(/^ws/, "http").replace(/\/ws$/, "")), push, media: MEDIA }));

it("smoke: messages, receipts, retries, groups and offline replay across two gateways", async () => {
  const lines: string[] = [];
  const checks = await runClusterSmoke(endpoints, (l) => lines.push(l));
  expect(checks).toBe(6);
}, 120_000);

it("kill -9 of a gateway and a router under traffic: the checkers find no violation", async () => {
  const lines: string[] = [];
  const pending = cassandraPending(env);
  const report = await runClusterFault(
    endpoints,
    killAndRestart(
      () => {
        children.get("gw-1")?.kill("SIGKILL");
        children.get("router-0")?.kill("SIGKILL");
      },
      () => {
        void startGateway(1);
        void startRouter(0);
      },
    ),
    pending,
    (l) => lines.push(l),
  ).finally(() => pending.close());
  console.log(`cluster fault run: ${report.sends} sends, ${report.ok} ok, ${report.deliveries} deliveries, healed in ${report.healed_ms} ms\n${lines.filter((l) => /^ {2}\d| judged/.test(l) || l.startsWith("what each")).join("\n")}`);
  if (report.violations.length > 0) console.log(lines.join("\n"));
  expect(report.sends).toBeGreaterThan(50);
  // Every send of a device online at the end is answered: ok, or refused for good (a
  // leaver's send to its old group). A device gone for good may leave some unanswered.
  const online = new Set(report.history.final.connected.map((d) => d.device_id));
  expect(report.history.sends.filter((s) => s.outcome === "info" && online.has(s.device.device_id))).toEqual([]);
  expect(report.violations.map((v) => `[${v.invariant} ${v.name}] ${v.message}`)).toEqual([]);
  // Every checker judged real data: nothing passed vacuously.
  expect(report.verdicts.filter((v) => Object.values(v.judged).every((k) => k === 0)).map((v) => v.name)).toEqual([]);
}, 360_000);

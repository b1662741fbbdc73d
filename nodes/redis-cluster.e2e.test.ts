/**
 * The production cluster on a Redis Cluster: two gateways, two routers and an api node (real
 * processes, on ports 9300-9399) with REDIS_CLUSTER_NODES instead of REDIS_URL, so sessions,
 * presence (sharded pub/sub), machine leases and the gateway registry all live on the six-node
 * cluster of `deploy/services.sh up redis-cluster`. Under the fault run's traffic, one Redis
 * master is killed with kill -9 (a replica takes over) and started again later; the clients'
 * histories then go to the invariant checkers. Kafka, Cassandra and PostgreSQL as for the
 * other cluster tests (started by deploy/services.sh when their ports are closed).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ensureService } from "../adapters/contract/services.js";
import { cassandraPending, runClusterFault, type FaultPlan } from "./cluster.fault.js";
import type { Endpoints } from "./testing/cluster-smoke.js";
import { databaseUrlFromEnv } from "../adapters/postgres/pool.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REDIS_CLUSTER = join(root, "deploy/services/redis-cluster.sh");
const run = randomBytes(4).toString("hex");
const media = mkdtempSync(join(tmpdir(), "chat-redis-cluster-"));
const children = new Map<string, ChildProcess>();
const output = new Map<string, string>();
/** Ports in 9300-9399 (this box's agreement: 8100-8202 and 7101-7102 belong to `make cluster-up`). */
const PORTS = { "gw-0": 9301, "gw-1": 9302, "grpc-0": 9311, "grpc-1": 9312, api: 9320, "router-0": 9331, "router-1": 9332 } as const;
let env: Record<string, string>;
let endpoints: Endpoints;

function start(name: keyof typeof PORTS, script: string, extra: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, `nodes/${script}.ts`)], { cwd: root, env: { ...process.env, ...env, PORT: String(PORTS[name]), ...extra }, stdio: ["ignore", "pipe", "pipe"] });
  children.set(name, child);
  output.set(name, "");
  const keep = (d: Buffer): void => void output.set(name, (output.get(name) ?? "") + d.toString());
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return new Promise((ok, no) => {
    const timer = setTimeout(() => no(new Error(`${name} not ready in 90 s:\n${(output.get(name) ?? "").slice(-3000)}`)), 90_000);
    const poll = setInterval(() => {
      if (/listening|consuming/.test(output.get(name) ?? "")) {
        clearInterval(poll);
        clearTimeout(timer);
        ok();
      }
    }, 100);
    child.once("exit", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      if (code !== null && code !== 0) no(new Error(`${name} exited ${code}:\n${(output.get(name) ?? "").slice(-3000)}`));
    });
  });
}

beforeAll(async () => {
  await Promise.all([ensureService("redis", 6379), ensureService("postgres", 5432), ensureService("redis-cluster", 7200)]);
  await ensureService("kafka", 9092, 300_000);
  await ensureService("cassandra", 9042, 400_000);
  const nodes = execFileSync(REDIS_CLUSTER, ["env"], { encoding: "utf8" }).match(/REDIS_CLUSTER_NODES=(\S+)/)?.[1] ?? "";
  env = {
    SECRET: randomBytes(32).toString("base64url"),
    LOG_LEVEL: "warn",
    LOG_TOPIC: `chat-log-rc-${run}`,
    LOG_PARTITIONS: "8",
    CASSANDRA_KEYSPACE: `chat_rc_${run}`,
    REDIS_CLUSTER_NODES: nodes,
    // Production roles have no default DATABASE_URL (issue 14): the local one.
    DATABASE_URL: databaseUrlFromEnv(),
    MACHINE_LEASE_PREFIX: `chat-rc-${run}:`,
    MEDIA_DIR: media,
  };
  execFileSync(process.execPath, ["--import", "tsx", join(root, "nodes/migrate.ts")], { cwd: root, env: { ...process.env, ...env }, stdio: "pipe", timeout: 120_000 });
  await Promise.all([
    start("gw-0", "gateway", { GATEWAY_ID: "gw-0", GRPC_PORT: String(PORTS["grpc-0"]) }),
    start("gw-1", "gateway", { GATEWAY_ID: "gw-1", GRPC_PORT: String(PORTS["grpc-1"]) }),
    start("router-0", "router", { ROUTER_ID: "router-0" }),
    start("router-1", "router", { ROUTER_ID: "router-1" }),
    start("api", "api", {}),
  ]);
  endpoints = { api: `http://127.0.0.1:${PORTS.api}`, gateways: [`ws://127.0.0.1:${PORTS["gw-0"]}/ws`, `ws://127.0.0.1:${PORTS["gw-1"]}/ws`] };
}, 600_000);

afterAll(async () => {
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
  rmSync(media, { recursive: true, force: true });
  // The killed Redis node comes back as a replica, so the next suite finds six nodes.
  execFileSync(REDIS_CLUSTER, ["up"], { encoding: "utf8", timeout: 90_000 });
}, 120_000);

it("kill -9 of a Redis Cluster master under traffic: the checkers find no violation", async () => {
  const lines: string[] = [];
  let killed = "";
  const plan: FaultPlan = {
    traffic_ms: 15_000,
    heal_ms: 90_000,
    actions: [
      { at_ms: 3_000, label: "kill -9 a Redis Cluster master", run: () => void (killed = execFileSync(REDIS_CLUSTER, ["kill-master"], { encoding: "utf8" }).trim()) },
      { at_ms: 10_000, label: "start it again (it rejoins as a replica)", run: () => void execFileSync(REDIS_CLUSTER, ["up"], { encoding: "utf8", timeout: 60_000 }) },
    ],
  };
  const pending = cassandraPending(env);
  const report = await runClusterFault(endpoints, plan, pending, (l) => lines.push(l)).finally(() => pending.close());
  console.log(`redis cluster fault run: killed master ${killed}; ${report.sends} sends, ${report.ok} ok, ${report.deliveries} deliveries, healed in ${report.healed_ms} ms`);
  if (report.violations.length > 0) {
    console.log(lines.join("\n"));
    for (const [name, out] of output) console.log(`--- ${name}\n${out.slice(-2000)}`);
  }
  expect(killed).toMatch(/^\d+$/);
  expect(report.sends).toBeGreaterThan(50);
  // Every send of a device online at the end is answered: ok, or refused for good (a
  // leaver's send to its old group). A device gone for good may leave some unanswered.
  const online = new Set(report.history.final.connected.map((d) => d.device_id));
  expect(report.history.sends.filter((s) => s.outcome === "info" && online.has(s.device.device_id))).toEqual([]);
  expect(report.violations.map((v) => `[${v.invariant} ${v.name}] ${v.message}`)).toEqual([]);
}, 400_000);

/**
 * The per-message cost of the running cluster (`make cluster-up` first): drives the same
 * open-loop generator as bench-cluster, and for each step reads, before and after,
 * every process's CPU (/proc/PID/stat: each node role and each service, by pidfile and
 * process tree) and the nodes' own /metrics (CQL statements by kind and table, Kafka records,
 * bytes and commits, router call latencies). Prints and writes per-message figures:
 *
 *   npx tsx bench/load/cluster-cost.ts [USERS=200 RATES=100,400 SECONDS=10 WARMUP_SECONDS=3 OUT=...]
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { cpuMs, pidTree, root, servicePids } from "./harness.js";

const USERS = Number(process.env.USERS ?? 200);
const RATES = process.env.RATES ?? "100,400";
const SECONDS = Number(process.env.SECONDS ?? 10);
const WARMUP = process.env.WARMUP_SECONDS ?? "3";
const OUT = process.env.OUT ?? join(root, "bench/results/cluster-cost.json");

const endpoints = JSON.parse(readFileSync(join(root, ".cluster/endpoints.json"), "utf8")) as { api: string; gateways: string[] };
const BASE = Number(process.env.CLUSTER_PORT_BASE ?? 8100);
const NODE_PORTS: Record<string, number> = { "gw-0": BASE + 1, "gw-1": BASE + 2, "router-0": BASE + 101, "router-1": BASE + 102, api: BASE };

function pidOf(file: string): number | null {
  if (!existsSync(file)) return null;
  const n = Number(readFileSync(file, "utf8").split("\n")[0]);
  return Number.isInteger(n) && n > 0 ? n : null;
}

function services(): Record<string, number[]> {
  const s = (p: string): number[] => {
    const pid = pidOf(join(root, p));
    return pid === null ? [] : pidTree(pid);
  };
  return {
    "gw-0": s(".cluster/gw-0.pid"),
    "gw-1": s(".cluster/gw-1.pid"),
    "router-0": s(".cluster/router-0.pid"),
    "router-1": s(".cluster/router-1.pid"),
    api: s(".cluster/api.pid"),
    kafka: servicePids("kafka", join(root, ".services/kafka/kafka.pid")),
    cassandra: servicePids("cassandra", join(root, ".services/cassandra/cassandra.pid")),
    redis: servicePids("redis", join(root, ".services/redis/redis.pid")),
    postgres: servicePids("postgres", join(root, ".services/postgres/data/postmaster.pid")),
  };
}

type Sample = { cpu: Record<string, number>; metrics: Record<string, number> };

async function scrape(): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const [node, port] of Object.entries(NODE_PORTS)) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
    for (const line of text.split("\n")) {
      const m = /^(chat_(?:cql|kafka|router_call_seconds_(?:sum|count)|router_events_total|stage_seconds_bucket|delivery_seconds_bucket)[a-z_]*|nodejs_gc_duration_seconds_(?:sum|count))(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (m === null) continue;
      const role = node.startsWith("gw") ? "gateway" : node === "api" ? "api" : "router";
      const key = `${role} ${m[1]}${m[2] ?? ""}`;
      totals[key] = (totals[key] ?? 0) + Number(m[3]);
    }
  }
  return totals;
}

async function sample(): Promise<Sample> {
  const cpu: Record<string, number> = {};
  for (const [name, pids] of Object.entries(services())) cpu[name] = cpuMs(pids);
  return { cpu, metrics: await scrape() };
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b)) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** p50 / p99 per stage from histogram buckets summed over nodes (the bucket's upper bound, ms). */
function stageQuantiles(metrics: Record<string, number>): Record<string, string> {
  const stages = new Map<string, [number, number][]>();
  for (const [k, v] of Object.entries(metrics)) {
    const m = /chat_(stage|delivery)_seconds_bucket\{(.*)\}/.exec(k);
    if (m === null) continue;
    const stage = m[1] === "delivery" ? "socket" : (/stage="([a-z_]+)"/.exec(m[2]!)?.[1] ?? "?");
    const bound = /le="([^"]+)"/.exec(m[2]!)?.[1] ?? "+Inf";
    const le = bound === "+Inf" ? Infinity : Number(bound);
    const list = stages.get(stage) ?? [];
    const found = list.find(([b]) => b === le);
    if (found !== undefined) found[1] += v;
    else list.push([le, v]);
    stages.set(stage, list);
  }
  const out: Record<string, string> = {};
  for (const [stage, list] of stages) {
    list.sort((a, b) => a[0] - b[0]);
    const total = list[list.length - 1]?.[1] ?? 0;
    if (total === 0) continue;
    const q = (f: number): string => {
      const bound = list.find(([, c]) => c >= f * total)?.[0] ?? Infinity;
      return bound === Infinity ? ">5000" : String(bound * 1000);
    };
    out[stage] = `n ${total}, p50 <= ${q(0.5)}, p90 <= ${q(0.9)}, p99 <= ${q(0.99)}`;
  }
  return out;
}

async function main(): Promise<void> {
  const args = ["--url", endpoints.api, "--ws", endpoints.gateways.join(","), "--users", String(USERS), "--rates", RATES, "--seconds", String(SECONDS), "--signup-batch", "10", "--warmup-seconds", WARMUP];
  const gen = spawn(process.execPath, ["--import", "tsx", join(root, "bench/load/generator.ts"), ...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const results: unknown[] = [];
  let before: Sample | null = null;
  let buffer = "";
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  gen.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
    }
    wake?.();
  });
  let exited = false;
  gen.once("exit", () => {
    exited = true;
    wake?.();
  });
  for (;;) {
    if (lines.length === 0) {
      if (exited) break;
      await new Promise<void>((r) => (wake = r));
      wake = null;
      continue;
    }
    const msg = JSON.parse(lines.shift()!) as Record<string, any>;
    if (msg.phase === "step_start") before = await sample();
    if (msg.phase !== "step" && msg.phase !== "warmup") continue;
    if (before === null) continue;
    const after = await sample();
    const delivered = msg.delivered as number;
    const cpu = diff(before.cpu, after.cpu);
    const metrics = diff(before.metrics, after.metrics);
    const per = (x: number): number => Number((x / Math.max(1, delivered)).toFixed(3));
    const row = {
      phase: msg.phase,
      offered_per_s: msg.offered_per_s,
      delivered_per_s: msg.delivered_per_s,
      p50_ms: msg.p50_ms,
      p99_ms: msg.p99_ms,
      undelivered: msg.undelivered,
      load_average: loadavg().map((x) => Number(x.toFixed(2))),
      cpu_us_per_message: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Math.round((v * 1000) / Math.max(1, delivered))])),
      cpu_us_per_message_total: Math.round((Object.values(cpu).reduce((a, b) => a + b, 0) * 1000) / Math.max(1, delivered)),
      per_message: Object.fromEntries(Object.entries(metrics).filter(([k]) => !k.includes("latency_ms") && !k.includes("_sum") && !k.includes("_bucket")).map(([k, v]) => [k, per(v)])),
      // V8's collections per role (wall time of each pause, summed over the role's processes).
      gc_ms_per_message: Object.fromEntries(Object.entries(metrics).filter(([k]) => k.includes("nodejs_gc_duration_seconds_sum")).map(([k, v]) => [k.replace(" nodejs_gc_duration_seconds_sum", ""), Number(((v * 1000) / Math.max(1, delivered)).toFixed(3))])),
      router_call_ms_mean: Object.fromEntries(
        Object.entries(metrics)
          .filter(([k]) => k.includes("router_call_seconds_sum"))
          .map(([k, v]) => [k.replace(/^router chat_router_call_seconds_sum/, ""), Number(((v * 1000) / Math.max(1, metrics[k.replace("_sum", "_count")] ?? 1)).toFixed(2))]),
      ),
      // Where a message's time goes (chat_stage_seconds, from the gateway's accept; "socket" is
      // the gateway's chat_delivery_seconds): the bucket bound at or above each quantile, ms.
      stage_ms: stageQuantiles(metrics),
      cql_latency_ms_mean: Object.fromEntries(
        Object.entries(metrics)
          .filter(([k]) => k.includes("chat_cql_latency_ms"))
          .map(([k, v]) => [k, Number((v / Math.max(1, metrics[k.replace("latency_ms", "count")] ?? 1)).toFixed(2))]),
      ),
    };
    results.push(row);
    console.log(JSON.stringify(row, null, 1));
    before = null;
  }
  writeFileSync(OUT, `${JSON.stringify({ at: new Date().toISOString(), users: USERS, seconds: SECONDS, rows: results }, null, 2)}\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

/**
 * Throughput and delivery latency through the local cluster (`make cluster-up` first): the
 * same open-loop generator as bench-load, users spread over both gateways, REST on the api
 * node; then, as the baseline measured in the same run, a bare WebSocket relay under the same
 * generator. Writes bench/results/cluster.json and a chart, bench/results/cluster.svg
 * (delivered/s and p99 against offered/s, cluster and relay). The load average is recorded
 * before and after: on a shared 2-core box it says how much of the machine the run had.
 * CPU is summed over every process of the cluster (node roles and the four services).
 *
 *   make bench-cluster [USERS=200 RATES=100,200,400,800 SECONDS=15 WARMUP_SECONDS=5]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { renderChart } from "../peer/chart.js";
import { drive, pidTree, relayBaseline, root, servicePids, withBaseline } from "./harness.js";

const endpoints = JSON.parse(readFileSync(join(root, ".cluster/endpoints.json"), "utf8")) as { api: string; gateways: string[] };
const USERS = Number(process.env.USERS ?? 200);
const RATES = process.env.RATES ?? "100,200,400,800";
const SECONDS = Number(process.env.SECONDS ?? 15);
const WARMUP = process.env.WARMUP_SECONDS ?? "5";
const P99_LIMIT_MS = 200;

const PIDFILES = [".cluster/gw-0.pid", ".cluster/gw-1.pid", ".cluster/router-0.pid", ".cluster/router-1.pid", ".cluster/api.pid"];

/**
 * Every process of the cluster: its nodes and the services they use (postgres backends
 * included), the services found by pidfile or, when another checkout started them, by port.
 */
function clusterProcs(): number[] {
  const out: number[] = [
    ...servicePids("kafka", join(root, ".services/kafka/kafka.pid")),
    ...servicePids("cassandra", join(root, ".services/cassandra/cassandra.pid")),
    ...servicePids("redis", join(root, ".services/redis/redis.pid")),
    ...servicePids("postgres", join(root, ".services/postgres/data/postmaster.pid")),
  ];
  for (const f of PIDFILES) {
    const path = join(root, f);
    if (!existsSync(path)) continue;
    const pid = Number(readFileSync(path, "utf8").split("\n")[0]);
    if (Number.isInteger(pid) && pid > 0) out.push(...pidTree(pid));
  }
  return out;
}

const load = (): number[] => loadavg().map((x) => Number(x.toFixed(2)));

async function main(): Promise<void> {
  const load_at_start = load();
  const ours = await drive("cluster", ["--url", endpoints.api, "--ws", endpoints.gateways.join(","), "--users", String(USERS), "--rates", RATES, "--seconds", String(SECONDS), "--signup-batch", "10", "--warmup-seconds", WARMUP], clusterProcs);
  const load_after_cluster = load();
  const base = await relayBaseline(USERS, RATES, SECONDS, Number(WARMUP));
  const rows = withBaseline(ours.steps, base.steps);
  mkdirSync(join(root, "bench/results"), { recursive: true });
  const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, load_at_start, load_after_cluster, load_at_end: load() };
  const result = { bench: "cluster", at: new Date().toISOString(), node: process.version, cpu: machine.cpu, machine, users: USERS, seconds_per_step: SECONDS, warmup_seconds: Number(WARMUP), p99_limit_ms: P99_LIMIT_MS, rows };
  writeFileSync(join(root, "bench/results/cluster.json"), `${JSON.stringify(result, null, 2)}\n`);
  const svg = renderChart({
    title: "Cluster benchmark: 2 gateways, 2 routers, Kafka, Cassandra, Redis, PostgreSQL vs a bare relay",
    subtitle: `${USERS} users over both gateways, 1:1, 64-byte bodies, receivers ack, ${WARMUP} s warm-up, ${SECONDS} s steps · ${machine.cores} cores ${machine.cpu} · load average ${load_at_start[0]} at start · ${result.at.slice(0, 10)}`,
    servers: [
      { server: "node", label: "cluster", steps: rows, sustainable: sustainable(rows), rss_per_idle_connection_kib: 0 },
      { server: "relay", label: "bare relay (same run)", steps: base.steps, sustainable: sustainable(base.steps), rss_per_idle_connection_kib: 0 },
    ],
    p99_limit_ms: P99_LIMIT_MS,
    footer: rows.map((r) => `offered ${r.offered_per_s}/s: cluster ${r.delivered_per_s}/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ratio to relay ${r.ratio_to_relay}, cluster CPU ${r.cpu_us_per_delivered ?? "?"} µs/msg`),
  });
  writeFileSync(join(root, "bench/results/cluster.svg"), svg);
  for (const r of rows) console.log(`offered ${r.offered_per_s}/s: cluster ${r.delivered_per_s}/s (p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms), relay ${r.relay_delivered_per_s}/s, ratio ${r.ratio_to_relay}, cluster CPU ${r.cpu_us_per_delivered} µs/msg`);
  console.log(`load average: ${load_at_start.join(" ")} at start, ${load().join(" ")} at end`);
}

/** The highest step with p99 within the limit and nothing left undelivered. */
function sustainable(steps: readonly { offered_per_s: number; p99_ms: number; lost_in_window: number; cpu_us_per_delivered?: number | null }[]) {
  const ok = steps.filter((s) => s.p99_ms <= P99_LIMIT_MS && s.lost_in_window === 0);
  const best = ok[ok.length - 1];
  return best === undefined ? null : { offered_per_s: best.offered_per_s, p99_ms: best.p99_ms, cpu_us_per_delivered: best.cpu_us_per_delivered ?? null };
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

/**
 * Throughput and delivery latency through the local cluster (`make cluster-up` first): the
 * same open-loop generator as bench-load, users spread over both gateways, REST on the api
 * node; then, as the baseline measured in the same run, a bare WebSocket relay under the same
 * generator. Writes bench/results/cluster.json.
 *
 *   make bench-cluster [USERS=200 RATES=100,200,400,800 SECONDS=15 WARMUP_SECONDS=5]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { drive, relayBaseline, root, withBaseline } from "./harness.js";

const endpoints = JSON.parse(readFileSync(join(root, ".cluster/endpoints.json"), "utf8")) as { api: string; gateways: string[] };
const USERS = Number(process.env.USERS ?? 200);
const RATES = process.env.RATES ?? "100,200,400,800";
const SECONDS = Number(process.env.SECONDS ?? 15);
const WARMUP = process.env.WARMUP_SECONDS ?? "5";

async function main(): Promise<void> {
  const ours = await drive("cluster", ["--url", endpoints.api, "--ws", endpoints.gateways.join(","), "--users", String(USERS), "--rates", RATES, "--seconds", String(SECONDS), "--signup-batch", "10", "--warmup-seconds", WARMUP], null);
  const base = await relayBaseline(USERS, RATES, SECONDS, Number(WARMUP));
  const rows = withBaseline(ours.steps, base.steps);
  mkdirSync(join(root, "bench/results"), { recursive: true });
  const result = { bench: "cluster", at: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? "unknown", users: USERS, seconds_per_step: SECONDS, rows };
  writeFileSync(join(root, "bench/results/cluster.json"), `${JSON.stringify(result, null, 2)}\n`);
  for (const r of rows) console.log(`offered ${r.offered_per_s}/s: cluster ${r.delivered_per_s}/s (p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms), relay ${r.relay_delivered_per_s}/s, ratio ${r.ratio_to_relay}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

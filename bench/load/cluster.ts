/**
 * Throughput and delivery latency through the local cluster (`make cluster-up` first):
 * the same open-loop generator, users spread over both gateways, REST on the api node.
 * Writes bench/results/cluster.json. Run: make bench-cluster [USERS=200 RATES=100,200,400,800].
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";

const endpoints = JSON.parse(readFileSync(".cluster/endpoints.json", "utf8")) as { api: string; gateways: string[] };
const USERS = process.env.USERS ?? "200";
const RATES = process.env.RATES ?? "100,200,400,800";
const SECONDS = process.env.SECONDS ?? "6";
const gen = spawn(process.execPath, ["--import", "tsx", "bench/load/generator.ts", "--url", endpoints.api, "--ws", endpoints.gateways.join(","), "--users", USERS, "--rates", RATES, "--seconds", SECONDS, "--signup-batch", "10"], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
gen.stdout.on("data", (d: Buffer) => (out += d.toString()));
gen.on("exit", (code) => {
  const steps = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { phase: string }).filter((m) => m.phase === "step");
  for (const s of steps as unknown as { offered_per_s: number; delivered_per_s: number; p50_ms: number; p99_ms: number; lost_in_window: number; errors: number }[]) {
    console.log(`cluster offered ${s.offered_per_s}/s: delivered ${s.delivered_per_s}/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, not delivered in window ${s.lost_in_window}, errors ${s.errors}`);
  }
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/cluster.json", `${JSON.stringify({ bench: "cluster", at: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? "unknown", users: Number(USERS), seconds_per_step: Number(SECONDS), steps }, null, 2)}\n`);
  process.exit(code ?? 1);
});

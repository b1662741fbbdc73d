/**
 * The load benchmark: the all-in-one node and, as the baseline measured in the same run, a
 * bare WebSocket relay, each driven by the same open-loop generator in its own process.
 * Reports delivered/s with p50 and p99 delivery latency per offered rate, the ratio to the
 * relay, and the node's RSS per idle connection. Writes bench/results/load.json.
 *
 *   make bench-load [RATES=500,1000,2000,4000,8000 USERS=1000 SECONDS=8]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { drive, relayBaseline, root, start, withBaseline } from "./harness.js";

const USERS = Number(process.env.USERS ?? 1000);
const RATES = process.env.RATES ?? "500,1000,2000,4000,8000";
const SECONDS = Number(process.env.SECONDS ?? 8);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "chat-load-"));
  const node = await start("nodes/all-in-one.ts", { PORT: "0", DATA_DIR: dir, LOG_LEVEL: "warn", WEB_DIR: join(dir, "none"), PASSWORD_HASH_COST: "1024", REST_BURST: "100000", REST_PER_SECOND: "100000" });
  const ours = await drive("node", ["--url", node.url, "--users", String(USERS), "--rates", RATES, "--seconds", String(SECONDS)], node.child.pid ?? null);
  node.child.kill("SIGTERM");
  await new Promise((r) => node.child.once("exit", r));
  const base = await relayBaseline(USERS, RATES, SECONDS);
  rmSync(dir, { recursive: true, force: true });
  const rows = withBaseline(ours.steps, base.steps);
  const result = {
    bench: "load",
    at: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    users: USERS,
    seconds_per_step: SECONDS,
    // RSS after sign-ups vs with every connection open and idle; GC makes the difference
    // noisy (it can even shrink), so the whole idle RSS per connection is kept as an upper bound.
    rss_before_kib: ours.rss_before_kib,
    rss_idle_kib: ours.rss_idle_kib,
    rss_per_idle_connection_kib: Number(((ours.rss_idle_kib - ours.rss_before_kib) / USERS).toFixed(1)),
    rss_idle_per_connection_upper_bound_kib: Number((ours.rss_idle_kib / USERS).toFixed(1)),
    relay_rss_per_idle_connection_kib: Number(((base.rss_idle_kib - base.rss_before_kib) / USERS).toFixed(1)),
    rows,
  };
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(join(root, "bench/results/load.json"), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`RSS per idle connection: node ${result.rss_per_idle_connection_kib} KiB, relay ${result.relay_rss_per_idle_connection_kib} KiB`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

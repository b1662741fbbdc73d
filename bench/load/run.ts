/**
 * The load benchmark: the all-in-one node and, as the baseline measured in the same run, a
 * bare WebSocket relay, each driven by the same open-loop generator in its own process.
 * Reports delivered/s with p50 and p99 delivery latency per offered rate, the ratio to the
 * relay, and the node's RSS per idle connection. Writes bench/results/load.json.
 *
 *   make bench-load [RATES=500,1000,2000,4000,8000 USERS=1000 SECONDS=8]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const USERS = Number(process.env.USERS ?? 1000);
const RATES = process.env.RATES ?? "500,1000,2000,4000,8000";
const SECONDS = Number(process.env.SECONDS ?? 8);

function start(script: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, script)], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((ok, no) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/[0-9.:]+)/.exec(out);
      if (m) ok({ child, url: m[1]! });
    });
    child.once("exit", (code) => no(new Error(`${script} exited ${code}: ${out}`)));
  });
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

type Step = { offered_per_s: number; sent: number; sent_ok: number; delivered: number; delivered_per_s: number; p50_ms: number; p99_ms: number; lost_in_window: number; errors: number };

async function drive(url: string, pid: number, relay: boolean): Promise<{ steps: Step[]; rss_before_kib: number; rss_idle_kib: number }> {
  const gen = spawn(process.execPath, ["--import", "tsx", join(root, "bench/load/generator.ts"), "--url", url, "--users", String(USERS), "--rates", RATES, "--seconds", String(SECONDS), ...(relay ? ["--relay"] : [])], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const steps: Step[] = [];
  let rss_before_kib = NaN;
  let rss_idle_kib = NaN;
  let buffer = "";
  gen.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const msg = JSON.parse(line) as { phase: string } & Step;
      if (msg.phase === "accounts") rss_before_kib = rssKiB(pid);
      if (msg.phase === "idle") rss_idle_kib = rssKiB(pid);
      if (msg.phase === "step") {
        steps.push(msg);
        console.log(`${relay ? "relay" : "node "} offered ${msg.offered_per_s}/s: delivered ${msg.delivered_per_s}/s, p50 ${msg.p50_ms} ms, p99 ${msg.p99_ms} ms, not delivered in window ${msg.lost_in_window}, errors ${msg.errors}`);
      }
    }
  });
  await new Promise((r) => gen.once("exit", r));
  return { steps, rss_before_kib, rss_idle_kib };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "chat-load-"));
  const node = await start("nodes/all-in-one.ts", { PORT: "0", DATA_DIR: dir, LOG_LEVEL: "warn", WEB_DIR: join(dir, "none"), PASSWORD_HASH_COST: "1024", REST_BURST: "100000", REST_PER_SECOND: "100000" });
  const ours = await drive(node.url, node.child.pid!, false);
  node.child.kill("SIGTERM");
  await new Promise((r) => node.child.once("exit", r));
  const relay = await start("bench/load/relay.ts", { PORT: "0" });
  const base = await drive(relay.url, relay.child.pid!, true);
  relay.child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
  const rows = ours.steps.map((s) => {
    const b = base.steps.find((x) => x.offered_per_s === s.offered_per_s);
    return { ...s, relay_delivered_per_s: b?.delivered_per_s ?? null, relay_p99_ms: b?.p99_ms ?? null, ratio_to_relay: b ? Number((s.delivered_per_s / Math.max(1, b.delivered_per_s)).toFixed(3)) : null };
  });
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

/**
 * The peer benchmark (issue 9): the all-in-one node, ejabberd (Debian's package, XMPP over
 * WebSocket) and the bare ws relay, one after the other in one run, each driven by the same
 * open-loop generator (bench/load/generator.ts, its own process) with the same users, pairs,
 * ladder of offered rates, warm-up, step length and drain. Per server and step: offered/s,
 * delivered/s, p50/p99, undelivered after the drain, refusals and errors by code, server CPU
 * per delivered message (all of the server's processes); per server: RSS per idle
 * authenticated connection and the sustainable rate (the highest step with p99 <= 200 ms and
 * nothing undelivered or refused). Then, on a fresh node, an overload step at twice its
 * sustainable rate. Writes bench/results/peer.json and bench/results/peer.svg.
 *
 *   make bench-peer [RATES=1000,2000,4000,6000,8000,10000 USERS=1000 SECONDS=10 WARMUP=3 DRAIN=3
 *                    OVERLOAD=1 OVERLOAD_SECONDS=30 SERVERS=node,ejabberd,relay BEFORE_DIR=]
 *
 * BEFORE_DIR=/path/to/another/checkout adds the server `node-before`: the all-in-one node run
 * from that checkout (its own code and node_modules), so a change is measured before and
 * after in the same run as ejabberd, on the same noisy machine (SERVERS then defaults to
 * node-before,node,ejabberd,relay).
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { drive, root, start, stop, type Drive, type Step } from "../load/harness.js";
import { fmtMs, renderChart } from "./chart.js";
import { startEjabberd } from "./ejabberd.js";

const env = process.env;
const USERS = Number(env.USERS ?? 1000);
const RATES = env.RATES ?? "1000,2000,4000,6000,8000,10000";
const SECONDS = Number(env.SECONDS ?? 10);
const WARMUP = Number(env.WARMUP ?? 3);
const DRAIN = Number(env.DRAIN ?? 3);
const OVERLOAD = (env.OVERLOAD ?? "1") !== "0";
const OVERLOAD_SECONDS = Number(env.OVERLOAD_SECONDS ?? 30);
/** The overload step's drain: long enough to tell "late" from "lost" for accepted messages. */
const OVERLOAD_DRAIN = Number(env.OVERLOAD_DRAIN ?? 10);
const BEFORE_DIR = env.BEFORE_DIR !== undefined && env.BEFORE_DIR !== "" ? resolve(env.BEFORE_DIR) : null;
const SERVERS = (env.SERVERS ?? (BEFORE_DIR === null ? "node,ejabberd,relay" : "node-before,node,ejabberd,relay")).split(",").filter(Boolean);
const P99_LIMIT_MS = 200;
/** The whole run stops by itself after this long, whatever happens. */
const DEADLINE_MS = Number(env.DEADLINE_SECONDS ?? 1800) * 1000;
const OUT_JSON = resolve(root, env.OUT ?? "bench/results/peer.json");
const OUT_SVG = OUT_JSON.replace(/\.json$/, ".svg");

const DESCRIPTIONS: Record<string, string> = {
  node: "the all-in-one node: our API over WebSocket, SQLite (WAL), every message durable before `sent`; the receiver acks each new_message",
  "node-before": "the same node built from BEFORE_DIR (the baseline of a change), same settings",
  ejabberd: "ejabberd from Debian: XMPP over WebSocket (RFC 7395), SASL PLAIN, Mnesia, mod_offline on, no mod_mam, no shaper",
  relay: "bench/load/relay.ts: a bare ws relay, no storage, no ordering: the ceiling of this box, network stack and generator",
};
const LABELS: Record<string, string> = { node: "all-in-one node", "node-before": "all-in-one node, before", ejabberd: "ejabberd", relay: "bare ws relay" };

/** What to undo if the run is interrupted: each started server's stop. */
const cleanups = new Set<() => Promise<unknown>>();
async function cleanupAll(): Promise<void> {
  for (const c of [...cleanups]) {
    cleanups.delete(c);
    await c().catch((e: unknown) => console.error(e));
  }
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    console.error(`bench-peer: ${sig}; stopping the servers`);
    void cleanupAll().then(() => process.exit(130));
  });
}
const watchdog = setTimeout(() => {
  console.error(`bench-peer: still running after ${DEADLINE_MS / 1000} s; stopping`);
  void cleanupAll().then(() => process.exit(1));
}, DEADLINE_MS);
watchdog.unref();

function generatorArgs(rates: string, seconds: number, extra: readonly string[] = []): string[] {
  return ["--users", String(USERS), "--rates", rates, "--seconds", String(seconds), "--warmup-seconds", String(WARMUP), "--drain-seconds", String(DRAIN), ...extra];
}

const NODE_ENV = { PORT: "0", LOG_LEVEL: "warn", PASSWORD_HASH_COST: "1024", REST_BURST: "100000", REST_PER_SECOND: "100000" };

async function withNode<T>(fn: (url: string, child: ChildProcess) => Promise<T>, from: string = root): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "chat-peer-node-"));
  const node = await start("nodes/all-in-one.ts", { ...NODE_ENV, DATA_DIR: dir, WEB_DIR: join(dir, "none") }, [], from);
  const halt = async (): Promise<void> => {
    await stop(node.child);
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(halt);
  try {
    return await fn(node.url, node.child);
  } finally {
    cleanups.delete(halt);
    await halt();
  }
}

type ServerRun = { drive: Drive; version: string; processes_left?: string[] };

async function runServer(server: string, rates: string, seconds: number, extra: readonly string[] = []): Promise<ServerRun> {
  if (server === "node") {
    return withNode(async (url, child) => ({ drive: await drive("node", ["--url", url, ...generatorArgs(rates, seconds, extra)], child.pid!), version: process.version }));
  }
  if (server === "node-before") {
    if (BEFORE_DIR === null) throw new Error("the server node-before needs BEFORE_DIR (a checkout with its node_modules installed)");
    return withNode(async (url, child) => ({ drive: await drive("node-before", ["--url", url, ...generatorArgs(rates, seconds, extra)], child.pid!), version: process.version }), BEFORE_DIR);
  }
  if (server === "relay") {
    const relay = await start("bench/load/relay.ts", { PORT: "0" });
    const halt = (): Promise<void> => stop(relay.child);
    cleanups.add(halt);
    try {
      return { drive: await drive("relay", ["--url", relay.url, "--relay", ...generatorArgs(rates, seconds, extra)], relay.child.pid!), version: process.version };
    } finally {
      cleanups.delete(halt);
      await halt();
    }
  }
  if (server === "ejabberd") {
    const ej = await startEjabberd();
    console.log(`ejabberd ${ej.version} on ${ej.url}`);
    let left: string[] = [];
    const halt = async (): Promise<void> => {
      left = (await ej.stop()).left;
    };
    cleanups.add(halt);
    let d: Drive;
    try {
      d = await drive("ejabberd", ["--url", ej.url, "--protocol", "xmpp", "--xmpp-domain", ej.domain, ...generatorArgs(rates, seconds, extra)], ej.procs);
    } finally {
      cleanups.delete(halt);
      await halt();
      console.log(left.length === 0 ? "ejabberd stopped; no process left" : `ejabberd: processes left: ${left.join(", ")}`);
    }
    return { drive: d, version: ej.version, processes_left: left };
  }
  throw new Error(`unknown server ${server} (node, node-before, ejabberd, relay)`);
}

const passes = (s: Step): boolean => s.sent > 0 && Number.isFinite(s.p99_ms) && s.p99_ms <= P99_LIMIT_MS && (s.undelivered ?? s.lost_in_window) === 0 && (s.refused ?? 0) === 0;

function sustainable(steps: readonly Step[]): Step | null {
  const ok = steps.filter(passes);
  return ok.length === 0 ? null : ok.reduce((a, b) => (b.offered_per_s > a.offered_per_s ? b : a));
}

function stripTicks(s: Step): Omit<Step, "ticks"> {
  const { ticks: _t, ...rest } = s;
  return rest;
}

function summary(server: string, run: ServerRun) {
  const d = run.drive;
  const sus = sustainable(d.steps);
  return {
    server,
    label: LABELS[server] ?? server,
    description: DESCRIPTIONS[server] ?? server,
    version: run.version,
    connections: d.connections,
    rss_before_kib: d.rss_before_kib,
    rss_idle_kib: d.rss_idle_kib,
    rss_per_idle_connection_kib: Number(((d.rss_idle_kib - d.rss_before_kib) / Math.max(1, d.connections)).toFixed(1)),
    sustainable: sus
      ? { offered_per_s: sus.offered_per_s, delivered_per_s: sus.delivered_per_s, p50_ms: sus.p50_ms, p99_ms: sus.p99_ms, cpu_us_per_delivered: sus.cpu_us_per_delivered ?? null }
      : null,
    peak_delivered_per_s: Math.max(0, ...d.steps.map((s) => s.delivered_per_s)),
    ...(run.processes_left ? { processes_left: run.processes_left } : {}),
    warmup: d.warmup ? stripTicks(d.warmup) : null,
    steps: d.steps.map(stripTicks),
  };
}

async function overload(nodeSummary: ReturnType<typeof summary>) {
  const base = nodeSummary.sustainable?.offered_per_s ?? Number(RATES.split(",")[0]);
  const rate = 2 * base;
  console.log(`overload: a fresh node, ${WARMUP} s warm-up at ${base}/s, then ${rate}/s for ${OVERLOAD_SECONDS} s (${nodeSummary.sustainable ? "2x its sustainable rate" : "no sustainable step: 2x the lowest rate"})`);
  const run = await runServer("node", String(rate), OVERLOAD_SECONDS, ["--warmup-rate", String(base), "--drain-seconds", String(OVERLOAD_DRAIN)]);
  const s = run.drive.steps[0]!;
  const ticks = s.ticks ?? [];
  // Per-second series over the send window (ticks are cumulative within the step).
  const series = ticks
    .map((t, i) => {
      const prev = i === 0 ? { t: 0, sent: 0, delivered: 0, refused: 0 } : ticks[i - 1]!;
      const dt = Math.max(1, t.t - prev.t);
      return { t: t.t, sent_per_s: Math.round((t.sent - prev.sent) / dt), delivered_per_s: Math.round((t.delivered - prev.delivered) / dt), refused_per_s: Math.round((t.refused - prev.refused) / dt), rss_kib: t.rss_kib };
    })
    .filter((x) => x.t <= OVERLOAD_SECONDS);
  const steady = series.filter((x) => x.t > 5);
  const rss = series.map((x) => x.rss_kib);
  const peak = nodeSummary.peak_delivered_per_s;
  return {
    base_sustainable_per_s: nodeSummary.sustainable?.offered_per_s ?? null,
    offered_per_s: rate,
    seconds: OVERLOAD_SECONDS,
    drain_seconds: OVERLOAD_DRAIN,
    sent: s.sent,
    accepted_sent_receipts: s.sent_ok,
    delivered: s.delivered,
    delivered_per_s: s.delivered_per_s,
    peak_delivered_per_s_in_ladder: peak,
    delivered_vs_peak: Number((s.delivered_per_s / Math.max(1, peak)).toFixed(3)),
    delivered_per_s_min_after_5s: steady.length > 0 ? Math.min(...steady.map((x) => x.delivered_per_s)) : null,
    p50_ms_accepted: s.p50_ms,
    p99_ms_accepted: s.p99_ms,
    max_ms_accepted: s.max_ms,
    refused: s.refused,
    undelivered_after_drain: s.undelivered,
    /** `sent` receipts (durable, acknowledged) whose message had not reached the receiver by the end of the drain. */
    acknowledged_not_delivered: s.sent_ok !== null ? Math.max(0, s.sent_ok - s.delivered) : null,
    errors_by_code: s.errors_by_code,
    cpu_us_per_delivered: s.cpu_us_per_delivered,
    rss_start_kib: rss[0] ?? null,
    rss_end_kib: rss[rss.length - 1] ?? null,
    rss_max_kib: rss.length > 0 ? Math.max(...rss) : null,
    /** Slope of RSS from second 5 to the end of the window: "flat" is near zero. */
    rss_growth_kib_per_s: steady.length > 1 ? Number(((steady[steady.length - 1]!.rss_kib - steady[0]!.rss_kib) / (steady[steady.length - 1]!.t - steady[0]!.t)).toFixed(1)) : null,
    per_second: series,
  };
}

const fmtNum = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? "–" : n.toLocaleString("en-US"));

type PeerResult = {
  at: string;
  machine: { cores: number; cpu: string };
  setup: { users: number; pairs: number; warmup_seconds: number; seconds_per_step: number };
  servers: ReturnType<typeof summary>[];
  overload: Awaited<ReturnType<typeof overload>> | null;
};

/** The SVG for a result (also: `npx tsx bench/peer/run.ts --chart-only [peer.json]` redraws it). */
function chart(result: PeerResult): string {
  const footer = result.servers.map((r) => {
    const cpu = r.sustainable?.cpu_us_per_delivered;
    const lowest = r.steps[0];
    const cpuText =
      cpu !== null && cpu !== undefined
        ? `${fmtNum(cpu)} µs per delivered message at its sustainable step`
        : `${fmtNum(lowest?.cpu_us_per_delivered)} µs per delivered message at ${fmtNum(lowest?.offered_per_s)}/s (no sustainable step)`;
    // At 1,000 connections a server's fixed costs and heap slack can outweigh them: a figure at
    // or below zero says only that (bench-density measures connections properly).
    const rss = r.rss_per_idle_connection_kib > 0 ? `${r.rss_per_idle_connection_kib} KiB` : "below this run's noise";
    return `${r.label}: server CPU ${cpuText}; RSS ${rss} per idle connection`;
  });
  const over = result.overload;
  if (over) {
    const codes = Object.entries(over.errors_by_code ?? {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(", ") || "no errors";
    footer.push(
      `Overload (node, ${fmtNum(over.offered_per_s)}/s = 2× ${fmtNum(over.base_sustainable_per_s ?? over.offered_per_s / 2)}/s for ${over.seconds} s): delivered ${fmtNum(over.delivered_per_s)}/s = ${Math.round(over.delivered_vs_peak * 100)}% of its peak, ` +
        `p99 ${fmtMs(over.p99_ms_accepted)}, refused ${fmtNum(over.refused)} (${codes}), RSS ${fmtNum(Math.round((over.rss_start_kib ?? NaN) / 1024))} → ${fmtNum(Math.round((over.rss_end_kib ?? NaN) / 1024))} MiB`,
    );
  }
  return renderChart({
    title: `Peer benchmark: ${result.servers.map((r) => r.label).join(" vs ")}`,
    subtitle: `${result.setup.users.toLocaleString("en-US")} connections = ${result.setup.pairs} sender→receiver pairs, 64-byte bodies, open loop, ${result.setup.warmup_seconds} s warm-up, ${result.setup.seconds_per_step} s steps, same generator · ${result.machine.cores} cores ${result.machine.cpu} · ${result.at.slice(0, 10)}`,
    servers: result.servers.map((r) => ({ server: r.server, label: r.label, steps: r.steps, sustainable: r.sustainable, rss_per_idle_connection_kib: r.rss_per_idle_connection_kib })),
    p99_limit_ms: P99_LIMIT_MS,
    footer,
  });
}

async function main(): Promise<void> {
  if (process.argv.includes("--chart-only")) {
    const from = process.argv[process.argv.indexOf("--chart-only") + 1] ?? OUT_JSON;
    const result = JSON.parse(readFileSync(resolve(from), "utf8")) as PeerResult;
    writeFileSync(from.replace(/\.json$/, ".svg"), chart(result));
    return;
  }
  const t0 = Date.now();
  const load_at_start = loadavg().map((x) => Number(x.toFixed(2)));
  if (load_at_start[0]! > 0.5) console.warn(`bench-peer: the machine is not quiet (load average ${load_at_start.join(" ")}): other work shares the cores with the servers and the generator`);
  const results: ReturnType<typeof summary>[] = [];
  for (const server of SERVERS) {
    console.log(`\n== ${server}: ${USERS} connections (${Math.floor(USERS / 2)} pairs), rates ${RATES}, ${SECONDS} s steps, ${WARMUP} s warm-up, ${DRAIN} s drain`);
    results.push(summary(server, await runServer(server, RATES, SECONDS)));
    await new Promise((r) => setTimeout(r, 2_000)); // let the machine settle between servers
  }
  const nodeResult = results.find((r) => r.server === "node");
  const over = OVERLOAD && nodeResult ? await overload(nodeResult) : null;

  const result = {
    bench: "peer",
    at: new Date().toISOString(),
    wall_seconds: Math.round((Date.now() - t0) / 1000),
    machine: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version, load_at_start, load_at_end: loadavg().map((x) => Number(x.toFixed(2))) },
    setup: {
      users: USERS,
      pairs: Math.floor(USERS / 2),
      body_bytes: 64,
      rates: RATES.split(",").map(Number),
      seconds_per_step: SECONDS,
      warmup_seconds: WARMUP,
      drain_seconds: DRAIN,
      pause_seconds: 2,
      p99_limit_ms: P99_LIMIT_MS,
      sustainable_rule: `highest offered step with p99 <= ${P99_LIMIT_MS} ms, nothing undelivered after the drain and nothing refused`,
    },
    servers: results,
    overload: over,
  };
  mkdirSync(join(OUT_JSON, ".."), { recursive: true });
  writeFileSync(OUT_JSON, `${JSON.stringify(result, null, 2)}\n`);

  writeFileSync(OUT_SVG, chart(result));
  console.log("\n| server | sustainable msg/s | p99 there | server CPU per delivered message | RSS per idle connection | peak delivered/s |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of results) {
    const s = r.sustainable;
    console.log(`| ${r.label} (${r.version}) | ${s ? fmtNum(s.offered_per_s) : "none"} | ${s ? `${s.p99_ms} ms` : "–"} | ${s?.cpu_us_per_delivered != null ? `${fmtNum(s.cpu_us_per_delivered)} µs` : "–"} | ${r.rss_per_idle_connection_kib} KiB | ${fmtNum(r.peak_delivered_per_s)} |`);
  }
  if (over) {
    console.log(
      `\noverload: offered ${fmtNum(over.offered_per_s)}/s for ${over.seconds} s: delivered ${fmtNum(over.delivered_per_s)}/s (${Math.round(over.delivered_vs_peak * 100)}% of peak ${fmtNum(over.peak_delivered_per_s_in_ladder)}/s), p99 ${over.p99_ms_accepted} ms, refused ${fmtNum(over.refused)}, errors ${JSON.stringify(over.errors_by_code)}, acknowledged not delivered ${fmtNum(over.acknowledged_not_delivered)}, RSS ${fmtNum(over.rss_start_kib)} -> ${fmtNum(over.rss_end_kib)} KiB (${over.rss_growth_kib_per_s} KiB/s)`,
    );
  }
  console.log(`\nwrote ${OUT_JSON} and ${OUT_SVG} in ${result.wall_seconds} s`);
}

main()
  .catch(async (e: unknown) => {
    console.error(e);
    await cleanupAll();
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(watchdog));

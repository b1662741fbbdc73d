/**
 * The group fan-out benchmark (issue 9's goal: a 500-member group with every member online,
 * p99 from send to the LAST member's new_message ≤ 100 ms at 10 group messages/s).
 *
 * The all-in-one node runs in its own process; this process signs up MEMBERS users over REST,
 * creates one group of all of them, opens one WebSocket per member (every member acks every
 * new_message `delivered`), and drives an open-loop ladder of group-message rates (senders
 * rotate among the members), each step followed by a bounded drain. Then the same client runs
 * against the baseline measured in the same run: a bare group relay (group-relay.ts, its own
 * process) that writes each frame to the same sockets with no storage and no routing.
 *
 * Writes bench/results/fanout.json, fanout.svg (last-member p99/p50 vs offered rate) and
 * fanout.md. Stops by itself: every step is bounded, and a watchdog ends the run at LIMIT_S.
 *
 *   npx tsx bench/fanout/run.ts   [MEMBERS=500 RATES=0.5,1,5,10,20,40 STEP_SECONDS=10 DRAIN_SECONDS=5 WARMUP_SECONDS=3]
 *   PROFILE=1 npx tsx bench/fanout/run.ts   the node alone at PROFILE_RATE (10) under --cpu-prof:
 *                                           top functions over the step → bench/results/fanout-profile.md
 *                                           (PROFILE_NAME renames it; node settings such as
 *                                           COMMIT_WINDOW_MS pass through from the environment)
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { cpuMs, pidTree, root, rssSumKiB, start, stop } from "../load/harness.js";
import { chart, type Point } from "./chart.js";
import { FanoutClient, type Probe, type StepResult } from "./client.js";
import { summarize, type Summary } from "./cpuprofile.js";

const MEMBERS = Number(process.env.MEMBERS ?? 500);
const RATES = (process.env.RATES ?? "0.5,1,5,10,20,40").split(",").map(Number);
const STEP_SECONDS = Number(process.env.STEP_SECONDS ?? 10);
const DRAIN_SECONDS = Number(process.env.DRAIN_SECONDS ?? 5);
/** After a step that left messages incomplete: how long to wait for that backlog before the next step. */
const RECOVER_SECONDS = Number(process.env.RECOVER_SECONDS ?? 10);
/**
 * Wall-time budgets: a step that no longer fits (step + drain) is skipped. The whole run has
 * RUN_BUDGET_S; the relay's ladder is kept RELAY_BUDGET_S of it, the node's first ladder at
 * most NODE_BUDGET_S, and a fresh node for the goal rate (after saturation) what is left.
 */
const RUN_BUDGET_S = Number(process.env.RUN_BUDGET_S ?? 275);
const NODE_BUDGET_S = Number(process.env.NODE_BUDGET_S ?? 130);
const RELAY_BUDGET_S = Number(process.env.RELAY_BUDGET_S ?? 85);
const WARMUP_SECONDS = Number(process.env.WARMUP_SECONDS ?? 3);
const WARMUP_RATE = Number(process.env.WARMUP_RATE ?? 1);
const PAUSE_MS = 1_000;
const PROFILE = process.env.PROFILE === "1";
const PROFILE_RATE = Number(process.env.PROFILE_RATE ?? 10);
/** The profile summary's file name in bench/results (.md and .json). */
const PROFILE_NAME = process.env.PROFILE_NAME ?? "fanout-profile";
const LIMIT_S = Number(process.env.LIMIT_S ?? 295);
/** Exploration: run only "node" or only "relay" and print, without writing results. */
const ONLY = process.env.ONLY ?? "";
const GOAL = { rate: 10, p99_ms: 100 };
const results = join(root, "bench/results");

const children = new Set<ChildProcess>();
const log = (s: string): void => console.log(`[fanout] ${s}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Bounded in time whatever happens: past LIMIT_S every child is killed and the run fails.
setTimeout(() => {
  console.error(`[fanout] over ${LIMIT_S} s: killing the servers and giving up`);
  for (const c of children) c.kill("SIGKILL");
  process.exit(1);
}, LIMIT_S * 1000).unref();

/** Node settings taken from this environment when set (the node's defaults otherwise); recorded with the results. */
const NODE_KNOBS = ["COMMIT_WINDOW_MS", "SEND_BACKLOG_MAX", "ROUTERS", "LOG_PARTITIONS", "CHECKPOINT_INTERVAL_MS"];
const nodeSettings = (): string => {
  const set = NODE_KNOBS.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  return set.length > 0 ? set.join(" ") : "defaults";
};

/** The code measured: HEAD and the node's source files changed since (others edit the node while benchmarks run). */
function codeState(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "core", "nodes", "adapters"], { cwd: root, encoding: "utf8" })
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => l.slice(3));
    return dirty.length > 0 ? `${head} + uncommitted ${dirty.join(", ")}` : head;
  } catch {
    return "unknown";
  }
}

function nodeEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PORT: "0", DATA_DIR: dir, LOG_LEVEL: "warn", WEB_DIR: join(dir, "none"), PASSWORD_HASH_COST: "1024", REST_BURST: "100000", REST_PER_SECOND: "100000", DRAIN_TIMEOUT_MS: "3000", ...extra };
}

/**
 * The node's counters that tell where a group message waits: sends appended, new_message
 * frames written, acks appended to the log vs acks the router has applied (their difference
 * is the router's ack backlog), `sent` receipts.
 */
function metricsProbe(url: string): Probe {
  const wanted: Record<string, string> = {
    chat_sends_total: "sends_appended",
    chat_deliveries_total: "new_message_frames",
    'chat_acks_total{status="delivered"}': "acks_appended",
    'chat_router_events_total{what="ack_applied"}': "acks_applied",
    'chat_router_events_total{what="send_ordered"}': "sends_ordered",
    'chat_router_events_total{what="effect_retried"}': "router_effects_retried",
    chat_sent_receipts_total: "sent_receipts",
  };
  return async () => {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) throw new Error(`/metrics ${res.status}`);
    const out: Record<string, number> = {};
    for (const line of (await res.text()).split("\n")) {
      const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
      const name = m ? wanted[m[1]!] : undefined;
      if (m && name !== undefined) out[name] = Number(m[2]);
    }
    return out;
  };
}

type Run = {
  setup_ms: number;
  connect_ms: number;
  warmup: StepResult | null;
  steps: StepResult[];
  /** The first offered rate at which some message did not reach every member within the drain. */
  saturated_at_per_s: number | null;
  /** Rates not run: above the saturation point (past the goal rate, which always runs), or past the time budget. */
  skipped_rates: number[];
  skipped_for_time: number[];
  /** The goal rate was due while an earlier step's backlog was still draining: it runs on a fresh server instead. */
  goal_needs_fresh_server: boolean;
  /** The goal-rate step came from a fresh server (started for it alone after saturation). */
  goal_on_fresh_server?: boolean;
  rss_connected_kib: number;
  rss_end_kib: number;
};

/** Setup, warm-up and the ladder against one server (already started at `url`). */
async function ladder(label: "node" | "relay", url: string, pid: number, rates: readonly number[], budget_s: number, onStep?: (rate: number, phase: "start" | "end") => void): Promise<Run> {
  const deadline = performance.now() + budget_s * 1000;
  const recoverMs = (): number => Math.max(0, Math.min(RECOVER_SECONDS * 1000, deadline - performance.now() - (STEP_SECONDS + DRAIN_SECONDS) * 1000));
  const procs = (): number[] => pidTree(pid);
  const client = new FanoutClient(url, label, MEMBERS);
  const say = (s: string): void => log(`${label}: ${s}`);
  try {
    const t0 = performance.now();
    await client.setup(say);
    const setup_ms = Math.round(performance.now() - t0);
    const t1 = performance.now();
    await client.connectAll(say);
    const connect_ms = Math.round(performance.now() - t1);
    await sleep(1_000);
    const rss_connected_kib = rssSumKiB(procs());
    let warmup: StepResult | null = null;
    if (WARMUP_SECONDS > 0) {
      warmup = await client.step(WARMUP_RATE, WARMUP_SECONDS, DRAIN_SECONDS, () => cpuMs(procs()));
      const left = await client.waitBacklog(recoverMs());
      say(`warm-up ${warmup.offered_per_s}/s: last-member p99 ${warmup.last_p99_ms ?? `≥ ${warmup.last_p99_at_least_ms}`} ms${left > 0 ? `, ${left} messages still incomplete` : ""}`);
      await sleep(PAUSE_MS);
    }
    const steps: StepResult[] = [];
    const skipped_rates: number[] = [];
    const skipped_for_time: number[] = [];
    let saturated_at_per_s: number | null = null;
    let goal_needs_fresh_server = false;
    for (const rate of rates) {
      // The goal rate measured on top of an earlier step's backlog would measure the backlog.
      if (rate === GOAL.rate && client.backlog() > 0) {
        goal_needs_fresh_server = true;
        skipped_rates.push(rate);
        continue;
      }
      // Past saturation a step measures only the backlog: skip to the goal rate, then stop.
      if (saturated_at_per_s !== null && (rate !== GOAL.rate || steps.some((s) => s.offered_per_s === GOAL.rate))) {
        skipped_rates.push(rate);
        continue;
      }
      if (performance.now() + (STEP_SECONDS + DRAIN_SECONDS) * 1000 > deadline) {
        skipped_for_time.push(rate);
        continue;
      }
      onStep?.(rate, "start");
      const s = await client.step(rate, STEP_SECONDS, DRAIN_SECONDS, () => cpuMs(procs()), label === "node" ? metricsProbe(url) : undefined);
      onStep?.(rate, "end");
      steps.push(s);
      if (s.not_fully_delivered > 0 || s.refused > 0) saturated_at_per_s ??= rate;
      const codes = Object.entries(s.errors_by_code).map(([k, v]) => `${k}=${v}`).join(" ");
      say(
        `${String(rate).padStart(3)}/s: first p50/p99 ${s.first_p50_ms}/${s.first_p99_ms} ms, LAST p50/p99 ${s.last_p50_ms}/${s.last_p99_ms ?? `≥ ${s.last_p99_at_least_ms}`} ms, ` +
          `member p99 ${s.member_p99_ms} ms, refused ${s.refused}, not fully delivered ${s.not_fully_delivered}/${s.sent - s.refused}, errors ${s.errors}${codes ? ` (${codes})` : ""}, ` +
          `CPU ${s.server_cpu_us_per_message} µs/msg ${s.server_cpu_us_per_delivery} µs/delivery, client CPU ${s.client_cpu_pct}% loop p99 ${s.client_loop_delay_p99_ms} ms, box busy ${s.machine_busy_pct}% pressure ${s.machine_cpu_pressure_pct}%` +
          (s.backlog_at_start > 0 ? `, started with a backlog of ${s.backlog_at_start}` : "") +
          (s.server_counters ? `; acks appended/applied at sends end ${s.server_counters.at_sends_end.acks_appended}/${s.server_counters.at_sends_end.acks_applied}, at drain end ${s.server_counters.at_drain_end.acks_appended}/${s.server_counters.at_drain_end.acks_applied}` : ""),
      );
      if (client.backlog() > 0) {
        const t = performance.now();
        const left = await client.waitBacklog(recoverMs());
        say(`  backlog: ${left > 0 ? `${left} messages still incomplete after` : "cleared in"} ${Math.round(performance.now() - t)} ms more`);
      }
      await sleep(PAUSE_MS);
    }
    if (skipped_rates.length > 0) say(`skipped ${skipped_rates.join(", ")}/s (saturated at ${saturated_at_per_s}/s)`);
    if (skipped_for_time.length > 0) say(`skipped ${skipped_for_time.join(", ")}/s: past the ${budget_s} s budget`);
    return { setup_ms, connect_ms, warmup, steps, saturated_at_per_s, skipped_rates, skipped_for_time, goal_needs_fresh_server, rss_connected_kib, rss_end_kib: rssSumKiB(procs()) };
  } finally {
    await client.close();
  }
}


async function withServer<T>(script: string, env: Record<string, string>, fn: (url: string, pid: number) => Promise<T>, nodeFlags: readonly string[] = []): Promise<T> {
  const server = await start(script, env, nodeFlags);
  children.add(server.child);
  try {
    return await fn(server.url, server.child.pid!);
  } finally {
    await stop(server.child, 8_000);
    children.delete(server.child);
  }
}

const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? "—" : String(v));
/** LAST p99, or its lower bound when incomplete messages reach the percentile. */
const lastP99 = (s: StepResult): string => (s.last_p99_ms !== null ? String(s.last_p99_ms) : s.last_p99_at_least_ms !== null ? `≥ ${s.last_p99_at_least_ms}` : "—");

function markdown(result: any): string {
  const node: StepResult[] = result.node.steps;
  const relay: StepResult[] = result.relay.steps;
  const lines: string[] = [];
  lines.push(`# Group fan-out: ${result.members} members, all online`);
  lines.push("");
  lines.push(`Run ${result.at} on ${result.cpu} (${result.cores} cores), Node ${result.node_version}, node settings: ${result.node_settings}, code: ${result.code}. \`make bench-fanout\` (bench/fanout/run.ts).`);
  lines.push(`Open loop, senders rotating among the members, ${result.seconds_per_step} s per step then a drain of at most ${result.drain_seconds} s; every member acks every \`new_message\` \`delivered\`.`);
  lines.push(`Latency is from a message's scheduled send time to its arrival on a member's socket (one clock, the client process). "Last" is the last of the ${result.members - 1} recipients.`);
  lines.push("");
  const g = result.goal;
  lines.push(`**Goal (issue 9): p99 send → last member ≤ ${g.p99_ms} ms at ${g.rate} msg/s — ${g.met ? "MET" : "NOT MET"}** (node: ${g.node_last_p99 ?? "not run"} ms; bare relay: ${g.relay_last_p99 ?? "not run"} ms).`);
  if (result.node.saturated_at_per_s !== null) lines.push("", `The node first saturated (sends refused, or accepted messages still missing members after the drain) at ${result.node.saturated_at_per_s} msg/s${result.node.skipped_rates.length > 0 ? `; rates ${result.node.skipped_rates.join(", ")} were skipped (past saturation a step only measures the backlog; the goal rate always runs)` : ""}.`);
  if (result.node.goal_on_fresh_server === true) lines.push("", `The ${g.rate} msg/s row comes from a fresh node (new data directory, sign-ups, group, warm-up), started for it alone because the backlog of the saturated step had not drained.`);
  if (result.node.skipped_for_time.length + result.relay.skipped_for_time.length > 0) lines.push("", `Skipped for the time budget: node ${result.node.skipped_for_time.join(", ") || "none"}, relay ${result.relay.skipped_for_time.join(", ") || "none"}.`);
  lines.push("");
  lines.push("## The node");
  lines.push("");
  lines.push("| offered msg/s | deliveries/s | first p50 / p99 ms | LAST p50 / p99 ms | member p50 / p99 ms | `sent` p99 ms | refused | accepted, not fully delivered (backlog at start) | errors | node CPU µs / accepted message | µs / delivery | client CPU % | box busy % |");
  lines.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
  for (const s of node) {
    const codes = Object.entries(s.errors_by_code).map(([k, v]) => `${k} ${v}`).join(", ");
    lines.push(
      `| ${s.offered_per_s} | ${s.delivered_per_s} | ${fmt(s.first_p50_ms)} / ${fmt(s.first_p99_ms)} | ${fmt(s.last_p50_ms)} / ${lastP99(s)} | ${fmt(s.member_p50_ms)} / ${fmt(s.member_p99_ms)} | ${fmt(s.sent_p99_ms)} | ${s.refused} of ${s.sent} | ${s.not_fully_delivered} of ${s.sent - s.refused}${s.backlog_at_start > 0 ? ` (${s.backlog_at_start})` : ""} | ${s.errors}${codes ? ` (${codes})` : ""} | ${fmt(s.server_cpu_us_per_message)} | ${fmt(s.server_cpu_us_per_delivery)} | ${s.client_cpu_pct} | ${s.machine_busy_pct} |`,
    );
  }
  lines.push("");
  lines.push("## The bare group relay (baseline, same client, same run) and the ratio");
  lines.push("");
  lines.push("| offered msg/s | relay first p50 / p99 ms | relay LAST p50 / p99 ms | relay not fully delivered | relay CPU µs / message | µs / delivery | client CPU % | box busy % | node ÷ relay: LAST p99 | node ÷ relay: CPU |");
  lines.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of relay) {
    const row = result.rows.find((x: { offered_per_s: number }) => x.offered_per_s === r.offered_per_s) ?? { last_p99_ratio: null, last_p99_ratio_at_least: false, cpu_ratio: null };
    lines.push(
      `| ${r.offered_per_s} | ${fmt(r.first_p50_ms)} / ${fmt(r.first_p99_ms)} | ${fmt(r.last_p50_ms)} / ${lastP99(r)} | ${r.not_fully_delivered} of ${r.sent} | ${fmt(r.server_cpu_us_per_message)} | ${fmt(r.server_cpu_us_per_delivery)} | ${r.client_cpu_pct} | ${r.machine_busy_pct} | ${row.last_p99_ratio === null ? "—" : `${row.last_p99_ratio_at_least ? "≥ " : ""}${row.last_p99_ratio}`} | ${fmt(row.cpu_ratio)} |`,
    );
  }
  lines.push("");
  lines.push(`RSS with all ${result.members} members connected: node ${result.node.rss_connected_kib} KiB, relay ${result.relay.rss_connected_kib} KiB. Setup: sign-ups and group ${result.node.setup_ms} ms, ${result.members} WebSockets ${result.node.connect_ms} ms.`);
  lines.push("");
  lines.push("Notes: the client (all members, one process) shares the 2 cores with the server; the relay rows show what this client and the network stack alone cost, so the ratio is what storage and routing add (a durable append, the router's pending entry per member device, per-connection frames, the `delivered` receipt back to the sender for each member, the members' acks). Latencies are over accepted messages (a send answered by an `error` such as `OVERLOADED` is refused: counted, never delivered). When accepted messages missed some member at the drain's end and reach the percentile, LAST p99 shows ≥ and a lower bound (those messages counted as arriving at the drain's end). Box busy is the share of both cores used by any process on the machine during the step: other work on the box inflates every number, the relay's too. CPU is the server's whole process tree (/proc/PID/stat utime+stime) from the step's first send to the end of its drain. Chart: fanout.svg.");
  return `${lines.join("\n")}\n`;
}

async function profileRun(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "chat-fanout-prof-"));
  const profDir = join(dir, "prof");
  mkdirSync(profDir);
  const window = { from_us: 0, to_us: Infinity };
  const hrUs = (): number => Number(process.hrtime.bigint() / 1000n);
  let run: Run | null = null;
  try {
    run = await withServer(
      "nodes/all-in-one.ts",
      nodeEnv(dir),
      (url, pid) =>
        ladder("node", url, pid, [PROFILE_RATE], NODE_BUDGET_S, (_rate, phase) => {
          if (phase === "start") window.from_us = hrUs();
          else window.to_us = hrUs();
        }),
      ["--cpu-prof", `--cpu-prof-dir=${profDir}`],
    );
  } finally {
    children.clear();
  }
  // The main thread's profile is the largest (tsx's loader thread writes a small one too).
  const files = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(profDir, f)).sort((a, b) => statSync(b).size - statSync(a).size);
  if (files.length === 0) throw new Error(`no .cpuprofile written in ${profDir}`);
  const s: Summary = summarize(files[0]!, root, 30, window.from_us, window.to_us);
  const step = run.steps[0]!;
  const lines = [
    `# Where a group message's time goes: the node under --cpu-prof at ${PROFILE_RATE} msg/s, ${MEMBERS} members`,
    "",
    `Run ${new Date().toISOString()}, \`PROFILE=1 npx tsx bench/fanout/run.ts\`, node settings: ${nodeSettings()}, code: ${codeState()}. One ${STEP_SECONDS} s step (the profiler slows the node): LAST p50/p99 ${fmt(step.last_p50_ms)}/${lastP99(step)} ms, first p99 ${fmt(step.first_p99_ms)} ms, refused ${step.refused} of ${step.sent} (${Object.entries(step.errors_by_code).map(([k, v]) => `${k} ${v}`).join(", ") || "no errors"}), accepted but not fully delivered ${step.not_fully_delivered}, node CPU ${step.server_cpu_us_per_message} µs per message (${step.server_cpu_us_per_delivery} µs per delivery).`,
    "",
    `Main thread over the step and its drain: ${s.total_ms} ms sampled, ${s.busy_ms} ms busy (${((s.busy_ms / Math.max(1, s.total_ms)) * 100).toFixed(0)}%). Self time (a synchronous native call, e.g. a SQLite statement, is charged to its JavaScript caller; lines are the .ts lines of each function's start, mapped through tsx's cached source maps):`,
    "",
    "| # | function | self ms | % of sampled |",
    "| ---: | --- | ---: | ---: |",
    ...s.functions.map((r, i) => `| ${i + 1} | \`${r.name}\` | ${r.ms} | ${r.pct} |`),
    "",
    "Charged to the innermost project function on the stack (library and native work beneath it included, e.g. `ws` and `writev` under the gateway's socket send, better-sqlite3 under a store method):",
    "",
    "| # | project function | ms | % of sampled |",
    "| ---: | --- | ---: | ---: |",
    ...s.project.map((r, i) => `| ${i + 1} | \`${r.name}\` | ${r.ms} | ${r.pct} |`),
    "",
    "Self time by file:",
    "",
    "| file | self ms | % |",
    "| --- | ---: | ---: |",
    ...s.files.slice(0, 20).map((r) => `| \`${r.name}\` | ${r.ms} | ${r.pct} |`),
    "",
    `Profile: ${files[0]} (not kept in the repository).`,
  ];
  mkdirSync(results, { recursive: true });
  if (step.server_counters) lines.splice(lines.length - 1, 0, `Node counters over the step and its drain: ${Object.entries(step.server_counters.at_drain_end).map(([k, v]) => `${k} ${v}`).join(", ")}; at the end of the sends: acks appended ${step.server_counters.at_sends_end.acks_appended}, applied ${step.server_counters.at_sends_end.acks_applied}.`, "");
  writeFileSync(join(results, `${PROFILE_NAME}.md`), `${lines.join("\n")}\n`);
  writeFileSync(join(results, `${PROFILE_NAME}.json`), `${JSON.stringify({ at: new Date().toISOString(), rate: PROFILE_RATE, members: MEMBERS, node_settings: nodeSettings(), code: codeState(), step, profile: s }, null, 2)}\n`);
  log(`profile summary → bench/results/${PROFILE_NAME}.md (profile kept at ${files[0]})`);
  for (const r of s.functions.slice(0, 15)) log(`  ${String(r.ms).padStart(6)} ms ${String(r.pct).padStart(5)}%  ${r.name}`);
}

async function main(): Promise<void> {
  if (PROFILE) return profileRun();
  if (ONLY === "relay") {
    await withServer("bench/fanout/group-relay.ts", { PORT: "0" }, (url, pid) => ladder("relay", url, pid, RATES, RELAY_BUDGET_S));
    return;
  }
  const runNode = async (rates: readonly number[], budget_s: number): Promise<Run> => {
    const dir = mkdtempSync(join(tmpdir(), "chat-fanout-"));
    try {
      return await withServer("nodes/all-in-one.ts", nodeEnv(dir), (url, pid) => ladder("node", url, pid, rates, budget_s));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const t0 = performance.now();
  // What the node's ladders may use: the run's budget less the relay's and two server stops.
  const nodePhaseS = RUN_BUDGET_S - RELAY_BUDGET_S - 20;
  const node = await runNode(RATES, Math.min(NODE_BUDGET_S, nodePhaseS));
  const left_s = Math.round(nodePhaseS - (performance.now() - t0) / 1000 - 10);
  if (node.goal_needs_fresh_server && left_s < STEP_SECONDS + DRAIN_SECONDS + 20) {
    log(`node: no time left (${left_s} s) for the goal rate on a fresh node`);
    node.skipped_for_time.push(GOAL.rate);
  } else if (node.goal_needs_fresh_server) {
    // Saturated below the goal rate with a backlog left: measure the goal rate from a clean start.
    log(`node: the goal rate ${GOAL.rate}/s runs on a fresh node (the backlog of the ${node.saturated_at_per_s}/s step had not drained); ${left_s} s left`);
    const fresh = await runNode([GOAL.rate], left_s);
    const goal = fresh.steps.find((s) => s.offered_per_s === GOAL.rate);
    if (goal !== undefined) {
      node.steps.push(goal);
      node.steps.sort((a, b) => a.offered_per_s - b.offered_per_s);
      node.skipped_rates = node.skipped_rates.filter((r) => r !== GOAL.rate);
      node.goal_on_fresh_server = true;
    }
  }
  if (ONLY === "node") return;
  const relay = await withServer("bench/fanout/group-relay.ts", { PORT: "0" }, (url, pid) => ladder("relay", url, pid, RATES, RELAY_BUDGET_S));

  const rows = node.steps.map((s) => {
    const r = relay.steps.find((x) => x.offered_per_s === s.offered_per_s);
    return {
      offered_per_s: s.offered_per_s,
      node_first_p99_ms: s.first_p99_ms,
      node_last_p50_ms: s.last_p50_ms,
      node_last_p99_ms: s.last_p99_ms,
      relay_last_p50_ms: r?.last_p50_ms ?? null,
      relay_last_p99_ms: r?.last_p99_ms ?? null,
      // With incomplete messages the node's p99 is a lower bound, and so is the ratio.
      last_p99_ratio: (s.last_p99_ms ?? s.last_p99_at_least_ms) !== null && r?.last_p99_ms ? Number(((s.last_p99_ms ?? s.last_p99_at_least_ms)! / r.last_p99_ms).toFixed(1)) : null,
      last_p99_ratio_at_least: s.last_p99_ms === null,
      node_cpu_us_per_message: s.server_cpu_us_per_message,
      relay_cpu_us_per_message: r?.server_cpu_us_per_message ?? null,
      cpu_ratio: s.server_cpu_us_per_message !== null && r?.server_cpu_us_per_message ? Number((s.server_cpu_us_per_message / r.server_cpu_us_per_message).toFixed(1)) : null,
    };
  });
  const atGoal = node.steps.find((s) => s.offered_per_s === GOAL.rate);
  const relayAtGoal = relay.steps.find((s) => s.offered_per_s === GOAL.rate);
  const result = {
    bench: "fanout",
    at: new Date().toISOString(),
    node_version: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    node_settings: nodeSettings(),
    code: codeState(),
    members: MEMBERS,
    rates: RATES,
    seconds_per_step: STEP_SECONDS,
    drain_seconds: DRAIN_SECONDS,
    warmup_seconds: WARMUP_SECONDS,
    goal: {
      rate: GOAL.rate,
      p99_ms: GOAL.p99_ms,
      node_last_p99_ms: atGoal?.last_p99_ms ?? null,
      node_last_p99_at_least_ms: atGoal?.last_p99_at_least_ms ?? null,
      relay_last_p99_ms: relayAtGoal?.last_p99_ms ?? null,
      node_last_p99: atGoal ? lastP99(atGoal) : null,
      relay_last_p99: relayAtGoal ? lastP99(relayAtGoal) : null,
      met: atGoal !== undefined && atGoal.last_p99_ms !== null && atGoal.last_p99_ms <= GOAL.p99_ms && atGoal.not_fully_delivered === 0 && atGoal.refused === 0,
    },
    rows,
    node,
    relay,
  };
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, "fanout.json"), `${JSON.stringify(result, null, 2)}\n`);
  const point = (s: StepResult): Point => ({ rate: s.offered_per_s, p50: s.last_p50_ms, p99: s.last_p99_ms ?? s.last_p99_at_least_ms, p99_at_least: s.last_p99_ms === null, ...(s.refused > 0 ? { note: `${s.refused} of ${s.sent} refused` } : {}) });
  const svg = chart(
    `Group fan-out: send → last of ${MEMBERS - 1} members' new_message`,
    `${MEMBERS}-member group, all online, every member acks; node vs a bare group relay, same client, same run (${result.at.slice(0, 10)})`,
    [
      { label: "all-in-one node", color: "#1f6fd1", points: node.steps.map(point) },
      { label: "bare group relay", color: "#e08a00", points: relay.steps.map(point) },
    ],
    { rate: GOAL.rate, ms: GOAL.p99_ms },
  );
  writeFileSync(join(results, "fanout.svg"), svg);
  writeFileSync(join(results, "fanout.md"), markdown(result));
  log(`goal p99 ≤ ${GOAL.p99_ms} ms at ${GOAL.rate}/s: ${result.goal.met ? "met" : "NOT met"} (node ${result.goal.node_last_p99 ?? "not run"} ms, relay ${result.goal.relay_last_p99 ?? "not run"} ms)`);
  log("wrote bench/results/fanout.json, fanout.svg, fanout.md");
}

main()
  .then(() => process.exit(0))
  .catch((e: unknown) => {
    console.error(e);
    for (const c of children) c.kill("SIGKILL");
    process.exit(1);
  });

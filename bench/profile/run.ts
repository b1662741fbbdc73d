/**
 * `make profile`: the all-in-one node under a fixed open-loop load, with V8's CPU profiler
 * on, and a report of where a message's time goes.
 *
 *   make profile [PROFILE_RATE=1500 PROFILE_USERS=1000 PROFILE_SECONDS=15 PROFILE_WARMUP_SECONDS=3 PROFILE_INTERVAL_US=1000]
 *
 * 1. Compiles the node with tsc (tsconfig.build.json, source maps) into a private folder, so
 *    the profile shows the JavaScript that `make run` runs (no tsx loader or transform
 *    frames, no tsx start-up) and the summary maps it back to the TypeScript lines.
 * 2. Starts `node --cpu-prof dist/nodes/all-in-one.js` on 127.0.0.1 with throwaway data.
 * 3. Runs bench/load/generator.ts (its own process): sign-ups, connections, a warm-up, then
 *    one measured step at the fixed rate, bounded drain and pause. Meanwhile it reads the
 *    node's CPU and storage writes from /proc and its /metrics every second (event-loop
 *    delay, GC, latency histograms).
 * 4. Stops the node with SIGTERM: it drains and calls process.exit(0), which writes the
 *    .cpuprofile (checked: no profile is an error).
 * 5. Summarises the samples taken during the measured step (from its first send to the end
 *    of its drain) and writes bench/results/profile/summary.md, summary.json and the raw
 *    node.cpuprofile (open it in Chrome DevTools' Performance panel or speedscope).
 *
 * Bounded: the generator and the node each have a deadline; everything started is stopped.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { sourceMapResolver, summarise, type CpuProfile } from "./cpuprofile.js";
import {
  build,
  generatorArgs,
  generatorBudgetMs,
  gitState,
  monotonicUs,
  nodeEnv,
  NODE_SCRIPT,
  OUT_DIR,
  PAUSE_SECONDS,
  machineCpuMs,
  processCpuMs,
  processWriteBytes,
  root,
  rssKiBOf,
  settingsFromEnv,
  BUILD_DIR,
} from "./common.js";
import { histogramQuantileMs, largestBucketMs, parsePrometheus, type Scrape } from "./metrics-text.js";
import { renderMarkdown, type LoadResult, type Report } from "./report.js";

const settings = settingsFromEnv();
/** Every process this run starts, so that a failure stops them too. */
const started: ChildProcess[] = [];

/** Starts the node under the profiler; resolves with its URL once it prints it (30 s at most). */
function startNode(dataDir: string, profDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${settings.sample_interval_us}`, NODE_SCRIPT],
    { cwd: root, env: { ...process.env, ...nodeEnv(dataDir) }, stdio: ["ignore", "pipe", "inherit"] },
  );
  started.push(child);
  return new Promise((ok, no) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      no(new Error(`the node did not print its URL within 30 s: ${out}`));
    }, 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/[0-9.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok({ child, url: m[1]! });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      no(new Error(`the node exited ${code} before it was ready: ${out}`));
    });
  });
}

/** SIGTERM, then wait (the node drains, exits 0 and V8 writes the profile); SIGKILL after `graceMs`. */
async function stopNode(child: ChildProcess, graceMs: number): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const t0 = performance.now();
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, ms: 0 };
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  const r = await exited;
  clearTimeout(timer);
  return { ...r, ms: Math.round(performance.now() - t0) };
}

type GenLine = { phase: string; step_phase?: string; t?: number; sent?: number; delivered?: number; lost_in_window?: number } & Partial<LoadResult>;

async function main(): Promise<void> {
  console.log(`profile: ${settings.rate} msg/s, ${settings.users} connections, ${settings.warmup_seconds} s warm-up + ${settings.seconds} s measured, --cpu-prof-interval ${settings.sample_interval_us} µs`);
  const buildWarning = build();
  const tmp = mkdtempSync(join(tmpdir(), "chat-profile-"));
  const profDir = join(tmp, "cpuprofile");
  const { child: node, url } = await startNode(tmp, profDir);
  const pid = node.pid!;
  console.log(`profile: node pid ${pid} on ${url}`);

  // /metrics every second (bounded by the run; each scrape by 2 s). prom-client resets its
  // event-loop delay histogram at every scrape, so each scrape describes the second before it.
  const scrapes: Scrape[] = [];
  let scraping = true;
  const scrape = async (): Promise<void> => {
    const t_us = monotonicUs();
    try {
      const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) scrapes.push({ t_us, values: parsePrometheus(await res.text()) });
    } catch {
      /* a missed scrape is a gap, not a failure */
    }
  };
  /** Scrapes taken at the window's edges, awaited before the node is stopped. */
  const inflight: Promise<void>[] = [];
  const scraper = (async () => {
    while (scraping) {
      await scrape();
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();

  let stepStartUs = null as number | null;
  let stepLineUs = null as number | null;
  let cpuAtStart = Number.NaN;
  let machineAtStart = { busy: Number.NaN, total: Number.NaN };
  let machineAtEnd = { busy: Number.NaN, total: Number.NaN };
  let genCpuAtStart = Number.NaN;
  let genCpuAtEnd = Number.NaN;
  let cpuAtEnd = Number.NaN;
  let ioAtStart = Number.NaN;
  let ioAtEnd = Number.NaN;
  let cpuAtConnected = Number.NaN;
  let usAtConnected = 0;
  let idleCpuMsPerS = null as number | null;
  let rssIdle = null as number | null;
  let rssEnd = null as number | null;
  let result = null as GenLine | null;
  let warmupLineUs = null as number | null;

  const gen = spawn(process.execPath, ["--import", "tsx", ...generatorArgs(url, settings)], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  started.push(gen);
  const budget = setTimeout(() => {
    console.error(`profile: the generator ran past its ${generatorBudgetMs(settings) / 1000} s budget; stopping it`);
    gen.kill("SIGKILL");
  }, generatorBudgetMs(settings));
  let buffer = "";
  gen.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const text = buffer.slice(0, i).trim();
      buffer = buffer.slice(i + 1);
      if (!text.startsWith("{")) continue;
      let line: GenLine;
      try {
        line = JSON.parse(text) as GenLine;
      } catch {
        continue;
      }
      const now = monotonicUs();
      if (line.phase === "connected") {
        cpuAtConnected = processCpuMs(pid);
        usAtConnected = now;
        console.log(`profile: ${text}`);
      } else if (line.phase === "idle") {
        idleCpuMsPerS = ((processCpuMs(pid) - cpuAtConnected) * 1e6) / Math.max(1, now - usAtConnected);
        rssIdle = rssKiBOf(pid);
        console.log(`profile: connections idle: node ${rssIdle} KiB RSS, ${idleCpuMsPerS.toFixed(1)} ms CPU/s`);
      } else if (line.phase === "step_start" && line.step_phase === "step") {
        stepStartUs = now;
        cpuAtStart = processCpuMs(pid);
        machineAtStart = machineCpuMs();
        genCpuAtStart = processCpuMs(gen.pid!);
        ioAtStart = processWriteBytes(pid);
        inflight.push(scrape());
        console.log(`profile: measuring ${settings.seconds} s at ${settings.rate} msg/s`);
      } else if (line.phase === "warmup") {
        // An older generator prints no step_start: there the measured step begins right after
        // this line, so the window's start readings are taken here too (a step_start overrides them).
        warmupLineUs = now;
        cpuAtStart = processCpuMs(pid);
        machineAtStart = machineCpuMs();
        genCpuAtStart = processCpuMs(gen.pid!);
        ioAtStart = processWriteBytes(pid);
        inflight.push(scrape());
        console.log(`profile: warm-up: delivered ${line.delivered}/${line.sent}, p99 ${line.p99_ms} ms`);
      } else if (line.phase === "tick" && stepStartUs !== null) {
        process.stdout.write(`  t=${line.t}s sent ${line.sent} delivered ${line.delivered}\n`);
      } else if (line.phase === "step") {
        stepLineUs = now;
        cpuAtEnd = processCpuMs(pid);
        machineAtEnd = machineCpuMs();
        genCpuAtEnd = processCpuMs(gen.pid!);
        ioAtEnd = processWriteBytes(pid);
        rssEnd = rssKiBOf(pid);
        inflight.push(scrape());
        result = line;
        console.log(`profile: step: ${text}`);
      }
    }
  });
  const genCode = await new Promise<number | null>((r) => gen.once("exit", r));
  clearTimeout(budget);
  scraping = false;
  await Promise.all([scraper, ...inflight]);
  scrapes.sort((a, b) => a.t_us - b.t_us);
  const stopped = await stopNode(node, 30_000);
  console.log(`profile: node stopped by SIGTERM in ${stopped.ms} ms (exit ${stopped.code ?? stopped.signal})`);
  if (genCode !== 0 || result === null) throw new Error(`the generator exited ${genCode} without a measured step`);
  if (stepStartUs === null) stepStartUs = warmupLineUs;
  if (stepStartUs === null || stepLineUs === null) throw new Error("the generator's output had no step start");

  const files = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error(`the node wrote no .cpuprofile (exit ${stopped.code ?? stopped.signal}): --cpu-prof writes it only on a normal exit`);
  // One file per thread, named CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; the main thread is thread 0.
  const mainFile = files.find((f) => new RegExp(`\\.${pid}\\.0\\.\\d+\\.cpuprofile$`).test(f)) ?? files.sort((a, b) => statSync(join(profDir, b)).size - statSync(join(profDir, a)).size)[0]!;
  const profFile = join(profDir, mainFile);
  const workerFiles = files.filter((f) => f !== mainFile);
  mkdirSync(OUT_DIR, { recursive: true });
  copyFileSync(profFile, join(OUT_DIR, "node.cpuprofile"));
  const profile = JSON.parse(readFileSync(profFile, "utf8")) as CpuProfile;

  // The measured window: from the step's first send to the end of its drain (the generator's
  // pause after the drain is left out, it would only add idle time).
  const windowEnd = stepLineUs - PAUSE_SECONDS * 1e6;
  const load: LoadResult = {
    offered_per_s: result.offered_per_s ?? settings.rate,
    sent: result.sent ?? 0,
    sent_ok: result.sent_ok ?? null,
    delivered: result.delivered ?? 0,
    delivered_per_s: result.delivered_per_s ?? 0,
    p50_ms: result.p50_ms ?? Number.NaN,
    p99_ms: result.p99_ms ?? Number.NaN,
    undelivered: result.undelivered ?? result.lost_in_window ?? null,
    refused: result.refused ?? null,
    errors_by_code: result.errors_by_code ?? {},
    errors: result.errors ?? 0,
    generator_cpu_pct: result.generator_cpu_pct ?? null,
  };
  const notes: string[] = [];
  if (buildWarning !== null) notes.push(buildWarning);
  let window: [number, number] | undefined = [stepStartUs, windowEnd];
  if (stepStartUs < profile.startTime || windowEnd > profile.endTime || windowEnd <= stepStartUs) {
    notes.push(`The step's window did not fall inside the profile's clock range (${profile.startTime}–${profile.endTime} µs); the whole profile is summarised instead.`);
    window = undefined;
  }
  const summary = summarise(profile, { resolve: sourceMapResolver(root), window, messages: load.delivered, top: 30, root });
  // Worker threads (the SQLite checkpointer, if the node has one): their busy share over the same window.
  const threads = workerFiles.map((f) => {
    const p = JSON.parse(readFileSync(join(profDir, f), "utf8")) as CpuProfile;
    const inside = window !== undefined && window[0] >= p.startTime && window[1] <= p.endTime;
    const s = summarise(p, { resolve: sourceMapResolver(root), window: inside ? window : undefined, messages: load.delivered, top: 5, root });
    return {
      file: f,
      busy_pct: s.busy_pct,
      busy_us_per_message: inside ? s.busy_us_per_message : null,
      top: s.functions.filter((fn) => fn.function !== "(idle)").slice(0, 5).map((fn) => ({ function: fn.function, place: fn.place, self_pct: fn.self_pct })),
    };
  });

  // /metrics: event-loop delay (per scrape interval), GC and latency histograms over the window.
  const inWindow = scrapes.filter((s) => s.t_us > stepStartUs! + 500_000 && s.t_us <= windowEnd + 500_000);
  const first = [...scrapes].reverse().find((s) => s.t_us <= stepStartUs! + 200_000) ?? scrapes[0];
  const last = scrapes.find((s) => s.t_us >= stepLineUs! - 200_000) ?? scrapes[scrapes.length - 1];
  const series = (name: string): number[] => inWindow.map((s) => s.values.get(name)).filter((v): v is number => v !== undefined && Number.isFinite(v)).map((v) => v * 1000);
  const median = (xs: number[]): number | null => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
  // monitorEventLoopDelay records the time between its timer's runs, so an idle loop reads
  // about its 10 ms resolution: the delay is what exceeds that.
  const RESOLUTION_MS = 10;
  const excess = (xs: number[]): number[] => xs.map((x) => Math.max(0, x - RESOLUTION_MS));
  const p99s = excess(series("nodejs_eventloop_lag_p99_seconds"));
  const means = excess(series("nodejs_eventloop_lag_mean_seconds"));
  const eventLoop =
    p99s.length === 0
      ? null
      : {
          source: "prom-client's monitorEventLoopDelay (10 ms timer), read from the node's /metrics each second; the 10 ms timer period is subtracted",
          scrapes: p99s.length,
          resolution_ms: RESOLUTION_MS,
          p50_ms_median: median(excess(series("nodejs_eventloop_lag_p50_seconds"))),
          p99_ms_median: median(p99s),
          p99_ms_worst: Math.max(...p99s),
          max_ms: Math.max(...excess(series("nodejs_eventloop_lag_max_seconds"))),
          mean_ms: means.length === 0 ? null : means.reduce((a, b) => a + b, 0) / means.length,
        };
  let serverLatency: Report["server_latency"] = null;
  let gc: Record<string, number> | null = null;
  if (first && last && first !== last) {
    // "≤ x": the bucket's upper bound; past the largest bucket: "> largest".
    const q = (name: string, quantile: number): string | null => {
      const v = histogramQuantileMs(first, last, name, quantile);
      if (v === null) return null;
      return Number.isFinite(v) ? `≤ ${v}` : `> ${largestBucketMs(last, name) ?? "?"}`;
    };
    serverLatency = {
      send_to_sent_p50_ms: q("chat_send_to_sent_seconds", 0.5),
      send_to_sent_p99_ms: q("chat_send_to_sent_seconds", 0.99),
      delivery_p50_ms: q("chat_delivery_seconds", 0.5),
      delivery_p99_ms: q("chat_delivery_seconds", 0.99),
    };
    gc = {};
    for (const [k, v] of last.values) {
      const m = /^nodejs_gc_duration_seconds_sum\{kind="([^"]+)"\}$/.exec(k);
      if (m) gc[m[1]!] = Number((((v - (first.values.get(k) ?? 0)) * 1000)).toFixed(1));
    }
  }

  const cpuMs = cpuAtEnd - cpuAtStart;
  const windowS = (stepLineUs - stepStartUs) / 1e6;
  const writeBytes = ioAtEnd - ioAtStart;
  // How busy the machine was, and with what: the numbers above are only as good as the machine was quiet.
  const machineTotal = machineAtEnd.total - machineAtStart.total;
  const ofMachine = (ms: number): number => Number(((100 * ms) / machineTotal).toFixed(1));
  const machine = {
    cores: cpus().length,
    busy_pct: ofMachine(machineAtEnd.busy - machineAtStart.busy),
    node_pct: ofMachine(cpuMs),
    generator_pct: ofMachine(genCpuAtEnd - genCpuAtStart),
    other_pct: ofMachine(machineAtEnd.busy - machineAtStart.busy - cpuMs - (genCpuAtEnd - genCpuAtStart)),
  };
  if (machine.other_pct > 10)
    notes.unshift(
      `**The machine was not quiet:** other processes used ${machine.other_pct}% of its ${machine.cores} cores during the window (the node ${machine.node_pct}%, the generator ${machine.generator_pct}%). Latencies, throughput and per-message CPU are then pessimistic and shares may shift; rerun on a quiet machine to compare runs.`,
    );
  notes.push(
    `Window: the profile is cut to the measured step, from its first send to the end of its drain (${(summary.window.duration_ms / 1000).toFixed(1)} s, ${summary.window.samples} samples, one every ${summary.window.mean_interval_us} µs on average). The warm-up, sign-ups, connects and shutdown are in node.cpuprofile but not in these tables.`,
    "A profile sample is main-thread wall time, not CPU: a synchronous call that blocks (SQLite's COMMIT writing the WAL, a socket writev) is charged to the JavaScript function that made it. V8 shows no frame for better-sqlite3's native methods, so SQLite's own time appears as the self time of the adapter function that ran the statement (runBatch for BEGIN/SAVEPOINT/RELEASE/COMMIT). JSON.parse/stringify are builtins without frames too: their time is the self time of decode.parseJson and encodeFrame (and of whichever function calls them elsewhere).",
    `Node CPU per delivered message is the node process's utime+stime (all its threads: main, libuv pool, V8's GC helpers) from the step's first send to the end of its drain and ${PAUSE_SECONDS} s pause, divided by the messages delivered in the step; a message is a send, its \`sent\` receipt, the delivery, the receiver's ack and the \`delivered\` receipt to the sender.`,
    "The event-loop delay comes from the node's own /metrics (prom-client's monitorEventLoopDelay, which times a 10 ms timer: an idle loop reads 10 ms, so 10 ms is subtracted): per one-second read, the median over the window of the per-second p50 and p99, the worst p99, the largest single delay and the mean. Reading /metrics costs the node a little (a `count(*)` of the pending table and the registry's text); it shows up under metrics.",
    "Re-summarise a saved profile with `npx tsx bench/profile/summarise.ts bench/results/profile/node.cpuprofile` (whole profile, no per-message column).",
  );
  if (existsClinic()) notes.push("clinic doctor and clinic flame (make profile-clinic) on the same load: bench/results/profile/clinic.md.");

  const report: Report = {
    bench: "profile",
    at: new Date().toISOString(),
    node: process.version,
    cpu_model: cpus()[0]?.model ?? "unknown",
    git: gitState(),
    build: `tsc -p tsconfig.build.json into ${BUILD_DIR.replace(`${root}/`, "")}, source maps on`,
    settings: { ...settings, env: pickEnv() },
    load,
    node_cpu: {
      window_s: Number(windowS.toFixed(2)),
      cpu_ms: Math.round(cpuMs),
      cpu_us_per_delivered: load.delivered > 0 && Number.isFinite(cpuMs) ? Math.round((cpuMs * 1000) / load.delivered) : null,
      cpu_pct_of_one_core: Number(((cpuMs / (windowS * 1000)) * 100).toFixed(1)),
      idle_cpu_ms_per_s: idleCpuMsPerS === null ? null : Number(idleCpuMsPerS.toFixed(1)),
      rss_idle_kib: rssIdle,
      rss_end_kib: rssEnd,
    },
    storage: {
      write_bytes_per_delivered: load.delivered > 0 && Number.isFinite(writeBytes) ? Math.round(writeBytes / load.delivered) : null,
      note: "/proc/PID/io write_bytes over the same window: page-cache pages the node dirtied (WAL frames, checkpoints), counted once per page until written back",
    },
    machine,
    event_loop: eventLoop,
    server_latency: serverLatency,
    gc_from_metrics_ms: gc,
    profile: summary,
    worker_threads: threads,
    files: { raw_profile: "bench/results/profile/node.cpuprofile", summary: "bench/results/profile/summary.md", json: "bench/results/profile/summary.json" },
    notes,
  };
  const md = renderMarkdown(report);
  writeFileSync(join(OUT_DIR, "summary.md"), md);
  writeFileSync(join(OUT_DIR, "summary.json"), `${JSON.stringify(report, null, 2)}\n`);
  rmSync(tmp, { recursive: true, force: true });
  console.log("");
  console.log(md);
  console.log(`profile: wrote ${OUT_DIR.replace(`${root}/`, "")}/summary.md, summary.json and node.cpuprofile`);
}

function existsClinic(): boolean {
  try {
    return statSync(join(OUT_DIR, "clinic.md")).isFile();
  } catch {
    return false;
  }
}

/** Node settings given through the environment that change what is profiled (recorded with the result). */
function pickEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ["COMMIT_WINDOW_MS", "ROUTERS", "LOG_PARTITIONS", "DRAIN_TIMEOUT_MS"]) if (process.env[k] !== undefined) out[k] = process.env[k]!;
  return out;
}

main().catch((e: unknown) => {
  console.error(`profile: ${e instanceof Error ? e.message : String(e)}`);
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  process.exit(1);
});

/**
 * The profile report: what `make profile` measured besides the CPU profile (the load, the
 * node's CPU from /proc, event-loop delay and latencies from its /metrics), and the markdown
 * that bench/results/profile/summary.md holds.
 */
import type { Summary } from "./cpuprofile.js";

export type LoadResult = {
  offered_per_s: number;
  sent: number;
  sent_ok: number | null;
  delivered: number;
  delivered_per_s: number;
  p50_ms: number;
  p99_ms: number;
  undelivered: number | null;
  /** Sends answered by an error frame (admission control: OVERLOADED, RATE_LIMITED), by code. */
  refused: number | null;
  errors_by_code: Record<string, number>;
  errors: number;
  generator_cpu_pct: number | null;
};

export type Report = {
  bench: "profile";
  at: string;
  node: string;
  cpu_model: string;
  git: { commit: string; modified_files: number };
  build: string;
  settings: { rate: number; users: number; seconds: number; warmup_seconds: number; sample_interval_us: number; env: Record<string, string> };
  load: LoadResult;
  node_cpu: {
    /** From the measured step's first send to the end of its drain and pause. */
    window_s: number;
    cpu_ms: number;
    cpu_us_per_delivered: number | null;
    cpu_pct_of_one_core: number;
    /** With every connection open and idle (heartbeats, timers, router polls). */
    idle_cpu_ms_per_s: number | null;
    rss_idle_kib: number | null;
    rss_end_kib: number | null;
  };
  /** Shares of the whole machine (all cores) over the node CPU window, from /proc/stat. */
  machine: { cores: number; busy_pct: number; node_pct: number; generator_pct: number; other_pct: number };
  storage: { write_bytes_per_delivered: number | null; note: string };
  event_loop: {
    source: string;
    scrapes: number;
    resolution_ms: number;
    p50_ms_median: number | null;
    p99_ms_median: number | null;
    p99_ms_worst: number | null;
    max_ms: number | null;
    mean_ms: number | null;
  } | null;
  /** Quantiles from the node's histograms as bucket bounds: "≤ 25" (ms), or "> 5000" past the largest bucket. */
  server_latency: { send_to_sent_p50_ms: string | null; send_to_sent_p99_ms: string | null; delivery_p50_ms: string | null; delivery_p99_ms: string | null } | null;
  gc_from_metrics_ms: Record<string, number> | null;
  profile: Summary;
  /** Other threads' profiles (--cpu-prof writes one per thread): how busy they were over the same window. */
  worker_threads: { file: string; busy_pct: number; busy_us_per_message: number | null; top: { function: string; place: string; self_pct: number }[] }[];
  files: Record<string, string>;
  notes: string[];
};

const f = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined || Number.isNaN(x) ? "–" : x === Number.POSITIVE_INFINITY ? "∞" : x.toFixed(digits));
const le = (x: string | null): string => (x === null ? "–" : `${x} ms`);

export function renderMarkdown(r: Report): string {
  const p = r.profile;
  const L = r.load;
  const out: string[] = [];
  out.push(`# Where a message's time goes: the all-in-one node under ${r.settings.rate} msg/s`);
  out.push("");
  out.push(
    `Written by \`make profile\` (bench/profile/run.ts) on ${r.at}: Node ${r.node}, ${r.cpu_model}, commit ${r.git.commit.slice(0, 10)}` +
      `${r.git.modified_files > 0 ? ` with ${r.git.modified_files} modified files in the work tree` : ""}. ` +
      `Load: the open-loop generator (bench/load/generator.ts), ${r.settings.users} connections (${Math.floor(r.settings.users / 2)} sender→receiver pairs, every receiver acks), ` +
      `64-byte bodies, ${r.settings.warmup_seconds} s warm-up then ${r.settings.seconds} s measured at ${r.settings.rate} msg/s. ` +
      `The node runs compiled JavaScript (${r.build}) under \`--cpu-prof\` (sampling every ${r.settings.sample_interval_us} µs).`,
  );
  out.push("");
  out.push("## In short");
  out.push("");
  if (r.machine.other_pct > 10)
    out.push(`- **Not a quiet machine:** other processes used ${f(r.machine.other_pct)}% of the ${r.machine.cores} cores during the window; absolute numbers are pessimistic, compare runs only on a quiet machine.`);
  const kept = L.undelivered === 0 || L.undelivered === null ? L.delivered >= L.sent : false;
  out.push(
    `- Offered ${L.offered_per_s} msg/s, the node delivered ${L.delivered_per_s}/s: ` +
      (kept
        ? `it kept up (p99 ${f(L.p99_ms)} ms).`
        : `it did not keep up (p99 ${f(L.p99_ms / 1000, 2)} s; ${L.refused ? `${L.refused} sends refused (${Object.entries(L.errors_by_code).map(([k, v]) => `${k} ${v}`).join(", ")}), ` : ""}${L.undelivered ?? L.sent - L.delivered} undelivered after the bounded drain), so this profile shows what limits it.`),
  );
  out.push(
    `- Node CPU: ${f(r.node_cpu.cpu_us_per_delivered, 0)} µs per delivered message (${f(r.node_cpu.cpu_pct_of_one_core, 0)}% of one core). Main thread: busy ${f(p.busy_pct)}% of the window, ${f(p.busy_us_per_message, 0)} µs of wall time per message.` +
      (p.busy_ms > r.node_cpu.cpu_ms * (p.window.duration_ms / 1000 / r.node_cpu.window_s)
        ? " The main thread's busy time exceeds the whole process's CPU time over the same span, so part of it is not computing: the thread blocked in synchronous calls (SQLite writing its WAL, socket writes) or, on a busy machine, waiting for a core."
        : ""),
  );
  const busyGroups = p.groups.filter((g) => g.group !== "idle").slice(0, 4);
  out.push(`- Busy time by group: ${busyGroups.map((g) => `${g.group} ${f(g.busy_pct, 0)}% (${f(g.us_per_message, 0)} µs/msg)`).join(", ")}.`);
  const topFns = p.functions.filter((fn) => fn.function !== "(idle)").slice(0, 3);
  out.push(
    `- Top functions by self time: ${topFns
      .map((fn) => `\`${fn.function}\` ${fn.place === "(native)" ? "" : `(${fn.place}) `}${f(fn.self_pct)}%${fn.hottest_code ? `, mostly at \`${fn.hottest_code.replaceAll("`", "'")}\` (${fn.hottest_line_pct}% of its samples)` : ""}`)
      .join("; ")}.`,
  );
  if (r.event_loop) out.push(`- Event-loop delay: p99 ${f(r.event_loop.p99_ms_median)} ms in a typical second of the window, worst ${f(r.event_loop.p99_ms_worst)} ms.`);
  out.push("");
  out.push("## Key numbers");
  out.push("");
  out.push(`| what | value |`);
  out.push(`| --- | --- |`);
  out.push(`| delivered | ${L.delivered} of ${L.sent} sent (${L.delivered_per_s}/s), refused ${L.refused ?? "–"}, undelivered ${L.undelivered ?? "–"}, error frames ${L.errors} |`);
  out.push(`| delivery latency (generator: send → new_message on the receiver) | p50 ${f(L.p50_ms)} ms, p99 ${f(L.p99_ms)} ms |`);
  if (r.server_latency)
    out.push(
      `| server-side latency (node's /metrics histograms, bucket bounds) | send → \`sent\` p50 ${le(r.server_latency.send_to_sent_p50_ms)}, p99 ${le(r.server_latency.send_to_sent_p99_ms)}; ordered → new_message p50 ${le(r.server_latency.delivery_p50_ms)}, p99 ${le(r.server_latency.delivery_p99_ms)} |`,
    );
  out.push(`| **node CPU per delivered message** (/proc/PID/stat utime+stime, all threads) | **${f(r.node_cpu.cpu_us_per_delivered, 0)} µs** (${f(r.node_cpu.cpu_ms, 0)} ms CPU over ${f(r.node_cpu.window_s)} s = ${f(r.node_cpu.cpu_pct_of_one_core, 0)}% of one core) |`);
  out.push(`| node CPU when idle with every connection open | ${f(r.node_cpu.idle_cpu_ms_per_s)} ms per second |`);
  out.push(`| **main thread busy** (profile, not idle) | **${f(p.busy_pct)}%** of ${f(p.window.duration_ms / 1000)} s = ${f(p.busy_us_per_message, 0)} µs per delivered message; idle ${f(p.idle_pct)}% |`);
  if (r.event_loop)
    out.push(
      `| event-loop delay (${r.event_loop.source}; ${r.event_loop.scrapes} one-second windows) | p50 ${f(r.event_loop.p50_ms_median)} ms, p99 ${f(r.event_loop.p99_ms_median)} ms (median of the seconds), worst p99 ${f(r.event_loop.p99_ms_worst)} ms, max ${f(r.event_loop.max_ms)} ms, mean ${f(r.event_loop.mean_ms)} ms |`,
    );
  else out.push(`| event-loop delay | not available (the node's /metrics has no nodejs_eventloop_lag_* series) |`);
  if (r.storage.write_bytes_per_delivered !== null)
    out.push(`| storage writes per delivered message | ${f(r.storage.write_bytes_per_delivered, 0)} bytes ≈ ${f(r.storage.write_bytes_per_delivered / 4096)} pages of 4 KiB (${r.storage.note}) |`);
  if (r.gc_from_metrics_ms) out.push(`| GC pauses in the window (/metrics, by kind) | ${Object.entries(r.gc_from_metrics_ms).map(([k, v]) => `${k} ${f(v)} ms`).join(", ")} |`);
  out.push(
    `| the machine during the window (/proc/stat, ${r.machine.cores} cores) | ${f(r.machine.busy_pct)}% busy: the node ${f(r.machine.node_pct)}%, the generator ${f(r.machine.generator_pct)}%, other processes ${f(r.machine.other_pct)}% |`,
  );
  out.push("");
  out.push("## Where the main thread's time goes, by component group");
  out.push("");
  out.push(
    "Each sample is charged to the innermost frame that belongs to a component (node's own stream/timer JavaScript and anonymous builtins are charged to their caller), so the `self` column adds up to 100%. " +
      "`inclusive` counts a sample for every group on its stack (columns overlap). µs/msg is main-thread time (wall, including synchronous I/O) per delivered message.",
  );
  out.push("");
  out.push("| group | self % of window | % of busy | µs / msg | inclusive % |");
  out.push("| --- | ---: | ---: | ---: | ---: |");
  for (const g of p.groups) out.push(`| ${g.group} | ${f(g.self_pct)} | ${f(g.busy_pct)} | ${f(g.us_per_message)} | ${f(g.inclusive_pct)} |`);
  out.push("");
  out.push("## By component");
  out.push("");
  out.push("| component | self % | % of busy | µs / msg | inclusive % |");
  out.push("| --- | ---: | ---: | ---: | ---: |");
  for (const c of p.components) out.push(`| ${c.label} | ${f(c.self_pct, 2)} | ${f(c.busy_pct)} | ${f(c.us_per_message)} | ${f(c.inclusive_pct)} |`);
  out.push("");
  out.push("## Who starts the work");
  out.push("");
  out.push("Busy time by the outermost component on the stack, i.e. which kind of event-loop callback the work ran in (a frame arriving from a socket, a router's poll answer, a group-commit flush, a timer, a /metrics scrape).");
  out.push("");
  out.push("| outermost component | % of window | % of busy |");
  out.push("| --- | ---: | ---: |");
  for (const e of p.entries) out.push(`| ${e.label} | ${f(e.pct)} | ${f(e.busy_pct)} |`);
  out.push("");
  out.push(`## Top ${p.functions.length} functions by self time`);
  out.push("");
  out.push("Places are the TypeScript source (mapped through tsc's source maps) of the function's start; `hottest line` is the line with most samples in it over the whole run (V8's positionTicks). For a SQLite adapter function, self time is mostly better-sqlite3's native statement execution and its I/O.");
  out.push("");
  out.push("| # | function | place | component | self % | self µs/msg | total % | hottest line |");
  out.push("| ---: | --- | --- | --- | ---: | ---: | ---: | --- |");
  p.functions.forEach((fn, i) => {
    const code = fn.hottest_code === null ? "" : ` \`${fn.hottest_code.replaceAll("|", "\\|").replaceAll("`", "'")}\``;
    const hot = fn.hottest_line === null ? "" : `${fn.hottest_line.replace(/^.*\//, "")} (${fn.hottest_line_pct}%)${code}`;
    out.push(`| ${i + 1} | \`${fn.function}\` | ${fn.place} | ${fn.component} | ${f(fn.self_pct, 2)} | ${f(fn.self_us_per_message)} | ${f(fn.total_pct)} | ${hot} |`);
  });
  out.push("");
  if (r.worker_threads.length > 0) {
    out.push("## Other threads");
    out.push("");
    out.push("`--cpu-prof` profiles each JavaScript thread separately; the tables above are the main thread's.");
    out.push("");
    out.push("| thread profile | busy % | µs / msg | top functions (self % of the window) |");
    out.push("| --- | ---: | ---: | --- |");
    for (const t of r.worker_threads) out.push(`| ${t.file} | ${f(t.busy_pct)} | ${f(t.busy_us_per_message)} | ${t.top.map((x) => `\`${x.function}\` ${x.place} ${f(x.self_pct)}%`).join("; ")} |`);
    out.push("");
  }
  out.push("## How to read it");
  out.push("");
  for (const n of r.notes) out.push(`- ${n}`);
  out.push("");
  out.push("Files: " + Object.entries(r.files).map(([k, v]) => `${k} \`${v}\``).join(", ") + ".");
  out.push("");
  return out.join("\n");
}

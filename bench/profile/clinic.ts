/**
 * `make profile-clinic`: Clinic.js Doctor and Flame on the all-in-one node under the same
 * load as `make profile`, one run each, through their programmatic interfaces
 * (@clinic/doctor, @clinic/flame; no CLI, so no usage-statistics prompt or update check).
 *
 * Clinic is installed apart from the project, from bench/profile/clinic/package-lock.json
 * (`npm ci` there on first use): about 460 packages (TensorFlow.js for Doctor's analysis,
 * browserify for the reports), which nothing else needs. Its maintainers say it is no longer
 * actively maintained and that on Node 20 and 22 it works "but not accurate"; what that
 * means for this node is written into clinic.md from the run itself.
 *
 * Writes bench/results/profile/clinic-doctor.html, clinic-flame.html and clinic.md (with
 * Doctor's verdict and the native frames Flame's --prof ticks show that --cpu-prof cannot).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILD_DIR, build, generatorArgs, generatorBudgetMs, machineCpuMs, nodeEnv, NODE_SCRIPT, OUT_DIR, root, settingsFromEnv, type Settings } from "./common.js";

const CLINIC_DIR = join(root, "bench/profile/clinic");
const settings = settingsFromEnv();
const started: ChildProcess[] = [];

function install(): void {
  if (existsSync(join(CLINIC_DIR, "node_modules/@clinic/doctor/package.json")) && existsSync(join(CLINIC_DIR, "node_modules/@clinic/flame/package.json"))) return;
  console.log("profile-clinic: installing @clinic/doctor and @clinic/flame from bench/profile/clinic/package-lock.json (about 460 packages, once)");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: CLINIC_DIR, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`npm ci in bench/profile/clinic failed (exit ${r.status})`);
}

/** Runs the generator against `port` (bounded); resolves with its measured step line. */
function drive(port: number, s: Settings): Promise<Record<string, unknown> | null> {
  const gen = spawn(process.execPath, ["--import", "tsx", ...generatorArgs(`http://127.0.0.1:${port}`, s)], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  started.push(gen);
  const budget = setTimeout(() => gen.kill("SIGKILL"), generatorBudgetMs(s));
  let step: Record<string, unknown> | null = null;
  let m0 = machineCpuMs();
  let buffer = "";
  gen.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const text = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (line.phase === "step_start" && line.step_phase === "step") m0 = machineCpuMs();
        if (line.phase === "step") {
          const m1 = machineCpuMs();
          // How busy the whole machine was during the step (the node, the generator and anything else).
          step = { ...line, machine_busy_pct: Number(((100 * (m1.busy - m0.busy)) / (m1.total - m0.total)).toFixed(1)) };
        }
      } catch {
        /* not a JSON line */
      }
    }
  });
  return new Promise((ok) =>
    gen.once("exit", () => {
      clearTimeout(budget);
      ok(step);
    }),
  );
}

type Tool = {
  on(event: "port", listener: (port: number, proc: ChildProcess | null, done: () => void) => void): void;
  collect(args: string[], cb: (err: Error | null, dataDir: string) => void): void;
  visualize(dataDir: string, html: string, cb: (err: Error | null) => void): void;
};

/** One clinic tool on the node under the load: collect, then the HTML report. */
async function runTool(name: "doctor" | "flame", work: string): Promise<{ dataDir: string; html: string; step: Record<string, unknown> | null; seconds: number }> {
  const req = createRequire(join(CLINIC_DIR, "package.json"));
  const Ctor = req(`@clinic/${name}`) as new (settings: Record<string, unknown>) => Tool;
  const tool = new Ctor({ detectPort: true, dest: join(work, name), debug: false });
  const t0 = performance.now();
  let step: Record<string, unknown> | null = null;
  // Doctor spawns the node with its environment; Flame (0x) too. The node's settings go there.
  Object.assign(process.env, nodeEnv(work), { PROFILE_NODE_SCRIPT: NODE_SCRIPT });
  const dataDir = await new Promise<string>((ok, no) => {
    const deadline = setTimeout(() => no(new Error(`clinic ${name} did not finish within its budget`)), generatorBudgetMs(settings) + 120_000);
    tool.on("port", (port, _proc, done) => {
      console.log(`profile-clinic: ${name}: node listening on 127.0.0.1:${port}; driving it`);
      void drive(port, settings).then((s) => {
        step = s;
        // Closes the tool's pipe to the node: its injected code then flushes the samples and
        // exits the node (Doctor) or exits it at once (Flame). No signal: Doctor's sampler
        // flushes on SIGINT only when no one else listens, and the node does.
        done();
      });
    });
    tool.collect([process.execPath, join(BUILD_DIR, "bench/profile/clinic-entry.js")], (err, dir) => {
      clearTimeout(deadline);
      if (err) no(err);
      else ok(dir);
    });
  });
  const html = `${dataDir}.html`;
  await new Promise<void>((ok, no) => tool.visualize(dataDir, html, (err) => (err ? no(err) : ok())));
  return { dataDir, html, step, seconds: Math.round((performance.now() - t0) / 1000) };
}

/** Doctor's own analysis of its samples (what its HTML shows as the diagnosis). */
async function doctorVerdict(dataDir: string): Promise<{ category: string; issues: unknown; interval_s: number | null; summary: string }> {
  const req = createRequire(join(CLINIC_DIR, "node_modules/@clinic/doctor/index.js"));
  const pumpify = req("pumpify") as { obj: (...streams: unknown[]) => NodeJS.ReadableStream };
  const fs = req("fs") as typeof import("node:fs");
  const paths = (req("@clinic/clinic-common") as { getLoggingPaths: (tool: string) => (o: { path: string }) => Record<string, string> }).getLoggingPaths("doctor")({ path: dataDir });
  const SystemInfoDecoder = req("./format/system-info-decoder.js") as new () => unknown;
  const TraceEventDecoder = req("./format/trace-event-decoder.js") as new (s: unknown) => unknown;
  const ProcessStatDecoder = req("./format/process-stat-decoder.js") as new () => unknown;
  const Analysis = req("./analysis/index.js") as new (a: unknown, b: unknown, c: unknown) => NodeJS.ReadableStream;
  const systemInfo = pumpify.obj(fs.createReadStream(paths["/systeminfo"]!), new SystemInfoDecoder());
  const traceEvents = pumpify.obj(fs.createReadStream(paths["/traceevent"]!), new TraceEventDecoder(systemInfo));
  const processStat = pumpify.obj(fs.createReadStream(paths["/processstat"]!), new ProcessStatDecoder());
  const result = await new Promise<{ issueCategory: string; issues: unknown; interval: [number, number] }>((ok, no) => {
    const a = new Analysis(systemInfo, traceEvents, processStat);
    a.on("data", (d: { issueCategory: string; issues: unknown; interval: [number, number] }) => ok(d));
    a.on("error", no);
  });
  const summaryFile = join(CLINIC_DIR, `node_modules/@clinic/doctor/recommendations/${result.issueCategory}-summary.md`);
  const summary = existsSync(summaryFile) ? readFileSync(summaryFile, "utf8").replace(/<[^>]+>/g, "").trim() : "";
  const [a, b] = result.interval;
  return { category: result.issueCategory, issues: result.issues, interval_s: Number.isFinite(a) && Number.isFinite(b) ? Math.round((b - a) / 100) / 10 : null, summary };
}

type Tick = { name: string; type: string }[];
const cleanFrame = (name: string): string => name.replace(/file:\/\/\S*?\/(?:provable-chat-profile|dist)\//, "").replace(/file:\/\/\S*?\/node_modules\//, "node_modules/").trim().slice(0, 90);

/** Flame's ticks (0x's --prof samples, native frames included): the innermost frames, and for native ones the JavaScript that called them. */
function flameLeaves(dataDir: string): { ticks: number; leaves: { frame: string; type: string; pct: number; js_callers: { caller: string; pct_of_frame: number }[] }[] } {
  const file = join(dataDir, `${dataDir.replace(/^.*\//, "")}-samples`);
  const ticks = JSON.parse(readFileSync(file, "utf8")) as Tick[];
  const count = new Map<string, { type: string; n: number; callers: Map<string, number> }>();
  for (const stack of ticks) {
    const leaf = stack[stack.length - 1];
    const key = leaf ? cleanFrame(leaf.name) : "(no frame)";
    const e = count.get(key) ?? { type: leaf?.type ?? "", n: 0, callers: new Map<string, number>() };
    e.n++;
    const js = [...stack].reverse().find((f) => f.type === "JS");
    const caller = js ? cleanFrame(js.name) : "(no JavaScript on the stack)";
    e.callers.set(caller, (e.callers.get(caller) ?? 0) + 1);
    count.set(key, e);
  }
  const leaves = [...count.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .slice(0, 15)
    .map(([frame, e]) => ({
      frame,
      type: e.type,
      pct: Number(((100 * e.n) / ticks.length).toFixed(2)),
      js_callers:
        e.type === "JS"
          ? []
          : [...e.callers.entries()]
              .sort((a, b) => b[1] - a[1])
              .slice(0, 3)
              .map(([caller, n]) => ({ caller, pct_of_frame: Math.round((100 * n) / e.n) })),
    }));
  return { ticks: ticks.length, leaves };
}

async function main(): Promise<void> {
  install();
  const buildWarning = build();
  mkdirSync(OUT_DIR, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "chat-clinic-"));
  const md: string[] = [];
  const json: Record<string, unknown> = { at: new Date().toISOString(), node: process.version, settings };
  md.push(`# Clinic.js on the all-in-one node (${settings.rate} msg/s, ${settings.users} connections, ${settings.warmup_seconds} s warm-up + ${settings.seconds} s)`);
  md.push("");
  md.push(
    `Written by \`make profile-clinic\` (bench/profile/clinic.ts) on ${json.at as string}, Node ${process.version}, @clinic/doctor 11.0.0 and @clinic/flame 13.0.0 ` +
      "(the versions of the `clinic` 13.0.0 CLI), same load and same compiled node as `make profile`. The main report is summary.md (--cpu-prof).",
  );
  md.push("");

  const doctor = await runTool("doctor", work);
  const verdict = await doctorVerdict(doctor.dataDir);
  renameSync(doctor.html, join(OUT_DIR, "clinic-doctor.html"));
  json.doctor = { ...verdict, step: doctor.step, seconds: doctor.seconds };
  md.push("## Doctor");
  md.push("");
  md.push(`Report: \`bench/results/profile/clinic-doctor.html\` (${(statSync(join(OUT_DIR, "clinic-doctor.html")).size / 1e6).toFixed(1)} MB). Load under Doctor: ${stepText(doctor.step)}.`);
  md.push("");
  md.push(`Doctor's diagnosis: **${verdict.category}**${verdict.interval_s !== null ? ` (over the ${verdict.interval_s} s it took for the benchmark)` : ""}. Its detectors: \`${JSON.stringify(verdict.issues)}\`.`);
  if (verdict.summary) {
    md.push("");
    for (const line of verdict.summary.split("\n")) md.push(`> ${line}`);
  }
  md.push("");

  const flame = await runTool("flame", work);
  const leaves = flameLeaves(flame.dataDir);
  renameSync(flame.html, join(OUT_DIR, "clinic-flame.html"));
  json.flame = { step: flame.step, seconds: flame.seconds, ...leaves };
  md.push("## Flame");
  md.push("");
  md.push(`Report: \`bench/results/profile/clinic-flame.html\` (${(statSync(join(OUT_DIR, "clinic-flame.html")).size / 1e6).toFixed(1)} MB). Load under Flame: ${stepText(flame.step)}.`);
  md.push("");
  md.push(`Flame samples with V8's \`--prof\` (through 0x), which records native frames too; over the whole run (start-up and sign-ups included, ${leaves.ticks} ticks) the innermost frames were:`);
  md.push("");
  md.push("| innermost frame | kind | % of ticks | nearest JavaScript caller (share of the frame's ticks) |");
  md.push("| --- | --- | ---: | --- |");
  const esc = (x: string): string => x.replaceAll("|", "\\|");
  for (const l of leaves.leaves) md.push(`| \`${esc(l.frame)}\` | ${l.type} | ${l.pct} | ${l.js_callers.map((c) => `\`${esc(c.caller)}\` ${c.pct_of_frame}%`).join(", ")} |`);
  md.push("");
  // The assessment goes first, under the title and the provenance line.
  md.splice(4, 0, ...trust(doctor.step, flame.step, verdict, leaves, buildWarning));
  writeFileSync(join(OUT_DIR, "clinic.json"), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(OUT_DIR, "clinic.md"), `${md.join("\n")}\n`);
  rmSync(work, { recursive: true, force: true });
  console.log(md.join("\n"));
  console.log("profile-clinic: wrote bench/results/profile/clinic.md, clinic.json, clinic-doctor.html, clinic-flame.html");
  // Exit now: Doctor's collect() left a beforeExit check on its (moved) data file that would print a false "empty" warning.
  process.exit(0);
}

type Leaves = ReturnType<typeof flameLeaves>;

/** What the two runs say about clinic's accuracy here: measured facts beside the maintainers' word. */
function trust(doctorStep: Record<string, unknown> | null, flameStep: Record<string, unknown> | null, verdict: Awaited<ReturnType<typeof doctorVerdict>>, leaves: Leaves, buildWarning: string | null): string[] {
  const out: string[] = ["## How far to trust clinic here (Node " + process.version + ")", ""];
  out.push(
    "- **Maintenance.** Clinic.js is no longer actively maintained: NearForm, who wrote it, said so in clinicjs/node-clinic#474 (August 2024), and a maintainer added there that it \"does work on Node.js 20 and 22, but not accurate\". Its last release (clinic 13.0.0) is the one used here.",
    "- **Doctor and worker threads.** Doctor preloads its sampler into every JavaScript thread (through NODE_OPTIONS) and names the sampler's file after the process id, so the node's SQLite checkpointer thread opens the main thread's file and writes over it; Doctor then fails reading it back (`Error: Decoded message is not valid`, seen here before the workaround). bench/profile/clinic-entry.ts gives threads started after start-up a file of their own; the worker's samples are not in the report.",
  );
  type Saved = { at?: string; load?: { delivered_per_s?: number; p99_ms?: number }; machine?: { busy_pct?: number } };
  let cpuprof = null as Saved | null;
  try {
    cpuprof = JSON.parse(readFileSync(join(OUT_DIR, "summary.json"), "utf8")) as Saved;
  } catch {
    cpuprof = null;
  }
  const loadLine = (label: string, step: Record<string, unknown> | null): string =>
    step === null ? `${label}: no result` : `${label} ${String(step.delivered_per_s)}/s (p99 ${String(step.p99_ms)} ms; machine ${String(step.machine_busy_pct)}% busy)`;
  out.push(
    `- **Overhead.** Delivered at ${settings.rate} msg/s offered: ${loadLine("under Doctor", doctorStep)}, ${loadLine("under Flame", flameStep)}` +
      (cpuprof?.load ? `; under --cpu-prof (summary.md, run at ${cpuprof.at ?? "?"}) ${String(cpuprof.load.delivered_per_s)}/s (p99 ${String(cpuprof.load.p99_ms)} ms; machine ${String(cpuprof.machine?.busy_pct ?? "?")}% busy)` : "") +
      ". \"Machine busy\" counts every process on the box: well above what the node and the generator need means other work competed. A profiler that slows the node changes where its time goes; compare before trusting percentages.",
  );
  out.push(
    `- **Doctor's verdict** is \`${verdict.category}\`. It guesses the benchmark's interval from the count of active handles; with 1,000 WebSockets open from before the warm-up to the end, that curve is flat, and the interval it took (${verdict.interval_s ?? "?"} s) is not the ${settings.seconds} s measured step. Its delay and CPU series (a 10 ms timer in the sampled thread, process.cpuUsage of all threads) are sound; it names no code. The event-loop delay and per-component split in summary.md answer the same question with attributions.`,
  );
  const share = (re: RegExp): { pct: number; callers: string } => {
    const hits = leaves.leaves.filter((l) => re.test(l.frame));
    return { pct: Number(hits.reduce((a, l) => a + l.pct, 0).toFixed(1)), callers: hits.flatMap((l) => l.js_callers.slice(0, 1).map((c) => `${l.frame.replace(/@@.*/, "")} ← ${c.caller} (${c.pct_of_frame}%)`)).join("; ") };
  };
  const sqliteIo = share(/^(__libc_pwrite|pwrite|fsync|fdatasync|__libc_pread)/);
  const socket = share(/^writev/);
  const plainWrite = share(/^__write/);
  out.push(
    `- **Flame** samples with V8's \`--prof\` through 0x: the main thread only, over the whole process life (start-up, ${settings.users} sign-ups and shutdown included; 0x has no time window), with 0x also running the node with \`--print-opt-source\`. What it adds to --cpu-prof is native frames: SQLite's file I/O ${sqliteIo.pct}% of ticks (${sqliteIo.callers || "none in the top frames"}), socket writev ${socket.pct}% (${socket.callers || "-"}), plain write() ${plainWrite.pct}% (${plainWrite.callers || "-"}). --cpu-prof charges all of these to the JavaScript caller's self time; part of the plain write() time can be the profiler's own output (the --prof tick log, --print-opt-source), which --cpu-prof does not have.`,
  );
  if (buildWarning !== null) out.push(`- **Build.** ${buildWarning}`);
  out.push("", "Verdict: use summary.md (make profile, --cpu-prof, windowed on the measured step) for where a message's time goes; use Flame's report when the question is which syscall or native frame inside a JavaScript function; Doctor adds nothing here that summary.md does not show.", "");
  return out;
}

function stepText(step: Record<string, unknown> | null): string {
  if (step === null) return "no measured step (the generator failed)";
  return `offered ${String(step.offered_per_s)}/s, delivered ${String(step.delivered_per_s)}/s, p50 ${String(step.p50_ms)} ms, p99 ${String(step.p99_ms)} ms, undelivered ${String(step.undelivered ?? step.lost_in_window)}`;
}

main().catch((e: unknown) => {
  console.error(`profile-clinic: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  process.exit(1);
});

/**
 * The simulator's command line.
 *   run   --seed N [flags]   one seed, with a progress bar and a summary; --json ends with
 *                            the summary as one JSON line; exit 1 on a violation, after the
 *                            replay command and a shrunk, readable trace.
 *   swarm --n N [flags]      seeds 1..N on worker threads, then a coverage table of fault
 *                            classes and recovery paths; exit 1 on a violation or a gap.
 * This is the IO shell around the deterministic simulator (see core/purity.test.ts).
 */
import { cpus } from "node:os";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { FAULT_CLASSES, RECOVERY_PATHS, REGION_FAULT_CLASSES, WORKLOAD_CLASSES } from "../faults.js";
import { runSimulation, type SimSummary } from "../run.js";
import { formatVerdicts } from "../../invariants/index.js";
import { parseFlags, toArgs, toOptions, type CliFlags } from "./args.js";
import { recoveryDrawn, workloadDrawn } from "../options.js";
import { readableTrace, shrink } from "./shrink.js";

const out = (line = ""): void => void process.stdout.write(`${line}\n`);
const err = (line: string): void => void process.stderr.write(`${line}\n`);

function bar(label: string, fraction: number): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  process.stderr.write(`\r${label.padEnd(9)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${Math.round(fraction * 100)}%   `);
}

function runOne(f: CliFlags): number {
  const options = toOptions(f);
  const started = performance.now(); // allow-nondeterminism: wall time of the run, reported only
  const result = runSimulation(options, (phase, fraction) => bar(phase, fraction));
  const wall_ms = Math.round(performance.now() - started); // allow-nondeterminism: reported only
  if (process.stderr.isTTY) process.stderr.write("\r".padEnd(60) + "\r");
  const s = result.summary;
  out(`seed ${s.seed}: ${s.events} events, ${s.messages} sends (${s.messages_ok} ok), ${s.delivered} new_message frames, ${s.displays} displays`);
  out(`virtual ${s.virtual_ms} ms in ${wall_ms} ms wall (${(s.virtual_ms / Math.max(1, wall_ms)).toFixed(1)}x), ${Math.round((s.events / Math.max(1, wall_ms)) * 1000)} events/s`);
  if (s.regions > 1) out(`regions: ${s.regions} (WAN between them, a relay carrying messages across)`);
  out(`faults on: ${s.faults_enabled.join(", ") || "none"}`);
  out(`faults fired: ${Object.entries(s.faults_fired).map(([k, v]) => `${k}=${v}`).join(" ") || "none"}`);
  out(`recoveries: ${Object.entries(s.recoveries).map(([k, v]) => `${k}=${v}`).join(" ") || "none"}`);
  out(`workloads: ${Object.entries(s.workloads).map(([k, v]) => `${k}=${v}`).join(" ") || "none"}`);
  out(`invariants checked: ${s.invariants_checked}, quiescent: ${s.quiescent}, violations: ${s.violations}; what each checker judged:`);
  for (const line of formatVerdicts(result.verdicts)) out(line);
  out(`trace hash: ${s.trace_hash}`);
  if (result.violations.length > 0) {
    out("");
    out("VIOLATIONS:");
    for (const v of result.violations.slice(0, 20)) out(`  [${v.invariant} ${v.name}] ${v.message}`);
    const args = toArgs(options);
    out("");
    out(`replay: make sim SEED=${s.seed}${args === "" ? "" : ` ARGS="${args}"`}`);
    if (!f["no-shrink"]) {
      const shrunk = shrink(options, result);
      const sargs = toArgs(shrunk.options);
      out(`shrunk in ${shrunk.runs} runs: make sim SEED=${s.seed} ARGS="${sargs} --trace"`);
      out(`shrunk violation: [${shrunk.result.violations[0]?.invariant} ${shrunk.result.violations[0]?.name}] ${shrunk.result.violations[0]?.message}`);
      out("trace (virtual time, events that led there):");
      for (const line of readableTrace(shrunk.result)) out(`  ${line}`);
    }
  }
  if (f.trace && result.violations.length === 0) for (const line of result.trace) out(`  ${line}`);
  if (f.json) {
    out(JSON.stringify({ seed: s.seed, events: s.events, messages: s.messages, messages_ok: s.messages_ok, delivered: s.delivered, violations: s.violations, quiescent: s.quiescent, trace_hash: s.trace_hash, virtual_ms: s.virtual_ms, wall_ms, faults_fired: s.faults_fired, recoveries: s.recoveries }));
  }
  return result.violations.length > 0 ? 1 : 0;
}

type SwarmReply = { summary: SimSummary; violation: string | null; replay: string };

async function swarm(f: CliFlags): Promise<number> {
  const n = f.n;
  const workers = Math.max(1, Math.min(f.workers ?? cpus().length, n));
  const baseArgs = toArgs(toOptions(f));
  const started = performance.now(); // allow-nondeterminism: wall time, reported only
  const summaries: SwarmReply[] = [];
  let next = 1;
  const worker_file = fileURLToPath(new URL("./swarm-worker-entry.mjs", import.meta.url));
  await Promise.all(
    Array.from({ length: workers }, () => {
      const w = new Worker(worker_file, { workerData: { flags: f } });
      return new Promise<void>((resolve, reject) => {
        const feed = (): void => {
          if (next > n) {
            void w.terminate().then(() => resolve());
            return;
          }
          w.postMessage(next++);
        };
        w.on("message", (reply: SwarmReply) => {
          summaries.push(reply);
          if (reply.violation !== null) err(`\nseed ${reply.summary.seed}: ${reply.violation}\n  replay: ${reply.replay}`);
          bar("swarm", summaries.length / n);
          feed();
        });
        w.on("error", reject);
        feed();
      });
    }),
  );
  const wall_ms = Math.round(performance.now() - started); // allow-nondeterminism: reported only
  if (process.stderr.isTTY) process.stderr.write("\r".padEnd(60) + "\r");
  const failed = summaries.filter((s) => s.violation !== null);
  const faults = new Map<string, [number, number]>();
  const recoveries = new Map<string, number>();
  let events = 0;
  for (const { summary } of summaries) {
    events += summary.events;
    for (const c of FAULT_CLASSES) {
      const [seeds, fired] = faults.get(c) ?? [0, 0];
      const k = summary.faults_fired[c] ?? 0;
      faults.set(c, [seeds + (k > 0 ? 1 : 0), fired + k]);
    }
    for (const [k, v] of Object.entries(summary.recoveries)) recoveries.set(k, (recoveries.get(k) ?? 0) + v);
  }
  out(`swarm: ${n} seeds on ${workers} workers in ${wall_ms} ms, ${events} events, ${failed.length} with violations`);
  out("");
  out(`${"fault class".padEnd(30)} ${"seeds".padStart(7)} ${"fired".padStart(9)}`);
  const gaps: string[] = [];
  const regionsOff = toOptions(f).regions_max <= 1;
  for (const c of FAULT_CLASSES) {
    const [seeds, fired] = faults.get(c) ?? [0, 0];
    // With one region at most (--regions-max 1), the region classes cannot fire: no gap.
    const off = regionsOff && (REGION_FAULT_CLASSES as readonly string[]).includes(c);
    if (fired === 0 && !off) gaps.push(c);
    out(`${c.padEnd(30)} ${String(seeds).padStart(7)} ${String(fired).padStart(9)}${off ? "   off (--regions-max 1)" : fired === 0 ? "   GAP" : ""}`);
  }
  out("");
  out(`${"recovery path".padEnd(30)} ${"fired".padStart(9)}`);
  const options = toOptions(f);
  for (const r of RECOVERY_PATHS) {
    const fired = recoveries.get(r) ?? 0;
    const drawn = recoveryDrawn(r, options) && !(regionsOff && r === "region_relay_retried");
    if (fired === 0 && drawn) gaps.push(r);
    out(`${r.padEnd(30)} ${String(fired).padStart(9)}${!drawn ? "   off (see its flag)" : fired === 0 ? "   GAP" : ""}`);
  }
  out("");
  const workloads = new Map<string, [number, number]>();
  for (const { summary } of summaries) {
    for (const w of WORKLOAD_CLASSES) {
      const [seeds, fired] = workloads.get(w) ?? [0, 0];
      const k = summary.workloads[w] ?? 0;
      workloads.set(w, [seeds + (k > 0 ? 1 : 0), fired + k]);
    }
  }
  out(`${"workload class".padEnd(30)} ${"seeds".padStart(7)} ${"fired".padStart(9)}`);
  for (const w of WORKLOAD_CLASSES) {
    const [seeds, fired] = workloads.get(w) ?? [0, 0];
    const drawn = workloadDrawn(w, options);
    if (fired === 0 && drawn) gaps.push(w);
    out(`${w.padEnd(30)} ${String(seeds).padStart(7)} ${String(fired).padStart(9)}${!drawn ? "   off (see its flag)" : fired === 0 ? "   GAP" : ""}`);
  }
  out("");
  out(gaps.length === 0 ? "coverage: no gaps" : `coverage gaps: ${gaps.join(", ")}`);
  for (const s of failed.slice(0, 20)) out(`violation at seed ${s.summary.seed}: ${s.violation}\n  replay: ${s.replay}`);
  if (f.json) out(JSON.stringify({ seeds: n, workers, wall_ms, events, violations: failed.length, gaps, args: baseArgs }));
  return failed.length > 0 || gaps.length > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "run" && command !== "swarm") {
    err("usage: sim run --seed N [--users N --groups N --messages N --duration MS --faults a,b --no-faults a,b --json --trace]");
    err("       sim swarm --n N [--workers W] [same flags]");
    return 2;
  }
  const parsed = parseFlags(rest, command === "swarm" ? { seed: "1" } : {});
  if (!parsed.ok) {
    err(`sim: ${parsed.message}`);
    return 2;
  }
  return command === "run" ? runOne(parsed.flags) : swarm(parsed.flags);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    err(`sim: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    process.exit(2);
  },
);

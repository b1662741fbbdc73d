/**
 * Runs a range of seeds and sums what fired: shared by the CI batch tests and the CLI.
 */
import { FAULT_CLASSES, RECOVERY_PATHS, WORKLOAD_CLASSES } from "./faults.js";
import { runSimulation, type SimSummary } from "./run.js";
import { simOptions, type SimOptions } from "./options.js";
import { toArgs } from "./cli/args.js";

/** `invariants`: every invariant the seed's run violated, ascending. */
export type BatchFailure = { seed: number; violation: string; replay: string; invariants: number[] };
export type BatchReport = {
  readonly seeds: number;
  readonly failures: BatchFailure[];
  readonly faults: Map<string, number>;
  readonly recoveries: Map<string, number>;
  readonly workloads: Map<string, number>;
  readonly summaries: SimSummary[];
};

export function replayCommand(options: SimOptions): string {
  const args = toArgs(options);
  return `make sim SEED=${options.seed}${args === "" ? "" : ` ARGS="${args}"`}`;
}

export function runBatch(first_seed: number, count: number, patch: Partial<SimOptions> = {}, stop_at_first_failure = false): BatchReport {
  const failures: BatchFailure[] = [];
  const faults = new Map<string, number>(FAULT_CLASSES.map((c) => [c, 0]));
  const recoveries = new Map<string, number>(RECOVERY_PATHS.map((r) => [r, 0]));
  const workloads = new Map<string, number>(WORKLOAD_CLASSES.map((w) => [w, 0]));
  const summaries: SimSummary[] = [];
  for (let seed = first_seed; seed < first_seed + count; seed++) {
    const options = simOptions(seed, patch);
    const result = runSimulation(options);
    summaries.push(result.summary);
    for (const [k, v] of Object.entries(result.summary.faults_fired)) faults.set(k, (faults.get(k) ?? 0) + v);
    for (const [k, v] of Object.entries(result.summary.recoveries)) recoveries.set(k, (recoveries.get(k) ?? 0) + v);
    for (const [k, v] of Object.entries(result.summary.workloads)) workloads.set(k, (workloads.get(k) ?? 0) + v);
    const v = result.violations[0];
    if (v !== undefined) {
      const invariants = [...new Set(result.violations.map((x) => x.invariant))].sort((a, b) => a - b);
      failures.push({ seed, violation: `[${v.invariant} ${v.name}] ${v.message}`, replay: replayCommand(options), invariants });
      if (stop_at_first_failure) break;
    }
  }
  return { seeds: summaries.length, failures, faults, recoveries, workloads, summaries };
}

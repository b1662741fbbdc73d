/** One swarm worker: runs the seeds it is sent and answers each with its summary. */
import { parentPort, workerData } from "node:worker_threads";
import { runSimulation } from "../run.js";
import { toArgs, toOptions, type CliFlags } from "./args.js";

const flags = (workerData as { flags: CliFlags }).flags;
parentPort?.on("message", (seed: number) => {
  const options = toOptions({ ...flags, seed });
  let violation: string | null = null;
  let summary: ReturnType<typeof runSimulation>["summary"];
  try {
    const result = runSimulation(options);
    summary = result.summary;
    const v = result.violations[0];
    if (v !== undefined) violation = `[${v.invariant} ${v.name}] ${v.message}`;
  } catch (error) {
    violation = `the run crashed: ${error instanceof Error ? error.message : String(error)}`;
    summary = { seed, events: 0, messages: 0, messages_ok: 0, delivered: 0, displays: 0, faults_enabled: [], faults_fired: {}, recoveries: {}, workloads: {}, invariants_checked: 0, violations: 1, quiescent: false, trace_hash: "", virtual_ms: 0, regions: 0 };
  }
  const args = toArgs(options);
  parentPort?.postMessage({ summary, violation, replay: `make sim SEED=${seed}${args === "" ? "" : ` ARGS="${args}"`}` });
});

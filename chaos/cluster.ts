/**
 * The real-cluster chaos run: the fault run's traffic (nodes/cluster.fault.ts: direct chats
 * and groups with joins and leaves, late and lost acks, read marks, typing, presence) through
 * `make cluster-up` while the named scenario's real faults (chaos/scenarios.ts, REAL_FAULTS)
 * hit its processes at times drawn from the seed; then the run heals, measures quiescence,
 * reads the pending store back, and the invariant checkers judge the histories, as in the
 * simulator, printing what each judged. The schedule replays from the seed; the cluster's own timing does not
 * (real processes), so a failure is reproduced by running the seed again, not by replay.
 *
 *   make chaos-cluster SCENARIO=router-failover SEED=1 [ARGS="--traffic-seconds 40"]
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import seedrandom from "seedrandom";
import { z } from "zod";
import { clusterNodes, clusterPending, keepHistory, printReport, runClusterFault, type FaultPlan } from "../nodes/cluster.fault.js";
import type { Endpoints } from "../nodes/testing/cluster-smoke.js";
import { REAL_FAULTS, SCENARIOS, SCENARIO_NAMES, type RealFault, type ScenarioName } from "./scenarios.js";

const run = promisify(execFile);
const withReal = SCENARIO_NAMES.filter((n) => SCENARIOS[n].real.length > 0);

const flags = z.object({
  scenario: z.enum(withReal as [ScenarioName, ...ScenarioName[]], { message: `must be one of ${withReal.join(", ")} (the others have no real faults)` }),
  seed: z.coerce.number().int().min(0).max(2 ** 31),
  "traffic-seconds": z.coerce.number().int().min(10).max(600).default(30),
  "heal-seconds": z.coerce.number().int().min(10).max(600).default(90),
});

function parse(argv: readonly string[]): z.infer<typeof flags> {
  const raw: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--") || argv[i + 1] === undefined) {
      process.stderr.write(`chaos-cluster: expected --name value, got ${JSON.stringify(a)}\n`);
      process.exit(2);
    }
    raw[a.slice(2)] = argv[++i]!;
  }
  const parsed = flags.strict().safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(`chaos-cluster: ${parsed.error.issues.map((i) => `--${i.path.join(".") || "flags"}: ${i.message}`).join("; ")}\n`);
    process.exit(2);
  }
  return parsed.data;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * What each real fault does, and how the cluster gets back (every fault heals itself). Faults
 * on the same target run one after another: a second kill must not find the node still
 * down from the first (it would hit nothing, or a pidfile of a process already gone).
 */
const busy = new Map<string, Promise<void>>();
function serially(target: string, run: () => Promise<void>): Promise<void> {
  const next = (busy.get(target) ?? Promise.resolve()).then(run);
  busy.set(target, next.catch(() => undefined));
  return next;
}

function inject(fault: RealFault, pick: () => number): { label: string; run(): Promise<void> } {
  const nodes = clusterNodes();
  const which = (prefix: string): string => `${prefix}-${Math.floor(pick() * 2)}`;
  const down_ms = 2_000 + Math.floor(pick() * 4_000);
  /** Signal a node, wait for it to be gone, leave it down a while, start it again. */
  const bounce = (name: string, signal: NodeJS.Signals, label: string) => ({
    label: `${label}, restart it after ${down_ms} ms`,
    run: () =>
      serially(name, async () => {
        nodes.signal(name, signal);
        await nodes.exited(name);
        await sleep(down_ms);
        nodes.restart(name);
      }),
  });
  /** Stop a service with its deploy/ script and start it again. */
  const restartService = (service: "kafka" | "redis", label: string) => ({
    label,
    run: () =>
      serially(service, async () => {
        await run(`deploy/services/${service}.sh`, ["down"], { timeout: 120_000 });
        await run(`deploy/services/${service}.sh`, ["up"], { timeout: 180_000 });
      }),
  });
  switch (fault) {
    case "gateway_kill":
    case "router_kill": {
      const name = which(fault === "gateway_kill" ? "gw" : "router");
      return bounce(name, "SIGKILL", `kill -9 ${name}`);
    }
    case "gateway_drain": {
      const name = which("gw");
      return bounce(name, "SIGTERM", `SIGTERM ${name} (drain)`);
    }
    case "broker_restart":
      return restartService("kafka", "restart the Kafka broker");
    case "redis_restart":
      return restartService("redis", "restart Redis (every key lost)");
    case "store_pause": {
      const pid = Number(readFileSync(`${process.env.CHAT_SERVICES_DIR ?? ".services"}/cassandra/cassandra.pid`, "utf8"));
      return {
        label: `SIGSTOP Cassandra for ${down_ms} ms`,
        run: () =>
          serially("cassandra", async () => {
            const resume = (): void => void process.kill(pid, "SIGCONT");
            // Interrupted mid-pause (Ctrl-C), Cassandra must not stay stopped.
            process.once("SIGINT", () => {
              resume();
              process.exit(130);
            });
            process.kill(pid, "SIGSTOP");
            try {
              await sleep(down_ms);
            } finally {
              resume();
            }
          }),
      };
    }
    default: {
      const never: never = fault;
      throw new Error(`unknown real fault ${String(never)}`);
    }
  }
}

/** Each of the scenario's real faults once or twice, at seeded times in the traffic window. */
export function chaosPlan(scenario: ScenarioName, seed: number, traffic_ms: number, heal_ms: number): FaultPlan {
  const rng = seedrandom.alea(`chaos-cluster/${scenario}/${seed}`);
  const actions: FaultPlan["actions"][number][] = [];
  for (const fault of SCENARIOS[scenario].real) {
    const times = 1 + Math.floor(rng() * 2);
    for (let i = 0; i < times; i++) {
      // Leave the first 2 s for traffic to start and the last 10 s for faults to heal in.
      const at_ms = 2_000 + Math.floor(rng() * Math.max(1, traffic_ms - 12_000));
      actions.push({ at_ms, ...inject(fault, rng) });
    }
  }
  actions.sort((a, b) => a.at_ms - b.at_ms);
  return { traffic_ms, heal_ms, actions, seed };
}

async function main(): Promise<void> {
  const f = parse(process.argv.slice(2));
  const endpoints = JSON.parse(readFileSync(".cluster/endpoints.json", "utf8")) as Endpoints;
  const plan = chaosPlan(f.scenario, f.seed, f["traffic-seconds"] * 1000, f["heal-seconds"] * 1000);
  process.stdout.write(`chaos-cluster ${f.scenario} seed ${f.seed}: ${SCENARIOS[f.scenario].summary}\n`);
  for (const fault of SCENARIOS[f.scenario].real) process.stdout.write(`  real fault: ${fault} (${REAL_FAULTS[fault]})\n`);
  for (const a of plan.actions) process.stdout.write(`  at ${a.at_ms} ms: ${a.label}\n`);
  const pending = clusterPending();
  const report = await runClusterFault(endpoints, plan, pending);
  keepHistory(report);
  await pending.close();
  const code = printReport(report);
  if (code !== 0) process.stdout.write(`rerun: make chaos-cluster SCENARIO=${f.scenario} SEED=${f.seed}\n`);
  process.exit(code);
}

main().catch((e: unknown) => {
  process.stderr.write(`chaos-cluster: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

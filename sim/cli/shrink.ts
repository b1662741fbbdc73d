/**
 * Seed-local shrinking: keep the seed, and make the run smaller while it still breaks the
 * same invariant: switch fault classes off one at a time, then halve the messages, users,
 * groups and gateways. Each step is one deterministic re-run, so the result replays exactly.
 */
import { runSimulation, type SimResult } from "../run.js";
import type { SimOptions } from "../options.js";
import type { FaultClass } from "../faults.js";

export type Shrunk = { options: SimOptions; result: SimResult; runs: number };

export function shrink(options: SimOptions, failing: SimResult, runs_max = 60): Shrunk {
  const invariant = failing.violations[0]?.invariant;
  let best = { options, result: failing };
  let runs = 0;
  const stillFails = (candidate: SimOptions): SimResult | null => {
    if (runs >= runs_max) return null;
    runs++;
    const r = runSimulation(candidate);
    return r.violations.some((v) => v.invariant === invariant) ? r : null;
  };
  for (const fault of failing.summary.faults_enabled) {
    const off = new Set<FaultClass>(best.options.off_faults);
    off.add(fault);
    const candidate = { ...best.options, off_faults: off };
    const r = stillFails(candidate);
    if (r !== null) best = { options: candidate, result: r };
  }
  const halve = (key: "messages" | "users" | "groups" | "gateways" | "routers", floor: number): void => {
    for (;;) {
      const value = best.options[key];
      const next = Math.max(floor, Math.floor(value / 2));
      if (next === value) return;
      const candidate = { ...best.options, [key]: next };
      const r = stillFails(candidate);
      if (r === null) return;
      best = { options: candidate, result: r };
    }
  };
  halve("messages", 1);
  halve("users", 2);
  halve("groups", 0);
  halve("gateways", 1);
  halve("routers", 1);
  const traced = runSimulation({ ...best.options, trace: true });
  runs++;
  return { options: best.options, result: traced, runs };
}

/** The trace lines that matter for a violation: faults, plus lines naming what it names. */
export function readableTrace(result: SimResult, lines_max = 80): string[] {
  const v = result.violations[0];
  if (v === undefined) return [];
  const tokens = new Set<string>();
  for (const m of v.message.matchAll(/[0-9]{19}|[0-9a-f]{8}-[0-9a-f-]{27}|u\d+[a-z0-9]*(-d\d)?/g)) tokens.add(m[0]);
  const contents = new Set<string>();
  for (const s of result.history.sends) if (tokens.has(s.client_msg_id) || (s.message_id !== null && tokens.has(s.message_id))) contents.add(s.content);
  const relevant = result.trace.filter(
    (line) => /crash|restart|drain|pause|partition|rebalance|redeliver|outage|Redis|steps|storm|heal|quiescen/.test(line) || [...contents].some((c) => line.includes(c)) || [...tokens].some((t) => line.includes(t)),
  );
  return relevant.length > lines_max ? [...relevant.slice(0, lines_max / 2), `  ... ${relevant.length - lines_max} lines ...`, ...relevant.slice(-lines_max / 2)] : relevant;
}

/**
 * What every production role shares: its environment (validated), its logger, metrics and
 * clock, and a SIGTERM/SIGINT handler that drains, then exits 0 (1 if draining failed).
 */
import pino, { type Logger } from "pino";
import { z } from "zod";
import { ClockSystem } from "../adapters/memory/clock-memory.js";
import { RandomSystem } from "../adapters/memory/random-memory.js";
import { defaultLimits, type Limits } from "../core/limits.js";
import { edgeEnv, parseEnv, withEdgeBounds } from "./config.js";
import type { Timers } from "../core/ports/timers.js";
import { timersReal } from "./timers-real.js";
import { Metrics } from "./metrics.js";

export const roleEnv = z.object({
  ...edgeEnv,
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65_535).default(0),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Shared by every node of a cluster: tokens the api issues are checked by the gateways. */
  SECRET: z.string().min(32, "must be at least 32 characters (the same on every node)"),
  DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
});
export type RoleConfig = z.infer<typeof roleEnv>;

export type Role = { config: RoleConfig; log: Logger; metrics: Metrics; clock: ClockSystem; random: RandomSystem; timers: Timers; limits: Limits };

export function role(name: string, env: Record<string, string | undefined>): Role {
  const parsed = parseEnv(roleEnv, env);
  if (!parsed.ok) {
    process.stderr.write(`${name}: ${parsed.message}\n`);
    process.exit(2);
  }
  const clock = new ClockSystem();
  return {
    config: parsed.value,
    log: pino({ level: parsed.value.LOG_LEVEL, base: { role: name } }),
    metrics: new Metrics(),
    clock,
    random: new RandomSystem(),
    timers: timersReal(clock),
    limits: withEdgeBounds(defaultLimits(), parsed.value),
  };
}

export function onSignals(r: Role, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    r.log.info({ signal }, "draining");
    setTimeout(() => process.exit(1), r.config.DRAIN_TIMEOUT_MS + 5_000).unref();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        r.log.error({ err: error }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}

export function fatal(name: string): (error: unknown) => never {
  return (error) => {
    process.stderr.write(`${name} failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  };
}

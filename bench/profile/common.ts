/**
 * What `make profile` and `make profile-clinic` share: the load settings, the private build
 * of the node, the node's environment, the generator's command line, and /proc readings.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { root } from "../load/harness.js";

export { root };

/** Where profile runs compile the node: private, so that a shared dist/ being rebuilt or edited cannot change what is profiled. */
export const BUILD_DIR = join(root, "node_modules/.cache/provable-chat-profile");
export const NODE_SCRIPT = join(BUILD_DIR, "nodes/all-in-one.js");
export const OUT_DIR = join(root, "bench/results/profile");

function num(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${name} must be a number in [${min}, ${max}], got ${raw}`);
  return v;
}

export type Settings = { rate: number; users: number; seconds: number; warmup_seconds: number; sample_interval_us: number };

/** PROFILE_RATE (msg/s), PROFILE_USERS (connections), PROFILE_SECONDS, PROFILE_WARMUP_SECONDS, PROFILE_INTERVAL_US (--cpu-prof-interval). */
export function settingsFromEnv(): Settings {
  const users = num("PROFILE_USERS", 1000, 2, 20_000);
  return {
    rate: num("PROFILE_RATE", 1500, 1, 50_000),
    users: users - (users % 2),
    seconds: num("PROFILE_SECONDS", 15, 1, 120),
    warmup_seconds: num("PROFILE_WARMUP_SECONDS", 3, 0, 60),
    sample_interval_us: num("PROFILE_INTERVAL_US", 1000, 100, 100_000),
  };
}

/**
 * Compiles the project (tsconfig.build.json, with source maps) into BUILD_DIR. tsc emits even
 * when some file has a type error (exit 2); then the node is profiled anyway, with a warning
 * (returned, for the report): a half-finished file elsewhere need not stop a profile.
 */
export function build(): string | null {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", BUILD_DIR], { cwd: root, encoding: "utf8" });
  const output = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  if (r.status !== 0 && !(r.status === 2 && existsSync(NODE_SCRIPT))) {
    throw new Error(`tsc -p tsconfig.build.json failed (exit ${r.status}):\n${output}`);
  }
  console.log(`profile: compiled the node into ${BUILD_DIR.replace(`${root}/`, "")} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (r.status === 0) return null;
  const errors = output.split("\n").filter((l) => /error TS\d+/.test(l));
  console.warn(`profile: tsc reported ${errors.length} type error(s); the JavaScript was emitted and is profiled anyway:\n${output}`);
  return `tsc reported ${errors.length} type error(s) when this was built (${errors.map((e) => e.split("(")[0]).filter((v, i, a) => a.indexOf(v) === i).join(", ")}); the emitted JavaScript was profiled.`;
}

/** The node's environment, as bench-load sets it: any port, throwaway data, quiet logs, cheap password hashes for the sign-ups. */
export function nodeEnv(dataDir: string): Record<string, string> {
  return {
    PORT: "0",
    DATA_DIR: join(dataDir, "data"),
    LOG_LEVEL: "warn",
    WEB_DIR: join(dataDir, "no-web"),
    PASSWORD_HASH_COST: "1024",
    REST_BURST: "100000",
    REST_PER_SECOND: "100000",
  };
}

/** The generator's flags (see bench/load/generator.ts): one warm-up, one measured step, bounded drain and pause. */
export const DRAIN_SECONDS = 5;
export const PAUSE_SECONDS = 2;
export function generatorArgs(url: string, s: Settings): string[] {
  return [
    join(root, "bench/load/generator.ts"),
    "--url", url,
    "--users", String(s.users),
    "--rates", String(s.rate),
    "--seconds", String(s.seconds),
    "--warmup-seconds", String(s.warmup_seconds),
    "--drain-seconds", String(DRAIN_SECONDS),
    "--pause-seconds", String(PAUSE_SECONDS),
  ];
}

/** An upper bound for one generator run: sign-ups, connects, idle, warm-up and step with their drains and pauses, plus slack. */
export function generatorBudgetMs(s: Settings): number {
  return (60 + 5 + s.warmup_seconds + s.seconds + 2 * (2 + DRAIN_SECONDS + PAUSE_SECONDS) + 30) * 1000;
}

let clockTicks = 0;
/** CPU time (user + system, all threads) of one process so far, in ms; NaN if it is gone. */
export function processCpuMs(pid: number): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3 (state)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks; // fields 14 utime, 15 stime
  } catch {
    return Number.NaN;
  }
}

/** Bytes the process caused to be written to storage (/proc/PID/io write_bytes: pages it dirtied); NaN if unreadable. */
export function processWriteBytes(pid: number): number {
  try {
    const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export function rssKiBOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The whole machine's CPU time so far from /proc/stat, in ms: busy (user, nice, system, irq, softirq, steal) and total. */
export function machineCpuMs(): { busy: number; total: number } {
  if (clockTicks === 0) processCpuMs(process.pid);
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy: (busy * 1000) / clockTicks, total: ((busy + idle + iowait) * 1000) / clockTicks };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** Microseconds on CLOCK_MONOTONIC, the clock V8's profiler stamps samples with. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function gitState(): { commit: string; modified_files: number } {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const status = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8" });
    return { commit, modified_files: status.split("\n").filter((l) => l.trim() !== "").length };
  } catch {
    return { commit: "unknown", modified_files: 0 };
  }
}

/**
 * What the load benchmarks share: starting a server script and reading the URL it prints,
 * driving the open-loop generator (its own process) and collecting its steps, measuring the
 * server's processes (CPU from /proc/PID/stat, RSS from /proc/PID/status), and the baseline
 * every result is compared with in the same run: a bare WebSocket relay under the same
 * generator, so the ratio says how far the system is from what this machine's network stack
 * and generator can carry at that moment.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** One second of a step, from the generator's `tick` line (counts cumulative in the step) and the server's RSS then. */
export type Tick = { t: number; sent: number; delivered: number; refused: number; errors: number; rss_kib: number };

export type Step = {
  offered_per_s: number;
  sent: number;
  /** `sent` receipts (our API); null for XMPP, which has none without extensions. */
  sent_ok: number | null;
  delivered: number;
  delivered_per_s: number;
  p50_ms: number;
  p99_ms: number;
  lost_in_window: number;
  errors: number;
  // Added with the peer benchmark (absent from older result files):
  protocol?: string;
  seconds?: number;
  p90_ms?: number;
  max_ms?: number;
  undelivered?: number;
  refused?: number;
  errors_by_code?: Record<string, number>;
  frames_in?: number;
  drain_ms?: number;
  generator_cpu_pct?: number;
  /** CPU (user+system) of all the server's processes from this step's first send to the end of its drain. */
  server_cpu_ms?: number;
  cpu_us_per_delivered?: number | null;
  rss_max_kib?: number;
  ticks?: Tick[];
};
export type Drive = { steps: Step[]; warmup: Step | null; rss_before_kib: number; rss_idle_kib: number; connections: number };
export type Row = Step & { relay_delivered_per_s: number | null; relay_p50_ms: number | null; relay_p99_ms: number | null; ratio_to_relay: number | null };

/** The pids that make up a server right now (its process tree, or a user's processes). */
export type Procs = () => number[];

/**
 * Starts `script` under tsx and resolves once it prints `open http://...`. `node_flags` go
 * before the script (--cpu-prof is refused in NODE_OPTIONS); `from` is the checkout to run
 * it from (another one measures a baseline build in the same run). The server runs with
 * MALLOC_ARENA_MAX=2 as `make run` starts it: glibc's per-thread malloc arenas (SQLite's
 * checkpoint thread, libuv's pool) otherwise keep freed memory, and RSS grew 8.7 MiB/s
 * through the overload step of bench/results/peer.json without a leak in the JS heap.
 */
export function start(script: string, env: Record<string, string>, node_flags: readonly string[] = [], from: string = root): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...node_flags, "--import", "tsx", join(from, script)], {
    cwd: from,
    env: { MALLOC_ARENA_MAX: "2", ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((ok, no) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/[0-9.:]+)/.exec(out);
      if (m) ok({ child, url: m[1]! });
    });
    child.once("exit", (code) => no(new Error(`${script} exited ${code}: ${out}`)));
  });
}

/** Stops a child started by `start` (SIGTERM, SIGKILL after `graceMs`) and waits for it. */
export async function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

type ProcStat = { pid: number; ppid: number; uid: number; ticks: number; comm: string };

/** /proc/PID/stat of one process: parent, CPU ticks (utime+stime+cutime+cstime), owner; null if it is gone. */
function procStat(pid: number): ProcStat | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" "); // f[0] is field 3 (state): field k is f[k - 3]
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? -1);
    return { pid, ppid: Number(f[1]), uid, ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]), comm };
  } catch {
    return null;
  }
}

function allProcs(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** `rootPid` and every process descended from it, now. */
export function pidTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allProcs()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const out: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (out.includes(pid)) continue;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out.filter((pid) => procStat(pid) !== null);
}

/**
 * The process listening on 127.0.0.1:`port`, from `ss -ltnp` (null when none, or when ss is
 * missing): how a bench finds a service that another checkout's services.sh started.
 */
export function pidOnPort(port: number): number | null {
  try {
    const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
    const m = /pid=(\d+)/.exec(out);
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** The services' ports (deploy/services.sh): each one's process, wherever it was started. */
export const SERVICE_PORTS = { kafka: 9092, cassandra: 9042, redis: 6379, postgres: 5432 } as const;

/** A service's process tree: by its pidfile in this checkout, else by its port. */
export function servicePids(name: keyof typeof SERVICE_PORTS, pidfile: string): number[] {
  let pid: number | null = null;
  if (existsSync(pidfile)) {
    const n = Number(readFileSync(pidfile, "utf8").split("\n")[0]);
    if (Number.isInteger(n) && n > 0 && procStat(n) !== null) pid = n;
  }
  pid ??= pidOnPort(SERVICE_PORTS[name]);
  return pid === null ? [] : pidTree(pid);
}

/** A process tree plus every process of `user` (an Erlang VM's epmd is not in the tree). */
export function treeAndUser(rootPid: number, user: string): Procs {
  const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
  return () => [...new Set([...pidTree(rootPid), ...allProcs().filter((p) => p.uid === uid).map((p) => p.pid)])];
}

let clockTicksPerSecond = 0;
/** CPU time, in ms, used so far by `pids` (user + system, plus their reaped children). */
export function cpuMs(pids: readonly number[]): number {
  if (clockTicksPerSecond === 0) {
    try {
      clockTicksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  let ticks = 0;
  for (const pid of pids) ticks += procStat(pid)?.ticks ?? 0;
  return (ticks * 1000) / clockTicksPerSecond;
}

export function rssKiB(pid: number | null): number {
  if (pid === null) return Number.NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0; // a zombie or kernel thread has no VmRSS
  } catch {
    return 0; // gone
  }
}

/** Resident memory of all of `pids`, in KiB (shared pages counted once per process). */
export function rssSumKiB(pids: readonly number[]): number {
  if (pids.length === 0) return Number.NaN;
  return pids.reduce((sum, pid) => sum + rssKiB(pid), 0);
}

function toProcs(server: number | null | Procs): Procs | null {
  if (server === null) return null;
  if (typeof server === "number") return () => pidTree(server);
  return server;
}

/**
 * Runs the generator with `args` (see generator.ts). `server` (a pid, whose process tree is
 * measured, or a function listing the server's pids) is sampled: RSS after sign-up and when
 * every connection is open and idle, RSS each second of a step, and CPU over each step.
 */
export async function drive(label: string, args: readonly string[], server: number | null | Procs): Promise<Drive> {
  const procs = toProcs(server);
  const gen = spawn(process.execPath, ["--import", "tsx", join(root, "bench/load/generator.ts"), ...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const steps: Step[] = [];
  let warmup: Step | null = null;
  let rss_before_kib = Number.NaN;
  let rss_idle_kib = Number.NaN;
  let connections = 0;
  let cpu0 = 0;
  let ticks: Tick[] = [];
  let buffer = "";
  gen.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const msg = JSON.parse(line) as { phase: string; connections?: number } & Step & Tick;
      if (msg.phase === "accounts" && procs) rss_before_kib = rssSumKiB(procs());
      else if (msg.phase === "connected") connections = msg.connections ?? 0;
      else if (msg.phase === "idle" && procs) rss_idle_kib = rssSumKiB(procs());
      else if (msg.phase === "step_start") {
        ticks = [];
        if (procs) cpu0 = cpuMs(procs());
      } else if (msg.phase === "tick") {
        ticks.push({ t: msg.t, sent: msg.sent, delivered: msg.delivered, refused: msg.refused, errors: msg.errors, rss_kib: procs ? rssSumKiB(procs()) : Number.NaN });
      } else if (msg.phase === "step" || msg.phase === "warmup") {
        const s: Step & { phase?: string } = { ...msg, ticks };
        if (procs) {
          s.server_cpu_ms = Math.round(cpuMs(procs()) - cpu0);
          s.cpu_us_per_delivered = s.delivered > 0 ? Math.round((s.server_cpu_ms * 1000) / s.delivered) : null;
          s.rss_max_kib = Math.max(...ticks.map((t) => t.rss_kib), rssSumKiB(procs()));
        }
        if (msg.phase === "warmup") {
          warmup = s;
          continue;
        }
        steps.push(s);
        const codes = Object.entries(s.errors_by_code ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");
        console.log(
          `${label.padEnd(8)} offered ${s.offered_per_s}/s: delivered ${s.delivered_per_s}/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, ` +
            `undelivered ${s.undelivered ?? s.lost_in_window}, errors ${s.errors}${codes ? ` (${codes})` : ""}` +
            `${s.cpu_us_per_delivered !== undefined ? `, server CPU ${s.cpu_us_per_delivered} µs/msg` : ""}${s.generator_cpu_pct !== undefined ? `, generator CPU ${s.generator_cpu_pct}%` : ""}`,
        );
      }
    }
  });
  const code = await new Promise<number | null>((r) => gen.once("exit", r));
  if (code !== 0) throw new Error(`the generator for ${label} exited ${code}`);
  return { steps, warmup, rss_before_kib, rss_idle_kib, connections };
}

/** The same generator against a bare relay, at the same users, rates and step length (`extra`: more generator flags). */
export async function relayBaseline(users: number, rates: string, seconds: number, warmup_seconds = 0, extra: readonly string[] = []): Promise<Drive> {
  const relay = await start("bench/load/relay.ts", { PORT: "0" });
  try {
    return await drive("relay", ["--url", relay.url, "--users", String(users), "--rates", rates, "--seconds", String(seconds), "--warmup-seconds", String(warmup_seconds), "--relay", ...extra], relay.child.pid ?? null);
  } finally {
    await stop(relay.child);
  }
}

/** Each step of `ours` beside the relay's step at the same offered rate. */
export function withBaseline(ours: readonly Step[], base: readonly Step[]): Row[] {
  return ours.map((s) => {
    const b = base.find((x) => x.offered_per_s === s.offered_per_s);
    const { ticks: _ticks, ...rest } = s;
    return {
      ...rest,
      relay_delivered_per_s: b?.delivered_per_s ?? null,
      relay_p50_ms: b?.p50_ms ?? null,
      relay_p99_ms: b?.p99_ms ?? null,
      ratio_to_relay: b ? Number((s.delivered_per_s / Math.max(1, b.delivered_per_s)).toFixed(3)) : null,
    };
  });
}

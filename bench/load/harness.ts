/**
 * What the load benchmarks share: starting a server script and reading the URL it prints,
 * driving the open-loop generator (its own process) and collecting its steps, and the
 * baseline every result is compared with in the same run: a bare WebSocket relay under
 * the same generator, so the ratio says how far the system is from what this machine's
 * network stack and generator can carry at that moment.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export type Step = { offered_per_s: number; sent: number; sent_ok: number; delivered: number; delivered_per_s: number; p50_ms: number; p99_ms: number; lost_in_window: number; errors: number };
export type Drive = { steps: Step[]; rss_before_kib: number; rss_idle_kib: number };
export type Row = Step & { relay_delivered_per_s: number | null; relay_p50_ms: number | null; relay_p99_ms: number | null; ratio_to_relay: number | null };

/** Starts `script` under tsx and resolves once it prints `open http://...`. */
export function start(script: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, script)], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
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

export function rssKiB(pid: number | null): number {
  if (pid === null) return Number.NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

/** Runs the generator with `args` (see generator.ts); `pid`'s RSS is sampled after sign-up and when idle. */
export async function drive(label: string, args: readonly string[], pid: number | null): Promise<Drive> {
  const gen = spawn(process.execPath, ["--import", "tsx", join(root, "bench/load/generator.ts"), ...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const steps: Step[] = [];
  let rss_before_kib = Number.NaN;
  let rss_idle_kib = Number.NaN;
  let buffer = "";
  gen.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const msg = JSON.parse(line) as { phase: string } & Step;
      if (msg.phase === "accounts") rss_before_kib = rssKiB(pid);
      if (msg.phase === "idle") rss_idle_kib = rssKiB(pid);
      if (msg.phase === "step") {
        steps.push(msg);
        console.log(`${label.padEnd(7)} offered ${msg.offered_per_s}/s: delivered ${msg.delivered_per_s}/s, p50 ${msg.p50_ms} ms, p99 ${msg.p99_ms} ms, not delivered in window ${msg.lost_in_window}, errors ${msg.errors}`);
      }
    }
  });
  const code = await new Promise<number | null>((r) => gen.once("exit", r));
  if (code !== 0) throw new Error(`the generator for ${label} exited ${code}`);
  return { steps, rss_before_kib, rss_idle_kib };
}

/** The same generator against a bare relay, at the same users, rates and step length. */
export async function relayBaseline(users: number, rates: string, seconds: number, warmup_seconds = 0): Promise<Drive> {
  const relay = await start("bench/load/relay.ts", { PORT: "0" });
  try {
    return await drive("relay", ["--url", relay.url, "--users", String(users), "--rates", rates, "--seconds", String(seconds), "--warmup-seconds", String(warmup_seconds), "--relay"], relay.child.pid ?? null);
  } finally {
    relay.child.kill("SIGTERM");
    await new Promise((r) => relay.child.once("exit", r));
  }
}

/** Each step of `ours` beside the relay's step at the same offered rate. */
export function withBaseline(ours: readonly Step[], base: readonly Step[]): Row[] {
  return ours.map((s) => {
    const b = base.find((x) => x.offered_per_s === s.offered_per_s);
    return {
      ...s,
      relay_delivered_per_s: b?.delivered_per_s ?? null,
      relay_p50_ms: b?.p50_ms ?? null,
      relay_p99_ms: b?.p99_ms ?? null,
      ratio_to_relay: b ? Number((s.delivered_per_s / Math.max(1, b.delivered_per_s)).toFixed(3)) : null,
    };
  });
}

/**
 * The embedded node's hot path without sockets: the all-in-one node's own storage, gateway
 * host and router workers (`assembleEmbedded`), driven in process by 1,000 connections
 * (500 sender -> receiver pairs, 64-byte bodies, every new_message acked) at fixed offered
 * rates. Without the network and a generator process sharing the CPU, it says how much CPU a
 * message costs the node itself and where it goes (SQLite transactions and WAL bytes per
 * message, bytes written per message, CPU per message), repeatably on a noisy machine.
 *
 * CPU is process.cpuUsage(): every thread of the process, so the checkpoint thread counts.
 * The baseline, measured in the same run, is the same driver against a stub gateway that
 * answers every send at once with `sent` and the `new_message` (no core, no storage): the
 * driver's own cost, so `node_cpu_us_per_msg` = measured minus baseline.
 *
 *   make bench-pipeline [RATES=2000,4000,8000 SECONDS=5]  -> bench/results/pipeline.json
 *
 * Before and after a change, in one run: BEFORE_DIR=/path/to/another/checkout (its
 * node_modules installed) runs this bench there and here alternately, ROUNDS times (default
 * 3), each in a fresh process, and reports per rate the median node CPU per message of each
 * and the ratio after/before, with every round's figures (the machine is shared: only the
 * ratio of runs this close together means anything), plus the deterministic counts (commits,
 * writes and KiB written per message).
 *   BEFORE_DIR=../old make bench-pipeline  -> bench/results/pipeline-ab.json, pipeline-ab.svg
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleEmbedded } from "../nodes/all-in-one.js";
import { allInOneEnv, parseEnv } from "../nodes/config.js";
import type { ConnectionSink } from "../nodes/hosts/gateway-host.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const USERS = Number(process.env.USERS ?? 1000);
const RATES = (process.env.RATES ?? "2000,4000,8000").split(",").map(Number);
const SECONDS = Number(process.env.SECONDS ?? 5);
const BODY = "x".repeat(64);

type Conn = { text(t: string): void };
type Target = {
  open(user: number, sink: ConnectionSink): Conn;
  stats(): { transactions: number; writes: number; written_bytes: number };
  close(): Promise<void>;
};

type StepResult = {
  offered_per_s: number;
  delivered: number;
  delivered_per_s: number;
  p50_ms: number;
  p99_ms: number;
  undelivered: number;
  errors: number;
  cpu_us_per_msg: number;
  transactions_per_msg: number;
  writes_per_msg: number;
  /** Bytes this process handed to write(2) and pwrite(2): the WAL and the checkpoints' copies. */
  written_kib_per_msg: number;
};

/** `wchar` of /proc/self/io: every byte this process (all its threads) wrote. */
function bytesWritten(): number {
  const m = /wchar:\s+(\d+)/.exec(readFileSync("/proc/self/io", "utf8"));
  return m === null ? 0 : Number(m[1]);
}

const idOf = (n: number): string => `u${String(n).padStart(6, "0")}`;
const percentile = (sorted: number[], p: number): number => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

async function drive(target: Target, label: string): Promise<StepResult[]> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let delivered = 0;
  let errors = 0;
  let seq = 0;
  const conns: Conn[] = [];
  for (let i = 0; i < USERS; i++) {
    const index = i;
    conns.push(
      target.open(index, {
        send(text) {
          // A client stub that parses only what it needs (a new_message to ack, or an error).
          if (text.startsWith('{"event":"new_message"')) {
            const f = JSON.parse(text) as { data: { message_id: string; conversation_id: string; client_msg_id: string } };
            const t0 = sentAt.get(f.data.client_msg_id);
            if (t0 !== undefined) {
              sentAt.delete(f.data.client_msg_id);
              latencies.push(performance.now() - t0);
              delivered++;
            }
            const ack = `{"event":"ack","data":{"message_id":"${f.data.message_id}","status":"delivered","conversation_id":"${f.data.conversation_id}"}}`;
            // The ack arrives later, as from a socket.
            setImmediate(() => conns[index]!.text(ack));
          } else if (text.startsWith('{"event":"error"')) errors++;
        },
        close() {},
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 500));
  const results: StepResult[] = [];
  for (const rate of [RATES[0]!, ...RATES]) {
    const warmup = results.length === 0 && latencies.length === 0 && seq === 0;
    latencies.length = 0;
    delivered = 0;
    errors = 0;
    sentAt.clear();
    const total = rate * (warmup ? 2 : SECONDS);
    const s0 = target.stats();
    const c0 = process.cpuUsage();
    const start = performance.now();
    let n = 0;
    await new Promise<void>((done) => {
      const tick = setInterval(() => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
        for (; n < due; n++) {
          const from = (n * 2) % USERS;
          const client_msg_id = `00000000-0000-4000-8000-${String(seq++).padStart(12, "0")}`;
          sentAt.set(client_msg_id, performance.now());
          conns[from]!.text(`{"event":"send_message","data":{"to":"${idOf(from + 1)}","content":"${BODY}","type":"text","client_msg_id":"${client_msg_id}"}}`);
        }
        if (n >= total || performance.now() - start > (total / rate) * 1000 + 2_000) {
          clearInterval(tick);
          done();
        }
      }, 2);
    });
    const window_s = (performance.now() - start) / 1000;
    const until = performance.now() + 5_000;
    while (delivered < n && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    // Let the acks of the last messages finish too, so the CPU and writes belong to this step.
    await new Promise((r) => setTimeout(r, 300));
    const cpu = process.cpuUsage(c0);
    const s1 = target.stats();
    const sorted = latencies.sort((a, b) => a - b);
    const row: StepResult = {
      offered_per_s: rate,
      delivered,
      delivered_per_s: Math.round(delivered / Math.max(window_s, (performance.now() - start - 300) / 1000)),
      p50_ms: Number(percentile(sorted, 50).toFixed(2)),
      p99_ms: Number(percentile(sorted, 99).toFixed(2)),
      undelivered: n - delivered,
      errors,
      cpu_us_per_msg: Math.round((cpu.user + cpu.system) / Math.max(1, delivered)),
      transactions_per_msg: Number(((s1.transactions - s0.transactions) / Math.max(1, delivered)).toFixed(3)),
      writes_per_msg: Number(((s1.writes - s0.writes) / Math.max(1, delivered)).toFixed(2)),
      written_kib_per_msg: Number(((s1.written_bytes - s0.written_bytes) / 1024 / Math.max(1, delivered)).toFixed(2)),
    };
    if (warmup) {
      console.log(`${label.padEnd(5)} warm-up at ${rate}/s: delivered ${delivered}`);
      continue;
    }
    results.push(row);
    console.log(
      `${label.padEnd(5)} offered ${rate}/s: delivered ${row.delivered_per_s}/s p50 ${row.p50_ms} ms p99 ${row.p99_ms} ms undelivered ${row.undelivered} errors ${errors} | CPU ${row.cpu_us_per_msg} us/msg, ${row.transactions_per_msg} commits/msg, ${row.writes_per_msg} writes/msg, ${row.written_kib_per_msg} KiB written/msg`,
    );
  }
  return results;
}

/** The node's hot path: assembleEmbedded with users and devices made in its directory. */
async function nodeTarget(dir: string): Promise<Target> {
  const parsed = parseEnv(allInOneEnv, { DATA_DIR: dir, LOG_LEVEL: "warn", ...process.env });
  if (!parsed.ok) throw new Error(parsed.message);
  const core = assembleEmbedded(parsed.value);
  await core.startRouters();
  const now = Date.now();
  await Promise.all(
    Array.from({ length: USERS }, async (_, i) => {
      await core.directory.createUser({ user_id: idOf(i), username: `user${i}`, password_hash: "-", created_at_ms: now });
      await core.directory.addDevice(idOf(i), `${idOf(i)}-d`, now);
    }),
  );
  return {
    open: (i, sink) => {
      const c = core.gateway.open({ user_id: idOf(i), device_id: `${idOf(i)}-d`, connection_id: `c${i}` }, sink);
      if (c === null) throw new Error("the gateway refused a connection");
      return c;
    },
    stats: () => {
      const s = core.db.stats();
      return { transactions: s.transactions_committed, writes: s.writes_committed, written_bytes: bytesWritten() };
    },
    close: async () => {
      if (process.env.PIPELINE_METRICS === "1") {
        const text = await core.metrics.registry.metrics();
        console.log(text.split("\n").filter((l) => /^chat_(router|frames_rejected|delivery_failures)/.test(l)).join("\n"));
      }
      await core.drain(100);
      await core.close();
    },
  };
}

/** The baseline: the same driver, a stub that answers each send at once (no core, no storage). */
function stubTarget(): Target {
  const sinks: ConnectionSink[] = [];
  let id = 1_000_000_000_000_000;
  return {
    open: (i, sink) => {
      sinks[i] = sink;
      return {
        text(t) {
          const f = JSON.parse(t) as { event: string; data: { to: string; content: string; client_msg_id: string } };
          if (f.event !== "send_message") return;
          const message_id = String(id++);
          const conversation_id = `d.${idOf(i)}.${f.data.to}`;
          sink.send(JSON.stringify({ event: "delivery_receipt", data: { message_id, conversation_id, status: "sent", client_msg_id: f.data.client_msg_id } }));
          sinks[Number(f.data.to.slice(1))]?.send(
            JSON.stringify({ event: "new_message", data: { message_id, conversation_id, from: idOf(i), content: f.data.content, type: "text", sent_at: new Date().toISOString(), client_msg_id: f.data.client_msg_id } }),
          );
        },
      };
    },
    stats: () => ({ transactions: 0, writes: 0, written_bytes: bytesWritten() }),
    close: async () => undefined,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "chat-pipeline-"));
  try {
    const base = await drive(stubTarget(), "stub");
    const node = await nodeTarget(dir);
    const ours = await drive(node, "node");
    await node.close();
    const rows = ours.map((r) => {
      const b = base.find((x) => x.offered_per_s === r.offered_per_s);
      return { ...r, baseline_cpu_us_per_msg: b?.cpu_us_per_msg ?? null, node_cpu_us_per_msg: b === undefined ? null : r.cpu_us_per_msg - b.cpu_us_per_msg };
    });
    const result = { bench: "pipeline", at: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? "unknown", users: USERS, seconds_per_step: SECONDS, env: { COMMIT_WINDOW_MS: process.env.COMMIT_WINDOW_MS ?? "default", CHECKPOINT_INTERVAL_MS: process.env.CHECKPOINT_INTERVAL_MS ?? "default", ROUTERS: process.env.ROUTERS ?? "default" }, rows };
    mkdirSync(join(root, "bench/results"), { recursive: true });
    writeFileSync(join(root, "bench/results/pipeline.json"), `${JSON.stringify(result, null, 2)}\n`);
    for (const r of rows) console.log(`offered ${r.offered_per_s}/s: node ${r.node_cpu_us_per_msg} us/msg of CPU beyond the driver (${r.baseline_cpu_us_per_msg} us/msg)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

type Row = StepResult & { node_cpu_us_per_msg: number | null };

/** One run of this bench in `dir` (a checkout), in a process of its own; its rows. */
function runIn(dir: string): Row[] {
  const env = { ...process.env };
  delete env.BEFORE_DIR;
  execFileSync(process.execPath, ["--import", "tsx", "bench/pipeline.bench.ts"], { cwd: dir, env, stdio: ["ignore", "inherit", "inherit"], timeout: 600_000 });
  return (JSON.parse(readFileSync(join(dir, "bench/results/pipeline.json"), "utf8")) as { rows: Row[] }).rows;
}

async function beforeAndAfter(before_dir: string): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`ROUNDS must be an integer from 1 to 20, got ${process.env.ROUNDS}`);
  const runs: { round: number; which: "before" | "after"; rows: Row[] }[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Alternated, so that a noisy stretch of the machine hits both.
    for (const which of ["before", "after"] as const) {
      console.log(`round ${round}/${rounds}: ${which} (${which === "before" ? before_dir : root})`);
      runs.push({ round, which, rows: runIn(which === "before" ? before_dir : root) });
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const side = (which: "before" | "after", rate: number) => runs.filter((r) => r.which === which).flatMap((r) => r.rows.filter((x) => x.offered_per_s === rate));
  const rates = RATES.filter((rate) => side("before", rate).length > 0 && side("after", rate).length > 0);
  const summary = rates.map((rate) => {
    const of = (which: "before" | "after") => {
      const rows = side(which, rate);
      return {
        node_cpu_us_per_msg: median(rows.map((r) => r.node_cpu_us_per_msg ?? Number.NaN)),
        node_cpu_each: rows.map((r) => r.node_cpu_us_per_msg),
        delivered_per_s: median(rows.map((r) => r.delivered_per_s)),
        p99_ms: median(rows.map((r) => r.p99_ms)),
        transactions_per_msg: median(rows.map((r) => r.transactions_per_msg)),
        writes_per_msg: median(rows.map((r) => r.writes_per_msg)),
        written_kib_per_msg: median(rows.map((r) => r.written_kib_per_msg)),
      };
    };
    const before = of("before");
    const after = of("after");
    // The ratio per round (each pair ran minutes apart at most), then their median.
    const ratios = side("after", rate).map((a, i) => (a.node_cpu_us_per_msg ?? Number.NaN) / (side("before", rate)[i]?.node_cpu_us_per_msg ?? Number.NaN));
    return { offered_per_s: rate, before, after, cpu_ratio_after_to_before: Number(median(ratios).toFixed(3)), cpu_ratio_each_round: ratios.map((r) => Number(r.toFixed(3))) };
  });
  const result = { bench: "pipeline-ab", at: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? "unknown", before_dir, rounds, users: USERS, seconds_per_step: SECONDS, summary, runs };
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(join(root, "bench/results/pipeline-ab.json"), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(root, "bench/results/pipeline-ab.svg"), abChart(result.summary, `${rounds} alternated rounds, ${SECONDS} s per rate, ${USERS} connections, ${result.at.slice(0, 16)}`));
  for (const r of summary) {
    console.log(
      `offered ${r.offered_per_s}/s: node CPU ${r.before.node_cpu_us_per_msg} -> ${r.after.node_cpu_us_per_msg} us/msg (after/before ${r.cpu_ratio_after_to_before}, rounds ${r.cpu_ratio_each_round.join(", ")}); commits/msg ${r.before.transactions_per_msg} -> ${r.after.transactions_per_msg}; KiB written/msg ${r.before.written_kib_per_msg} -> ${r.after.written_kib_per_msg}`,
    );
  }
  console.log("wrote bench/results/pipeline-ab.json and pipeline-ab.svg");
}

/** Bars per offered rate: node CPU per message before (grey) and after (blue), medians, each round as a dot. */
function abChart(summary: { offered_per_s: number; before: { node_cpu_us_per_msg: number; node_cpu_each: (number | null)[] }; after: { node_cpu_us_per_msg: number; node_cpu_each: (number | null)[] }; cpu_ratio_after_to_before: number }[], subtitle: string): string {
  const W = 760;
  const H = 340;
  const top = 70;
  const base = 280;
  const all = summary.flatMap((s) => [...s.before.node_cpu_each, ...s.after.node_cpu_each, s.before.node_cpu_us_per_msg, s.after.node_cpu_us_per_msg]).filter((v): v is number => v !== null && Number.isFinite(v));
  const max = Math.max(1, ...all) * 1.15;
  const h = (v: number): number => (v / max) * (base - top);
  const group = (W - 120) / Math.max(1, summary.length);
  const parts: string[] = [];
  summary.forEach((s, i) => {
    const x0 = 80 + i * group + group / 2 - 70;
    (["before", "after"] as const).forEach((which, j) => {
      const side = s[which];
      const x = x0 + j * 75;
      const v = side.node_cpu_us_per_msg;
      parts.push(`<rect x="${x}" y="${(base - h(v)).toFixed(1)}" width="60" height="${h(v).toFixed(1)}" fill="${j === 0 ? "#9a9a9a" : "#1f6fd1"}"/>`);
      parts.push(`<text x="${x + 30}" y="${(base - h(v) - 6).toFixed(1)}" text-anchor="middle" font-size="12">${v} µs</text>`);
      for (const e of side.node_cpu_each) if (e !== null) parts.push(`<circle cx="${x + 30}" cy="${(base - h(e)).toFixed(1)}" r="3" fill="none" stroke="#222"/>`);
      parts.push(`<text x="${x + 30}" y="${base + 16}" text-anchor="middle" font-size="11">${which}</text>`);
    });
    parts.push(`<text x="${x0 + 67}" y="${base + 34}" text-anchor="middle" font-size="12" font-weight="bold">${s.offered_per_s} msg/s: after/before ${s.cpu_ratio_after_to_before}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="${W / 2}" y="22" text-anchor="middle" font-size="15">The node's CPU per message, before and after (pipeline bench, no sockets; lower is better)</text><text x="${W / 2}" y="42" text-anchor="middle" font-size="12" fill="#555">${subtitle}; bars are medians, circles each round</text><line x1="60" y1="${base}" x2="${W - 40}" y2="${base}" stroke="#333"/>${parts.join("")}</svg>\n`;
}

const BEFORE = process.env.BEFORE_DIR;
(BEFORE !== undefined && BEFORE !== "" ? beforeAndAfter(resolve(BEFORE)).then(() => process.exit(0)) : main()).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

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
 */
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

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

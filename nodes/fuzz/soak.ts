/**
 * `make soak`: a bounded soak of the all-in-one node (default 1 h; SOAK_SECONDS, or
 * SOAK_SHORT=1 for 60 s). A steady honest load (SOAK_USERS pairs, SOAK_RATE messages per
 * second in all, every message acked) runs beside a steady trickle of fuzzed frames and
 * requests (the same generator as `make fuzz`, SOAK_SEED replays), and every SOAK_SAMPLE_S
 * seconds it samples the node's RSS (/proc), event-loop delay (the node's own
 * `nodejs_eventloop_lag_seconds` from /metrics), and the messages delivered and their latency
 * in that window. Writes `bench/results/soak.json` and `bench/results/soak.svg` (one chart per
 * series over time) and exits 1 if the node crashed, a message was lost, or RSS at the end is
 * more than 1.25 times its sample at half time (a leak; bounded caches are full by then) or
 * three times its first sample after warm-up.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import { randomUUID } from "node:crypto";
import { fuzzFrame, generator, type Known } from "./generate.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { account, fuzzSeed, openSocket, rssMb, startNodeProcess } from "./run.js";

type Sample = { t_s: number; rss_mb: number; loop_lag_ms: number; delivered: number; sent: number; p50_ms: number; p99_ms: number; fuzz_frames: number };

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

async function main(): Promise<void> {
  const seconds = process.env.SOAK_SHORT === "1" ? 60 : num("SOAK_SECONDS", 3_600);
  const sample_s = num("SOAK_SAMPLE_S", seconds <= 120 ? 5 : 30);
  const pairs = num("SOAK_USERS", 20);
  const rate = num("SOAK_RATE", 100);
  const seed = fuzzSeed({ FUZZ_SEED: process.env.SOAK_SEED });
  process.stdout.write(`soak: ${seconds} s, ${pairs} pairs, ${rate} msg/s, fuzz seed ${seed} (replay: SOAK_SEED=${seed})\n`);
  const dir = mkdtempSync(join(tmpdir(), "chat-soak-"));
  const node = await startNodeProcess(dir);
  const samples: Sample[] = [];
  let lost = 0;
  try {
    const users = await Promise.all(Array.from({ length: pairs * 2 }, (_, i) => account(node.url, `soak${i}_${Date.now().toString(36).slice(-4)}`)));
    const sockets = await Promise.all(users.map((u) => openSocket(node.url, u.token)));
    const outstanding = new Map<string, number>();
    /** client_msg_id -> the send_message frame, to send again after a retryable refusal. */
    const frames = new Map<string, string>();
    let refusals = 0;
    let window: number[] = [];
    let sent = 0;
    let delivered = 0;
    let closed = 0;
    sockets.forEach((ws, i) => {
      ws.on("close", () => closed++);
      ws.on("message", (data) => {
        const frame = JSON.parse(data.toString()) as { event: string; data: Record<string, unknown> };
        if (frame.event === "error" && frame.data.retryable === true) {
          // OVERLOADED under load: nothing was appended; the contract says resend the same
          // client_msg_id after a pause (counting such a send as lost was the harness's bug).
          const again = frames.get(String(frame.data.client_msg_id));
          if (again !== undefined) {
            refusals++;
            setTimeout(() => ws.readyState === WebSocket.OPEN && ws.send(again), 250);
          }
          return;
        }
        if (frame.event !== "new_message") return;
        ws.send(JSON.stringify({ event: "ack", data: { message_id: frame.data.message_id, status: "delivered" } }));
        const at = outstanding.get(String(frame.data.client_msg_id));
        if (at !== undefined && i % 2 === 1) {
          outstanding.delete(String(frame.data.client_msg_id));
          frames.delete(String(frame.data.client_msg_id));
          delivered++;
          window.push(Date.now() - at);
        }
      });
    });
    // The honest load: pair k's even user sends to its odd user, round robin, at `rate` per second.
    const send = setInterval(() => {
      for (let n = 0; n < Math.max(1, Math.round(rate / 10)); n++) {
        const k = sent % pairs;
        const ws = sockets[2 * k]!;
        if (ws.readyState !== WebSocket.OPEN) continue;
        const id = randomUUID();
        outstanding.set(id, Date.now());
        const text = JSON.stringify({ event: "send_message", data: { to: users[2 * k + 1]!.user_id, content: `soak ${sent}`, type: "text", client_msg_id: id } });
        frames.set(id, text);
        ws.send(text);
        sent++;
      }
    }, 100);
    const beat = setInterval(() => {
      for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event: "heartbeat", data: {} }));
    }, 20_000);
    // The hostile trickle: one attacker connection, 40 fuzzed frames a second (within its rate).
    const attacker = await account(node.url, `soakatt_${Date.now().toString(36).slice(-4)}`);
    const known: Known = { user_ids: users.map((u) => u.user_id), group_ids: [], conversation_ids: [], message_ids: [] };
    const r = generator(seed);
    let fuzz_frames = 0;
    let hostile: WebSocket | null = null;
    const fuzz = setInterval(() => {
      if (hostile === null || hostile.readyState === WebSocket.CLOSED) {
        hostile = null;
        openSocket(node.url, attacker.token).then((ws) => (hostile = ws), () => undefined);
        return;
      }
      if (hostile.readyState !== WebSocket.OPEN) return;
      for (let i = 0; i < 4; i++) {
        const f = fuzzFrame(r, known);
        hostile.send(f.binary ? Buffer.from(f.text) : f.text, { binary: f.binary });
        fuzz_frames++;
      }
    }, 100);

    const started = Date.now();
    let last_sent = 0;
    let last_delivered = 0;
    while (Date.now() - started < seconds * 1000 && !node.exited()) {
      await new Promise((res) => setTimeout(res, sample_s * 1000));
      const metrics = await fetch(`${node.url}/metrics`).then((res) => res.text(), () => "");
      const lag = /^nodejs_eventloop_lag_seconds (\S+)$/m.exec(metrics);
      const sample: Sample = {
        t_s: Math.round((Date.now() - started) / 1000),
        rss_mb: rssMb(node.pid),
        loop_lag_ms: lag === null ? 0 : Math.round(Number(lag[1]) * 1000 * 10) / 10,
        delivered: delivered - last_delivered,
        sent: sent - last_sent,
        p50_ms: percentile(window, 50),
        p99_ms: percentile(window, 99),
        fuzz_frames,
      };
      window = [];
      last_sent = sent;
      last_delivered = delivered;
      samples.push(sample);
      process.stdout.write(`soak t=${sample.t_s}s rss=${sample.rss_mb}MiB lag=${sample.loop_lag_ms}ms delivered=${sample.delivered}/${sample.sent} p99=${sample.p99_ms}ms fuzz=${fuzz_frames} closed=${closed}\n`);
    }
    clearInterval(send);
    clearInterval(fuzz);
    // Everything sent must arrive: wait for the stragglers.
    const deadline = Date.now() + 30_000;
    while (outstanding.size > 0 && Date.now() < deadline && !node.exited()) await new Promise((res) => setTimeout(res, 100));
    lost = outstanding.size;
    process.stdout.write(`soak: ${refusals} retryable refusal(s) answered by resending\n`);
    clearInterval(beat);
    for (const ws of sockets) ws.close();
    (hostile as WebSocket | null)?.close();
  } finally {
    const crashed = node.exited();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
    const out = resolve(new URL("../../bench/results", import.meta.url).pathname);
    mkdirSync(out, { recursive: true });
    const warm = samples[Math.min(samples.length - 1, 1)];
    const half = samples[Math.floor(samples.length / 2)];
    const last = samples.at(-1);
    const verdict = {
      crashed,
      lost,
      rss_start_mb: warm?.rss_mb ?? 0,
      rss_half_mb: half?.rss_mb ?? 0,
      rss_end_mb: last?.rss_mb ?? 0,
      p99_ms_max: Math.max(0, ...samples.map((s) => s.p99_ms)),
      loop_lag_ms_max: Math.max(0, ...samples.map((s) => s.loop_lag_ms)),
    };
    writeFileSync(join(out, "soak.json"), `${JSON.stringify({ seconds, seed, verdict, samples }, null, 1)}\n`);
    writeFileSync(join(out, "soak.svg"), chart(samples));
    process.stdout.write(`soak: ${JSON.stringify(verdict)} -> bench/results/soak.json, soak.svg\n`);
    // Bounded caches fill during the first quarter hour at the default rate (SQLite's 64 MiB
    // page cache, the log's recent records, 4,096 message IDs per connection in the gateway),
    // so a leak is growth in the second half; doubling from the warm-up sample is kept as a
    // coarse bound, at three times.
    const grew = verdict.rss_start_mb > 0 && (verdict.rss_end_mb > 1.25 * verdict.rss_half_mb || verdict.rss_end_mb > 3 * verdict.rss_start_mb);
    if (crashed || lost > 0 || grew) {
      process.stdout.write(`soak FAILED: ${crashed ? "the node crashed; " : ""}${lost > 0 ? `${lost} message(s) not delivered; ` : ""}${grew ? "RSS grew by more than a quarter in the second half, or tripled" : ""}\n`);
      process.exitCode = 1;
    }
  }
}

/** Four small line charts over time, stacked, as one self-contained SVG. */
function chart(samples: readonly Sample[]): string {
  const series: [string, (s: Sample) => number][] = [
    ["RSS (MiB)", (s) => s.rss_mb],
    ["event-loop delay (ms)", (s) => s.loop_lag_ms],
    ["delivered per sample", (s) => s.delivered],
    ["delivery p99 (ms)", (s) => s.p99_ms],
  ];
  const w = 640;
  const h = 120;
  const pad = 40;
  const t_max = Math.max(1, ...samples.map((s) => s.t_s));
  const panels = series.map(([label, of], i) => {
    const y0 = i * (h + 30) + 20;
    const v_max = Math.max(1, ...samples.map(of));
    const points = samples.map((s) => `${(pad + (s.t_s / t_max) * (w - 2 * pad)).toFixed(1)},${(y0 + h - (of(s) / v_max) * h).toFixed(1)}`).join(" ");
    return [
      `<text x="${pad}" y="${y0 - 5}" font-size="12">${label} (max ${v_max})</text>`,
      `<line x1="${pad}" y1="${y0 + h}" x2="${w - pad}" y2="${y0 + h}" stroke="#999"/>`,
      `<polyline fill="none" stroke="#0b7a75" stroke-width="1.5" points="${points}"/>`,
    ].join("");
  });
  const height = series.length * (h + 30) + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${panels.join("")}<text x="${pad}" y="${height - 8}" font-size="11">time (s), 0 to ${t_max}</text></svg>\n`;
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

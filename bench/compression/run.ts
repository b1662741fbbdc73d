/**
 * permessage-deflate on the gateway's WebSocket: what it costs and saves, per configuration,
 * against no compression measured in the same run (this box is shared and noisy).
 *
 *   make bench-compression   (npx tsx bench/compression/run.ts; `--report` redraws from the JSON)
 *   → bench/results/compression.json, compression.md (the table) and compression.svg (the chart)
 *
 * For each configuration, a fresh server process (ws, the library the gateway uses) takes
 * CONNECTIONS connections from a client process that offers permessage-deflate as browsers
 * do; the server sends each connection DOWN frames (text-like: new_message with chat text,
 * receipts, presence; bodies.ts) and each connection sends UP send_message frames. Measured
 * on the server: bytes on the wire (both directions, socket counters), CPU per message
 * (user + system over the exchange / messages), and RSS per connection (after GC, after the
 * exchange, so every connection's zlib contexts exist, minus the RSS before any connection).
 * Each configuration runs ROUNDS times interleaved with the others; the median is reported.
 * Frames under a configuration's threshold are sent with compress: false, as the gateway does
 * (ws's own threshold applies only without context takeover).
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PerMessageDeflateOptions } from "ws";

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, "..", "results");
const CONNECTIONS = Number(process.env.COMPRESSION_CONNECTIONS ?? 300);
const DOWN = Number(process.env.COMPRESSION_DOWN ?? 60);
const UP = Number(process.env.COMPRESSION_UP ?? 10);
const ROUNDS = Number(process.env.COMPRESSION_ROUNDS ?? 3);
const PORT = Number(process.env.COMPRESSION_PORT ?? 9390);

type Config = { name: string; note: string; deflate: PerMessageDeflateOptions | false; threshold_bytes: number };

const zlib = (level: number, memLevel: number) => ({ zlibDeflateOptions: { level, memLevel } });
// The server's window only: the client's stays its own (15 bits), as in production (nodes/http/compression.ts).
const windows = (bits: number) => ({ serverMaxWindowBits: bits });

export const CONFIGS: Config[] = [
  { name: "off", note: "no compression", deflate: false, threshold_bytes: 0 },
  { name: "ws-defaults", note: "ws defaults: context takeover, 15-bit windows, level 6, memLevel 8 (every frame)", deflate: {}, threshold_bytes: 0 },
  { name: "w15-l1", note: "context takeover, 15-bit windows, level 1, memLevel 8, every frame", deflate: zlib(1, 8), threshold_bytes: 0 },
  { name: "w12-l1-m5", note: "context takeover, 12-bit server window, level 1, memLevel 5, every frame", deflate: { ...windows(12), ...zlib(1, 5) }, threshold_bytes: 0 },
  { name: "w12-l1-m5-t128", note: "the same, frames under 128 bytes uncompressed", deflate: { ...windows(12), ...zlib(1, 5) }, threshold_bytes: 128 },
  { name: "w12-l1-m5-t512", note: "the same, frames under 512 bytes uncompressed", deflate: { ...windows(12), ...zlib(1, 5) }, threshold_bytes: 512 },
  { name: "w10-l1-m4-t128", note: "context takeover, 10-bit server window, level 1, memLevel 4, under 128 bytes uncompressed", deflate: { ...windows(10), ...zlib(1, 4) }, threshold_bytes: 128 },
  { name: "w12-l1-m5-t128-c4k", note: "w12-l1-m5-t128 with 4 KiB zlib output chunks instead of 16 KiB", deflate: { ...windows(12), zlibDeflateOptions: { level: 1, memLevel: 5, chunkSize: 4096 }, zlibInflateOptions: { chunkSize: 4096 } }, threshold_bytes: 128 },
  { name: "w12-l1-m5-t128-nct", note: "w12-l1-m5-t128 without context takeover (either way)", deflate: { ...windows(12), serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 128, ...zlib(1, 5) }, threshold_bytes: 128 },
  // ws applies its own threshold (bytes) without context takeover: set to ours.

];

type Sample = { bytes_on_wire: number; payload_bytes: number; cpu_us_per_message: number; rss_bytes_per_connection: number; negotiated: number };

function child(file: string, gc: boolean): ChildProcess {
  return fork(join(HERE, file), [], { execArgv: ["--import", "tsx", ...(gc ? ["--expose-gc"] : [])], stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

function ask<T>(p: ChildProcess, message: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      p.off("exit", onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null): void => reject(new Error(`child exited (${code}) while asked ${JSON.stringify(message)}`));
    p.once("message", onMessage);
    p.once("exit", onExit);
    p.send(message as never);
  });
}

async function measure(config: Config, round: number): Promise<Sample> {
  const server = child("server.ts", true);
  const client = child("client.ts", false);
  try {
    await ask(server, { cmd: "start", port: PORT, deflate: config.deflate, threshold_bytes: config.threshold_bytes });
    const base = await ask<{ rss: number }>(server, { cmd: "rss" });
    await ask(client, { cmd: "connect", port: PORT, connections: CONNECTIONS, offer: true });
    // Warm-up: the JIT, and every connection's zlib contexts (ws makes them on first use).
    const clientWarm = ask(client, { cmd: "run", expect_per_connection: 5, upstream_per_connection: 2, seed: 1_000 + round });
    await ask(server, { cmd: "run", frames_per_connection: 5, upstream_per_connection: 2, seed: 1_000 + round });
    await clientWarm;
    const clientRun = ask(client, { cmd: "run", expect_per_connection: DOWN, upstream_per_connection: UP, seed: 7 + round });
    const run = await ask<{ cpu_us: number; bytes_written: number; bytes_read: number; sent: number; received: number; payload_bytes_sent: number }>(server, { cmd: "run", frames_per_connection: DOWN, upstream_per_connection: UP, seed: 7 + round });
    await clientRun;
    const after = await ask<{ rss: number; deflate_negotiated: number }>(server, { cmd: "rss" });
    return {
      bytes_on_wire: run.bytes_written + run.bytes_read,
      payload_bytes: run.payload_bytes_sent,
      cpu_us_per_message: run.cpu_us / (run.sent + run.received),
      rss_bytes_per_connection: (after.rss - base.rss) / CONNECTIONS,
      negotiated: after.deflate_negotiated,
    };
  } finally {
    client.send({ cmd: "stop" });
    server.send({ cmd: "stop" });
    await Promise.all([server, client].map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)))));
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main(): Promise<void> {
  const samples = new Map<string, Sample[]>(CONFIGS.map((c) => [c.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const config of CONFIGS) {
      const s = await measure(config, round);
      samples.get(config.name)!.push(s);
      process.stdout.write(`round ${round + 1}/${ROUNDS} ${config.name.padEnd(16)} wire ${(s.bytes_on_wire / 1e6).toFixed(2)} MB  cpu ${s.cpu_us_per_message.toFixed(1)} us/msg  rss ${(s.rss_bytes_per_connection / 1024).toFixed(1)} KiB/conn  negotiated ${s.negotiated}\n`);
    }
  }
  const rows = CONFIGS.map((c) => {
    const list = samples.get(c.name)!;
    return {
      name: c.name,
      note: c.note,
      deflate: c.deflate,
      negotiated: list[0]!.negotiated,
      bytes_on_wire: median(list.map((s) => s.bytes_on_wire)),
      bytes_on_wire_per_message: median(list.map((s) => s.bytes_on_wire)) / (CONNECTIONS * (DOWN + UP)),
      cpu_us_per_message: median(list.map((s) => s.cpu_us_per_message)),
      rss_kib_per_connection: median(list.map((s) => s.rss_bytes_per_connection)) / 1024,
      samples: list,
    };
  });
  const off = rows[0]!;
  const table = rows.map((r) => ({
    ...r,
    wire_ratio: r.bytes_on_wire / off.bytes_on_wire,
    cpu_ratio: r.cpu_us_per_message / off.cpu_us_per_message,
    rss_delta_kib_per_connection: r.rss_kib_per_connection - off.rss_kib_per_connection,
  }));
  const result = {
    at: new Date().toISOString(),
    node_version: process.version,
    cpu: cpus()[0]?.model ?? "?",
    cores: cpus().length,
    mem_total_kib: Math.round(totalmem() / 1024),
    config: { connections: CONNECTIONS, frames_down_per_connection: DOWN, frames_up_per_connection: UP, rounds: ROUNDS },
    rows: table,
  };
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, "compression.json"), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(RESULTS, "compression.md"), markdown(result));
  writeFileSync(join(RESULTS, "compression.svg"), chart(table));
  process.stdout.write(`\n${markdown(result)}\nwrote bench/results/compression.{json,md,svg}\n`);
}

type Row = { name: string; note: string; bytes_on_wire_per_message: number; cpu_us_per_message: number; rss_kib_per_connection: number; wire_ratio: number; cpu_ratio: number; rss_delta_kib_per_connection: number; negotiated: number };

function markdown(result: { at: string; node_version: string; cores: number; config: Record<string, number>; rows: Row[] }): string {
  const lines = [
    `# permessage-deflate on the gateway's WebSocket (${result.at.slice(0, 16)}Z, Node ${result.node_version}, ${result.cores} cores, shared)`,
    "",
    `${result.config.connections} connections; per connection ${result.config.frames_down_per_connection} frames down (70% new_message with chat text, 20% receipts, 10% presence) and ${result.config.frames_up_per_connection} send_message up; median of ${result.config.rounds} interleaved rounds. Ratios are against \`off\` in the same run. RSS per connection is after GC, with every connection's zlib contexts allocated.`,
    "",
    "| configuration | bytes on the wire / msg | wire vs off | CPU µs / msg (server) | CPU vs off | RSS KiB / conn | RSS vs off (KiB / conn) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.rows.map((r) => `| \`${r.name}\` — ${r.note}${r.negotiated === 0 && r.name !== "off" ? " (not negotiated!)" : ""} | ${r.bytes_on_wire_per_message.toFixed(0)} | ${r.wire_ratio.toFixed(2)} | ${r.cpu_us_per_message.toFixed(1)} | ${r.cpu_ratio.toFixed(2)} | ${r.rss_kib_per_connection.toFixed(1)} | ${r.rss_delta_kib_per_connection >= 0 ? "+" : ""}${r.rss_delta_kib_per_connection.toFixed(1)} |`),
    "",
  ];
  return lines.join("\n");
}

/** Three groups of bars (wire, CPU, RSS delta), one bar per configuration, each against off. */
function chart(rows: Row[]): string {
  const W = 900;
  const CHART_H = 300;
  const H = CHART_H + 30 + rows.length * 16;
  const colors = ["#888", "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
  const metrics: { title: string; value: (r: Row) => number; max: number; label: (v: number) => string }[] = [
    { title: "bytes on the wire (× off)", value: (r) => r.wire_ratio, max: Math.max(1.1, ...rows.map((r) => r.wire_ratio)), label: (v) => v.toFixed(2) },
    { title: "server CPU per message (× off)", value: (r) => r.cpu_ratio, max: Math.max(1.1, ...rows.map((r) => r.cpu_ratio)), label: (v) => v.toFixed(2) },
    { title: "RSS per connection (KiB over off)", value: (r) => Math.max(0, r.rss_delta_kib_per_connection), max: Math.max(1, ...rows.map((r) => r.rss_delta_kib_per_connection)), label: (v) => v.toFixed(0) },
  ];
  const panel_w = (W - 40) / 3;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  metrics.forEach((m, p) => {
    const x0 = 20 + p * panel_w;
    const top = 40;
    const bottom = CHART_H;
    out.push(`<text x="${x0 + panel_w / 2}" y="24" text-anchor="middle" font-size="13" font-weight="bold">${m.title}</text>`);
    out.push(`<line x1="${x0 + 10}" y1="${bottom}" x2="${x0 + panel_w - 10}" y2="${bottom}" stroke="#333"/>`);
    const bw = (panel_w - 30) / rows.length;
    rows.forEach((r, i) => {
      const v = m.value(r);
      const h = ((bottom - top) * v) / m.max;
      const x = x0 + 15 + i * bw;
      out.push(`<rect x="${x.toFixed(1)}" y="${(bottom - h).toFixed(1)}" width="${(bw - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${colors[i % colors.length]}"/>`);
      out.push(`<text x="${(x + (bw - 4) / 2).toFixed(1)}" y="${(bottom - h - 4).toFixed(1)}" text-anchor="middle">${m.label(v)}</text>`);
    });
  });
  rows.forEach((r, i) => {
    const y = CHART_H + 30 + i * 16;
    const x = 30;
    out.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${colors[i % colors.length]}"/><text x="${x + 18}" y="${y}">${r.name}: ${r.note.replace(/&/g, "&amp;")}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** `--report`: rewrite compression.md and compression.svg from compression.json, without measuring. */
function report(): void {
  const result = JSON.parse(readFileSync(join(RESULTS, "compression.json"), "utf8")) as Parameters<typeof markdown>[0];
  writeFileSync(join(RESULTS, "compression.md"), markdown(result));
  writeFileSync(join(RESULTS, "compression.svg"), chart(result.rows));
}

(process.argv.includes("--report") ? Promise.resolve(report()) : main()).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

/**
 * `make soak`: a bounded soak of the all-in-one node (default 1 h; SOAK_SECONDS, or
 * SOAK_SHORT=1 for 60 s). A steady honest load (SOAK_USERS pairs, SOAK_RATE messages per
 * second in all, every message acked) runs beside a steady trickle of fuzzed frames and
 * requests (the same generator as `make fuzz`, SOAK_SEED replays), and every SOAK_SAMPLE_S
 * seconds it samples the node's RSS (/proc), event-loop delay (the node's own
 * `nodejs_eventloop_lag_seconds` from /metrics), and the messages delivered, refused and their
 * latency in that window. SOAK_PORT puts the node on a fixed port (default: any free one).
 *
 * The honest load is a client written from the contract (honest.ts): a send refused with a
 * retryable error is sent again with backoff, and the verdict tells "refused, then delivered"
 * (load shed as documented) from "lost", and of the lost, those the node had acknowledged with
 * `sent` (a broken promise) from those it never accepted.
 *
 * Writes `bench/results/soak.json` and `bench/results/soak.svg` (one chart per series over
 * time) and exits 1 if the node crashed, a message was lost, an honest socket was closed or
 * got a non-retryable error, or RSS at the end is more than 1.25 times its sample at half time
 * (a leak; bounded caches are full by then) or three times its first sample after warm-up.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import { fuzzFrame, generator, type Known } from "./generate.js";
import { CONTRACT_BACKOFF, HonestLoad, type Backoff, type HonestVerdict } from "./honest.js";
import { account, fuzzSeed, openSocket, rssMb, startNodeProcess } from "./run.js";

export type Sample = {
  t_s: number;
  rss_mb: number;
  loop_lag_ms: number;
  /** This window's new messages, deliveries and retryable refusals. */
  sent: number;
  delivered: number;
  refused: number;
  p50_ms: number;
  p99_ms: number;
  fuzz_frames: number;
  /** Messages sent and not yet delivered at the sample. */
  outstanding: number;
};

export type SoakOptions = {
  readonly seconds: number;
  readonly sample_s: number;
  readonly pairs: number;
  /** Honest messages per second, in all. */
  readonly rate: number;
  readonly seed: number;
  /** Fuzzed frames per second on the attacker's connection (0: none). */
  readonly fuzz_per_second?: number;
  /** How long after the load stops the stragglers may still arrive. */
  readonly drain_s?: number;
  /** Node settings added to the harness's own (a test's tiny admission limit). */
  readonly node_env?: Record<string, string>;
  readonly port?: number;
  readonly backoff?: Backoff;
  readonly log?: (line: string) => void;
};

export type SoakVerdict = {
  crashed: boolean;
  rss_start_mb: number;
  rss_half_mb: number;
  rss_end_mb: number;
  p99_ms_max: number;
  loop_lag_ms_max: number;
  /**
   * Whether the half-time sample came after the bounded caches fill (FILL_S): only then can
   * growth in the second half tell a leak from filling; a shorter run has the 3x bound only.
   */
  rss_leak_judged: boolean;
  honest: HonestVerdict;
  /** What failed, in words; empty when the soak passed. */
  problems: string[];
};

export type SoakResult = { seconds: number; seed: number; verdict: SoakVerdict; samples: Sample[] };

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), "chat-soak-"));
  const node = await startNodeProcess(dir, { env: options.node_env, port: options.port });
  const samples: Sample[] = [];
  let honest: HonestLoad | null = null;
  let crashed = false;
  try {
    const tag = Date.now().toString(36).slice(-4);
    const users = await Promise.all(Array.from({ length: options.pairs * 2 }, (_, i) => account(node.url, `soak${i}_${tag}`)));
    const sockets = await Promise.all(users.map((u) => openSocket(node.url, u.token)));
    const load = new HonestLoad(sockets, users, options.backoff ?? CONTRACT_BACKOFF);
    honest = load;
    // The honest load: round robin over the pairs, `rate` per second in ticks of 100 ms.
    let owed = 0;
    const send = setInterval(() => {
      owed += options.rate / 10;
      for (; owed >= 1; owed--) load.sendNext();
    }, 100);
    const beat = setInterval(() => {
      for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event: "heartbeat", data: {} }));
    }, 20_000);
    // The hostile trickle: one attacker connection (within its rate limit).
    const attacker = await account(node.url, `soakatt_${tag}`);
    const known: Known = { user_ids: users.map((u) => u.user_id), group_ids: [], conversation_ids: [], message_ids: [] };
    const r = generator(options.seed);
    const per_tick = Math.round((options.fuzz_per_second ?? 40) / 10);
    let fuzz_frames = 0;
    let hostile: WebSocket | null = null;
    // One attacker connection at a time: a tick while an upgrade is still on its way must not
    // start another (on a busy box the 1 h run leaked 31 idle sockets that way, up to the
    // user's cap of 32).
    let opening = false;
    const fuzz = setInterval(() => {
      if (per_tick === 0 || opening) return;
      if (hostile === null || hostile.readyState === WebSocket.CLOSED) {
        hostile = null;
        opening = true;
        openSocket(node.url, attacker.token)
          .then((ws) => (hostile = ws), () => undefined)
          .finally(() => (opening = false));
        return;
      }
      if (hostile.readyState !== WebSocket.OPEN) return;
      for (let i = 0; i < per_tick; i++) {
        const f = fuzzFrame(r, known);
        hostile.send(f.binary ? Buffer.from(f.text) : f.text, { binary: f.binary });
        fuzz_frames++;
      }
    }, 100);

    const started = Date.now();
    let last = { sent: 0, delivered: 0, refusals: 0 };
    while (Date.now() - started < options.seconds * 1000 && !node.exited()) {
      await sleep(Math.min(options.sample_s * 1000, Math.max(0, options.seconds * 1000 - (Date.now() - started))));
      const metrics = await fetch(`${node.url}/metrics`).then((res) => res.text(), () => "");
      const lag = /^nodejs_eventloop_lag_seconds (\S+)$/m.exec(metrics);
      const window = load.takeLatencies();
      const c = load.counts;
      const sample: Sample = {
        t_s: Math.round((Date.now() - started) / 1000),
        rss_mb: rssMb(node.pid),
        loop_lag_ms: lag === null ? 0 : Math.round(Number(lag[1]) * 1000 * 10) / 10,
        sent: c.sent - last.sent,
        delivered: c.delivered - last.delivered,
        refused: c.refusals - last.refusals,
        p50_ms: percentile(window, 50),
        p99_ms: percentile(window, 99),
        fuzz_frames,
        outstanding: load.outstanding,
      };
      last = { sent: c.sent, delivered: c.delivered, refusals: c.refusals };
      samples.push(sample);
      log(`soak t=${sample.t_s}s rss=${sample.rss_mb}MiB lag=${sample.loop_lag_ms}ms delivered=${sample.delivered}/${sample.sent} refused=${sample.refused} outstanding=${sample.outstanding} p99=${sample.p99_ms}ms fuzz=${fuzz_frames} closed=${c.closed}`);
    }
    clearInterval(send);
    clearInterval(fuzz);
    // Everything sent must arrive: stragglers (and resends of refused sends) get drain_s more.
    const deadline = Date.now() + (options.drain_s ?? 60) * 1000;
    while (load.outstanding > 0 && Date.now() < deadline && !node.exited()) await sleep(100);
    load.stop();
    clearInterval(beat);
    for (const ws of sockets) ws.close();
    (hostile as WebSocket | null)?.close();
  } finally {
    honest?.stop();
    crashed = node.exited();
    if (crashed) log(`soak: the node exited: ${node.stderr().slice(-2_000)}`);
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { seconds: options.seconds, seed: options.seed, verdict: judge(crashed, samples, honest?.verdict()), samples };
}

/**
 * When the node's bounded caches are full at the default load (SQLite's 64 MiB page cache, the
 * log's recent records, 4,096 message IDs per connection in the gateway): the 1 h runs went
 * 170 -> ~370 MiB by about 25 minutes and stayed there.
 */
export const FILL_S = 1_500;

/** The soak's verdict from its samples and the honest load's ledger. */
export function judge(crashed: boolean, samples: readonly Sample[], honest: HonestVerdict | undefined): SoakVerdict {
  const warm = samples[Math.min(samples.length - 1, 1)];
  const half = samples[Math.floor(samples.length / 2)];
  const last = samples.at(-1);
  const h: HonestVerdict = honest ?? {
    sent: 0, attempts: 0, accepted: 0, delivered: 0, refusals: 0, refusals_by_code: {}, refused_messages: 0, refused_then_delivered: 0,
    unanswered_resends: 0, errors_by_code: {}, errors_other: 0, errors_other_by_code: {}, late_refusals: 0, duplicates: 0, closed: 0, lost: 0, lost_after_sent: 0, lost_refused: 0, lost_error: 0, lost_unanswered: 0,
  };
  const v = {
    crashed,
    rss_start_mb: warm?.rss_mb ?? 0,
    rss_half_mb: half?.rss_mb ?? 0,
    rss_end_mb: last?.rss_mb ?? 0,
    p99_ms_max: Math.max(0, ...samples.map((s) => s.p99_ms)),
    loop_lag_ms_max: Math.max(0, ...samples.map((s) => s.loop_lag_ms)),
    rss_leak_judged: (half?.t_s ?? 0) >= FILL_S,
  };
  const problems: string[] = [];
  if (crashed) problems.push("the node crashed");
  if (honest === undefined) problems.push("the honest load never started");
  if (h.lost > 0) {
    problems.push(`${h.lost} of ${h.sent} message(s) not delivered (${h.lost_after_sent} after their \`sent\`, ${h.lost_refused} refused and never accepted, ${h.lost_error} refused for good, ${h.lost_unanswered} never answered)`);
  }
  if (h.closed > 0) problems.push(`${h.closed} honest socket(s) closed by the node`);
  const errors = Object.values(h.errors_by_code).reduce((a, b) => a + b, 0);
  if (errors > 0) problems.push(`${errors} non-retryable error(s) on honest sends: ${JSON.stringify(h.errors_by_code)}`);
  if (h.errors_other > 0) problems.push(`${h.errors_other} error frame(s) naming no honest send: ${JSON.stringify(h.errors_other_by_code)}`);
  // Bounded caches fill during the first FILL_S at the default rate, so a leak is growth in a
  // second half that starts after that; tripling from the warm-up sample is kept as a coarse
  // bound for every run.
  if (v.rss_start_mb > 0 && v.rss_leak_judged && v.rss_end_mb > 1.25 * v.rss_half_mb) {
    problems.push(`RSS grew by more than a quarter in the second half (${v.rss_start_mb} -> ${v.rss_half_mb} -> ${v.rss_end_mb} MiB)`);
  }
  if (v.rss_start_mb > 0 && v.rss_end_mb > 3 * v.rss_start_mb) problems.push(`RSS tripled (${v.rss_start_mb} -> ${v.rss_end_mb} MiB)`);
  return { ...v, honest: h, problems };
}

async function main(): Promise<void> {
  const seconds = process.env.SOAK_SHORT === "1" ? 60 : num("SOAK_SECONDS", 3_600);
  const options: SoakOptions = {
    seconds,
    sample_s: num("SOAK_SAMPLE_S", seconds <= 120 ? 5 : 30),
    pairs: num("SOAK_USERS", 20),
    rate: num("SOAK_RATE", 100),
    seed: fuzzSeed({ FUZZ_SEED: process.env.SOAK_SEED }),
    port: process.env.SOAK_PORT === undefined ? 0 : num("SOAK_PORT", 0),
    log: (line) => process.stdout.write(`${line}\n`),
  };
  process.stdout.write(`soak: ${seconds} s, ${options.pairs} pairs, ${options.rate} msg/s, fuzz seed ${options.seed} (replay: SOAK_SEED=${options.seed})\n`);
  const result = await runSoak(options);
  const out = resolve(new URL("../../bench/results", import.meta.url).pathname);
  mkdirSync(out, { recursive: true });
  // SOAK_NAME keeps a shorter re-check beside the hour's results (bench/results/<name>.*).
  const file = /^[a-z0-9-]{1,40}$/.test(process.env.SOAK_NAME ?? "") ? process.env.SOAK_NAME! : "soak";
  writeFileSync(join(out, `${file}.json`), `${JSON.stringify(result, null, 1)}\n`);
  writeFileSync(join(out, `${file}.svg`), chart(result.samples));
  const { problems, ...figures } = result.verdict;
  process.stdout.write(`soak: ${JSON.stringify(figures)} -> bench/results/${file}.json, ${file}.svg\n`);
  if (problems.length > 0) {
    process.stdout.write(`soak FAILED: ${problems.join("; ")}\n`);
    process.exitCode = 1;
  } else {
    const h = figures.honest;
    process.stdout.write(`soak ok: ${h.delivered} of ${h.sent} delivered, ${h.refusals} refusal(s) resent (${h.refused_then_delivered} message(s) refused then delivered), 0 lost\n`);
  }
}

/** Four small line charts over time, stacked, as one self-contained SVG. */
function chart(samples: readonly Sample[]): string {
  const series: [string, (s: Sample) => number][] = [
    ["RSS (MiB)", (s) => s.rss_mb],
    ["event-loop delay (ms)", (s) => s.loop_lag_ms],
    ["delivered per sample", (s) => s.delivered],
    ["refused (retryable) per sample", (s) => s.refused],
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

if (process.argv[1] !== undefined && /nodes[\\/]fuzz[\\/]soak\.(ts|js)$/.test(process.argv[1])) {
  main().catch((error: unknown) => {
    process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}

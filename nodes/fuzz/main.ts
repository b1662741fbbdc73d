/**
 * `make fuzz` (and `npx tsx nodes/fuzz/main.ts`): the fuzz run at scale. FUZZ_FRAMES and
 * FUZZ_REQUESTS set its size (200,000 and 20,000 by default), FUZZ_SEED replays a run. Prints
 * the seed first, a progress line every 5 s, the report as JSON last; exits 1 on any crash,
 * 5xx, contract violation or an honest client not served.
 */
import { fuzzSeed, runFuzz, type FuzzReport } from "./run.js";

/** 200,000 frames end at about 1.5x the starting RSS (2 malloc arenas); 3.5x was glibc's default keeping freed memory. */
export const RSS_GROWTH_MAX = 2;

export function fuzzVerdict(report: FuzzReport): string[] {
  const problems: string[] = [];
  if (report.crashes > 0) problems.push(`${report.crashes} crash(es)`);
  if (report.status_5xx > 0) problems.push(`${report.status_5xx} 5xx answer(s)`);
  if (report.contract_violations > 0) problems.push(`${report.contract_violations} answer(s) outside the contract: ${report.violation_examples.join(" | ")}`);
  if (report.live.closed) problems.push("the honest client was disconnected");
  if (report.live.errors > 0) problems.push(`the honest client got ${report.live.errors} error frame(s)`);
  if (report.live.delivered < report.live.sent) problems.push(`the honest client got ${report.live.delivered} of ${report.live.sent} messages`);
  if (!report.healthy_after) problems.push("the node was not healthy afterwards");
  // Memory a run leaves behind: the node's RSS at the end within RSS_GROWTH_MAX of its start.
  if (report.rss_mb.start > 0 && report.rss_mb.end > RSS_GROWTH_MAX * report.rss_mb.start) {
    problems.push(`RSS grew from ${report.rss_mb.start} to ${report.rss_mb.end} MiB (more than ${RSS_GROWTH_MAX}x)`);
  }
  return problems;
}

async function main(): Promise<void> {
  const seed = fuzzSeed();
  const frames = Number(process.env.FUZZ_FRAMES ?? 200_000);
  const requests = Number(process.env.FUZZ_REQUESTS ?? 20_000);
  process.stdout.write(`fuzz seed=${seed} frames=${frames} requests=${requests} (replay: FUZZ_SEED=${seed} make fuzz)\n`);
  const report = await runFuzz({ seed, frames, requests, log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`${JSON.stringify(report)}\n`);
  const problems = fuzzVerdict(report);
  if (problems.length > 0) {
    process.stdout.write(`FAILED (seed ${seed}): ${problems.join("; ")}\n`);
    process.exit(1);
  }
  process.stdout.write(`ok: ${report.frames} frames, ${report.requests} requests, 0 crashes, 0 5xx, live p99 ${report.live.p99_ms} ms, RSS ${report.rss_mb.start} -> ${report.rss_mb.end} MiB, ${report.seconds} s\n`);
}

if (process.argv[1] !== undefined && /nodes[\\/]fuzz[\\/]main\.(ts|js)$/.test(process.argv[1])) {
  main().catch((error: unknown) => {
    process.stderr.write(`fuzz failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}

/**
 * The soak's verdict (judge) on made-up samples: a leak is judged from the second half only
 * when that half starts after the caches fill; any run fails on RSS tripling, a lost message,
 * a crash or an honest socket closed.
 */
import { describe, expect, it } from "vitest";
import { FILL_S, judge, type Sample } from "./soak.js";

const sample = (t_s: number, rss_mb: number): Sample => ({ t_s, rss_mb, loop_lag_ms: 1, sent: 10, delivered: 10, refused: 0, p50_ms: 1, p99_ms: 2, fuzz_frames: 0, outstanding: 0 });
const run = (seconds: number, rss: (t: number) => number): Sample[] => Array.from({ length: 40 }, (_, i) => sample(Math.round(((i + 1) * seconds) / 40), rss(((i + 1) * seconds) / 40)));
const honest = { sent: 10, attempts: 10, accepted: 10, delivered: 10, refusals: 0, refusals_by_code: {}, refused_messages: 0, refused_then_delivered: 0, unanswered_resends: 0, errors_by_code: {}, errors_other: 0, errors_other_by_code: {}, late_refusals: 0, duplicates: 0, closed: 0, lost: 0, lost_after_sent: 0, lost_refused: 0, lost_error: 0, lost_unanswered: 0 };
// The 1 h shape: filling to ~370 MiB by 25 min, flat after.
const filling = (t: number): number => Math.min(370, 170 + (200 * t) / FILL_S);

describe("soak verdict", () => {
  it("passes the hour's shape: caches filling in the first 25 minutes, flat after", () => {
    const v = judge(false, run(3_600, filling), honest);
    expect(v.rss_leak_judged).toBe(true);
    expect(v.problems).toEqual([]);
  });

  it("fails an hour whose second half keeps growing (a leak)", () => {
    const v = judge(false, run(3_600, (t) => 170 + t / 10), honest);
    expect(v.problems.join(" ")).toMatch(/second half/);
  });

  it("does not call the caches filling a leak in a 20-minute run, and says it did not judge it", () => {
    const v = judge(false, run(1_200, filling), honest);
    expect(v.rss_leak_judged).toBe(false);
    expect(v.problems).toEqual([]);
    expect(judge(false, run(1_200, (t) => 100 + t), honest).problems.join(" ")).toMatch(/tripled/);
  });

  it("fails on a crash, a lost message and an honest socket closed", () => {
    const v = judge(true, run(600, () => 200), { ...honest, delivered: 9, lost: 1, lost_after_sent: 1, closed: 1 });
    expect(v.problems).toHaveLength(3);
    expect(v.problems.join(" ")).toMatch(/1 after their `sent`/);
  });
});

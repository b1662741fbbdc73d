/**
 * Admission's backlog bound follows the drain rate: the exact backlog signal holds the queue
 * under the late lag signal. A queue model shows why: with a fixed bound above what the lag
 * bound allows, admission swings between everything and nothing; with the drain-rate bound
 * it settles.
 */
import { describe, expect, it } from "vitest";
import { BACKLOG_FLOOR, backlogBound, DrainMeter, LAG_SHARE } from "./admission.js";

describe("backlogBound", () => {
  it("is what the routers drain in LAG_SHARE of the lag bound, between the floor and the count bound", () => {
    expect(backlogBound(4_000, 250, 2_000)).toBe(4_000 * 0.25 * LAG_SHARE);
    expect(backlogBound(100_000, 250, 2_000)).toBe(2_000);
    expect(backlogBound(0, 250, 2_000)).toBe(BACKLOG_FLOOR);
    expect(backlogBound(4_000, 0, 2_000)).toBe(2_000);
    expect(backlogBound(4_000, 250, 0)).toBe(4_000 * 0.25 * LAG_SHARE);
    expect(backlogBound(4_000, 0, 0)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("DrainMeter", () => {
  it("turns records per period into a smoothed rate per second", () => {
    const m = new DrainMeter(100);
    m.add(400);
    m.sample();
    expect(m.per_s).toBe(4_000);
    m.add(100);
    m.sample();
    expect(m.per_s).toBeCloseTo(0.7 * 4_000 + 0.3 * 1_000);
  });
});

describe("admission under a steady overload (queue model)", () => {
  // Routers drain 100 records a tick; senders offer 200 a tick. The lag signal is the wait of
  // what the last poll found (last tick's queue / 100 ticks), one tick late; the backlog is
  // current. The lag bound is 2.5 ticks. A send is refused while either bound is reached.
  const run = (bound: (drained_per_tick: number) => number): { taken: number[]; queue: number[] } => {
    let queue = 0;
    let lag_seen = 0;
    const taken: number[] = [];
    const queues: number[] = [];
    for (let tick = 0; tick < 300; tick++) {
      let n = 0;
      for (let i = 0; i < 200; i++) {
        if (lag_seen >= 2.5 || queue + n >= bound(100)) continue;
        n++;
      }
      // The poll reports what waited in front of it: last tick's queue, in ticks of work.
      lag_seen = queue / 100;
      queue = Math.max(0, queue + n - 100);
      taken.push(n);
      queues.push(queue);
    }
    return { taken: taken.slice(100), queue: queues.slice(100) };
  };

  it("swings between all and nothing with a fixed bound above the lag bound, and settles with the drain-rate bound", () => {
    const fixed = run(() => 500);
    // A tick is a second here: 100 records/s drained, the lag bound 2,500 ms.
    const drained = run((per_s) => backlogBound(per_s, 2_500, 0));
    expect(Math.max(...fixed.taken) - Math.min(...fixed.taken)).toBe(200);
    // And what it takes waits past the lag bound (a queue of 400 is 4 ticks of work).
    expect(Math.max(...fixed.queue) / 100).toBeGreaterThan(2.5);
    // Settled: what the routers drain, every tick, and the queue under the lag bound.
    expect(new Set(drained.taken)).toEqual(new Set([100]));
    expect(drained.queue.every((q) => q > 0 && q / 100 < 2.5)).toBe(true);
  });
});

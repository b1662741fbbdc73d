/**
 * The production Timers: near timers keep their own setTimeout; far ones share 64 ms slots,
 * fire never before `at_ms` and at most one slot late, and a cancelled one never runs.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { COARSE_AFTER_MS, SLOT_MS, timersReal } from "./timers-real.js";

const clock = { now: (): number => Date.now() };

describe("timersReal", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_003);
  });
  afterEach(() => vi.useRealTimers());

  it("fires a far timer no earlier than asked and less than one slot late", () => {
    const timers = timersReal(clock);
    const fired: number[] = [];
    const at = Date.now() + COARSE_AFTER_MS + 5;
    timers.at(at, () => fired.push(Date.now()));
    vi.advanceTimersByTime(at - Date.now() - 1);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(SLOT_MS);
    expect(fired).toHaveLength(1);
    expect(fired[0]!).toBeGreaterThanOrEqual(at);
    expect(fired[0]! - at).toBeLessThan(SLOT_MS);
  });

  it("shares one Node timer among the far timers of one slot, in the order they were set", () => {
    const timers = timersReal(clock);
    const order: number[] = [];
    const slot_start = Math.ceil((Date.now() + 5_000) / SLOT_MS) * SLOT_MS - SLOT_MS + 1;
    for (let i = 0; i < 50; i++) timers.at(slot_start + (i % SLOT_MS), () => order.push(i));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(order).toEqual([...Array(50).keys()]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never runs a cancelled timer, far or near, and runs the others", () => {
    const timers = timersReal(clock);
    const ran: string[] = [];
    const far_a = timers.at(Date.now() + 3_000, () => ran.push("far a"));
    timers.at(Date.now() + 3_000, () => ran.push("far b"));
    const near = timers.at(Date.now() + 10, () => ran.push("near"));
    timers.at(Date.now() + 20, () => ran.push("near 2"));
    far_a.cancel();
    near.cancel();
    vi.advanceTimersByTime(5_000);
    expect(ran).toEqual(["near 2", "far b"]);
  });

  it("keeps near timers precise (their own setTimeout) and runs a timer already due at once", () => {
    const timers = timersReal(clock);
    const fired: number[] = [];
    const t0 = Date.now();
    timers.at(t0 + 7, () => fired.push(Date.now() - t0));
    timers.at(t0 - 50, () => fired.push(Date.now() - t0));
    vi.advanceTimersByTime(0);
    expect(fired).toEqual([0]);
    vi.advanceTimersByTime(7);
    expect(fired).toEqual([0, 7]);
  });
});

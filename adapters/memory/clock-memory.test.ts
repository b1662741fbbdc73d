import { describe, expect, it } from "vitest";
import { ClockManual, ClockSystem } from "./clock-memory.js";

describe("ClockSystem", () => {
  it("reads the wall clock", () => {
    const before = Date.now();
    const now = new ClockSystem().now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});

describe("ClockManual", () => {
  it("stands still until moved, advances forwards and can be set backwards", () => {
    const clock = new ClockManual(1_000);
    expect(clock.now()).toBe(1_000);
    expect(clock.now()).toBe(1_000);
    expect(clock.advance(250)).toBe(1_250);
    expect(clock.now()).toBe(1_250);
    clock.set(10);
    expect(clock.now()).toBe(10);
  });

  it("refuses to advance backwards or by a non-finite amount", () => {
    const clock = new ClockManual();
    expect(() => clock.advance(-1)).toThrow(/advance/);
    expect(() => clock.advance(Number.NaN)).toThrow(/advance/);
    expect(() => clock.set(Number.POSITIVE_INFINITY)).toThrow(/set/);
  });
});

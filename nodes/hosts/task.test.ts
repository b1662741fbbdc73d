/** The hosts' task helpers: deadlines, and what happens to a result that comes too late. */
import { expect, it } from "vitest";
import type { Clock } from "../../core/ports/clock.js";
import { within, type Task } from "./task.js";
import type { Timers } from "./timers.js";

/** A manual clock and timers: `advance` fires what is due. */
function manual() {
  let now = 0;
  const due: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const clock: Clock = { now: () => now };
  const timers: Timers = {
    at(at_ms, fn) {
      const t = { at: at_ms, fn, cancelled: false };
      due.push(t);
      return { cancel: () => void (t.cancelled = true) };
    },
  };
  const advance = (to: number): void => {
    now = to;
    for (const t of due.splice(0)) {
      if (t.cancelled) continue;
      if (t.at <= now) t.fn();
      else due.push(t);
    }
  };
  return { clock, timers, advance };
}

/** A task whose outcome the test decides. */
function pending<T>(): { task: Task<T>; resolve(v: T): void } {
  let settle: ((v: T) => void) | null = null;
  return { task: (ok) => void (settle = ok), resolve: (v) => settle?.(v) };
}

it("fails at the deadline, and hands a result that arrives later to `late`, not to the caller", () => {
  const m = manual();
  const p = pending<string>();
  const outcomes: string[] = [];
  const late: string[] = [];
  within(p.task, m.timers, m.clock, 100, (v) => late.push(v))(
    (v) => outcomes.push(`ok ${v}`),
    (why) => outcomes.push(`fail ${why}`),
  );
  m.advance(100);
  expect(outcomes).toEqual(["fail timeout"]);
  p.resolve("consumer");
  expect(outcomes).toEqual(["fail timeout"]);
  expect(late).toEqual(["consumer"]);
});

it("answers a result in time once, and never calls `late`", () => {
  const m = manual();
  const p = pending<string>();
  const outcomes: string[] = [];
  const late: string[] = [];
  within(p.task, m.timers, m.clock, 100, (v) => late.push(v))(
    (v) => outcomes.push(`ok ${v}`),
    (why) => outcomes.push(`fail ${why}`),
  );
  p.resolve("consumer");
  m.advance(200);
  expect(outcomes).toEqual(["ok consumer"]);
  expect(late).toEqual([]);
});

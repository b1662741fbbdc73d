/**
 * Clocks: `ClockSystem` reads the wall clock for real hosts; `ClockManual` is moved by hand
 * in tests and by the simulator, so that TTLs and timeouts can be crossed without waiting.
 *
 * Rules: `ClockManual` never moves by itself. `advance` only moves forwards (a bug otherwise);
 * `set` may move anywhere, backwards included, because the Clock port allows steps back and
 * tests must be able to make them.
 */
import type { Clock } from "../../core/ports/clock.js";
import { assert } from "../../core/result.js";

export class ClockSystem implements Clock {
  now(): number {
    return Date.now();
  }
}

export class ClockManual implements Clock {
  private now_ms: number;

  constructor(start_ms = 0) {
    assert(Number.isFinite(start_ms), `ClockManual: start_ms must be finite, got ${start_ms}`);
    this.now_ms = start_ms;
  }

  now(): number {
    return this.now_ms;
  }

  /** Moves the clock to `now_ms`, forwards or backwards. */
  set(now_ms: number): void {
    assert(Number.isFinite(now_ms), `ClockManual.set: now_ms must be finite, got ${now_ms}`);
    this.now_ms = now_ms;
  }

  /** Moves the clock forwards by `delta_ms` (>= 0) and answers the new time. */
  advance(delta_ms: number): number {
    assert(Number.isFinite(delta_ms) && delta_ms >= 0, `ClockManual.advance: delta_ms must be finite and >= 0, got ${delta_ms}`);
    this.now_ms += delta_ms;
    return this.now_ms;
  }
}

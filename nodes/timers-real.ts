/** The production `Timers` (core/ports/timers.ts): the wall clock's setTimeout, unref'd. */
import type { Clock } from "../core/ports/clock.js";
import type { Timers } from "../core/ports/timers.js";

export function timersReal(clock: Clock): Timers {
  return {
    at(at_ms, fn) {
      const handle = setTimeout(fn, Math.max(0, at_ms - clock.now()));
      handle.unref?.();
      return { cancel: () => clearTimeout(handle) };
    },
  };
}

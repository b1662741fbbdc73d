/**
 * Timers for hosts. Hosts never call setTimeout themselves: they take a `Timers` so that the
 * simulator can fire them in virtual time, and production passes `timersReal()`.
 *
 * Rules of every host in this folder (the simulator depends on them):
 * - Port calls are consumed with `.then(onOk, onErr)`, never `await`: the simulator's ports
 *   return synchronous promises whose callbacks run inside the simulator's event, and an
 *   `await` would defer them to a microtask outside virtual time.
 * - Time comes from the `Clock` port; waiting comes from `Timers`.
 */
import type { Clock } from "../../core/ports/clock.js";

export type TimerHandle = { cancel(): void };

export interface Timers {
  /** Calls `fn` once the host's clock reads at least `at_ms`. */
  at(at_ms: number, fn: () => void): TimerHandle;
}

export function timersReal(clock: Clock): Timers {
  return {
    at(at_ms, fn) {
      const handle = setTimeout(fn, Math.max(0, at_ms - clock.now()));
      handle.unref?.();
      return { cancel: () => clearTimeout(handle) };
    },
  };
}

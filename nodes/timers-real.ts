/**
 * The production `Timers` (core/ports/timers.ts): the wall clock's setTimeout, unref'd.
 *
 * Most timers a host sets are deadlines that almost never fire: every port call runs under
 * `within` (nodes/hosts/task.ts), which sets a timer for its call timeout (seconds) and
 * cancels it when the call answers, a few times per message; and every connection keeps a
 * gateway-core timer for its heartbeat. A Node `Timeout` per timer costs ~120 B of heap plus
 * a handle and its closure (bench/results/density.md: 169 B per idle connection) and a timer
 * list insertion and removal per port call. So a timer at least `COARSE_AFTER_MS` away joins
 * a shared slot instead: slots are `SLOT_MS` wide, one Node timer per slot that has live
 * entries, and an entry is one small object whose `cancel` drops its callback. Such a timer
 * fires up to `SLOT_MS` late, never early (the port promises "at least `at_ms`"); nearer
 * timers (poll waits, retries, "now") keep their own setTimeout and its precision.
 */
import type { Clock } from "../core/ports/clock.js";
import type { TimerHandle, Timers } from "../core/ports/timers.js";

/** Timers due at least this far ahead share slots. */
export const COARSE_AFTER_MS = 1_000;
/** Width of a shared slot: how late a coarse timer may fire. */
export const SLOT_MS = 64;

class Entry implements TimerHandle {
  constructor(public fn: (() => void) | null) {}
  cancel(): void {
    this.fn = null;
  }
}

export function timersReal(clock: Clock): Timers {
  /** Slot end (ms) -> its entries, in the order they were set. */
  const slots = new Map<number, Entry[]>();
  const fire = (slot: number): void => {
    const entries = slots.get(slot);
    slots.delete(slot);
    if (entries === undefined) return;
    for (const entry of entries) {
      const fn = entry.fn;
      if (fn === null) continue;
      entry.fn = null;
      fn();
    }
  };
  return {
    at(at_ms, fn) {
      const delay = at_ms - clock.now();
      if (delay < COARSE_AFTER_MS) {
        const handle = setTimeout(fn, Math.max(0, delay));
        handle.unref();
        return { cancel: () => clearTimeout(handle) };
      }
      const slot = Math.ceil(at_ms / SLOT_MS) * SLOT_MS;
      const entry = new Entry(fn);
      const entries = slots.get(slot);
      if (entries !== undefined) {
        entries.push(entry);
      } else {
        slots.set(slot, [entry]);
        setTimeout(fire, Math.max(0, slot - clock.now()), slot).unref();
      }
      return entry;
    },
  };
}

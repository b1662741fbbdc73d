/**
 * Timers: the only way a host waits. Beside Clock (clock.ts), because the two are one
 * capability in two halves: the simulator fires timers in virtual time by its own clock,
 * production (nodes/timers-real.ts) by the wall clock. Cores never wait: a timer is an
 * effect, its firing an input.
 */
export type TimerHandle = { cancel(): void };

export interface Timers {
  /** Calls `fn` once the host's clock reads at least `at_ms`. */
  at(at_ms: number, fn: () => void): TimerHandle;
}

/**
 * Timers for hosts. Hosts never call setTimeout themselves: they take a `Timers` (a port, in
 * core/ports/timers.ts) so that the simulator can fire them in virtual time, and production
 * passes `timersReal()` (nodes/timers-real.ts).
 *
 * Rules of every host in this folder (the simulator depends on them, and core/purity.test.ts
 * checks the ones a parser can see):
 * - Port calls are consumed with `.then(onOk, onErr)`, never `await`: the simulator's ports
 *   return synchronous promises whose callbacks run inside the simulator's event, and an
 *   `await` would defer them to a microtask outside virtual time.
 * - Time comes from the `Clock` port; waiting comes from `Timers`; no IO, no randomness, and
 *   no import from outside core/ and this folder.
 */
export type { TimerHandle, Timers } from "../../core/ports/timers.js";

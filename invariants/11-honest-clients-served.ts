/**
 * Invariant 11, honest clients are served: a client that keeps within the contract's frame
 * allowance (API.md: a burst of 500 and 50 frames per second, `ack` frames free) by its own
 * clock is never refused `RATE_LIMITED` for it. Issue 14: the production cluster refused
 * such clients because the gateway judged the allowance by when it read their frames.
 *
 * Decisions where INVARIANTS.md is silent:
 * - Whether a connection kept within the allowance is the recorder's judgement
 *   (`within_contract`), made as the client sent, frame by frame, on the true clock; once a
 *   connection sent one frame past it, refusals on that connection are fair and not judged.
 * - A history without `limit_refusals` has nothing to judge (real-cluster runs that do not
 *   record them pass vacuously).
 */
import type { History, Violation } from "./history.js";
import type { Derived } from "./internal/derive.js";
import { dev } from "./internal/describe.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 11;
export const NAME = "honest-clients-served";

export function checkHonestClientsServed(history: History, _derived?: Derived, report = new Report(INVARIANT, NAME)): Violation[] {
  void _derived;
  // Every connection of a history that records refusals is judged: it was refused only if it
  // strayed past the allowance.
  if (history.limit_refusals !== undefined) report.judge("connections", history.connections?.length ?? 0);
  for (const r of history.limit_refusals ?? []) {
    if (!r.within_contract) continue;
    report.add(`${dev(r.device)} was refused RATE_LIMITED at ${r.at} ms on connection ${r.connection}, though every frame it had sent on it kept within the contract's allowance.`);
  }
  return report.violations();
}

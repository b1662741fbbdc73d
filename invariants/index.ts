/**
 * The checkers of INVARIANTS.md, one per invariant, each a pure function from a History
 * (history.ts) to the violations it finds, capped per checker with a closing "... and N
 * more". A simulated run, a chaos run and an end-to-end test all hand their history to
 * `checkAll`.
 *
 * Rules of this folder: checkers read only the history (no clock, no randomness, no IO, no
 * imports from core/, adapters/, sim/ or nodes/); they never throw on a well-typed history,
 * however wrong; they run in time linear in the history plus what it requires to be
 * delivered (maps and sets, no loop over all events per event). Facts shared by several
 * checkers (internal/derive.ts) are derived once by `checkAll` and passed to each.
 */
import type { History, Violation } from "./history.js";
import { derive, type Derived } from "./internal/derive.js";
import { Report, type Judged } from "./internal/report.js";
import * as zeroLoss from "./01-zero-loss.js";
import * as noPhantoms from "./02-no-phantoms.js";
import * as oneOrder from "./03-one-order.js";
import * as senderFifo from "./04-sender-fifo.js";
import * as exactlyOnce from "./05-exactly-once.js";
import * as receiptsForward from "./06-receipts-forward.js";
import * as pendingDrains from "./07-pending-drains.js";
import * as presenceConverges from "./08-presence-converges.js";
import * as noLeaks from "./09-no-leaks.js";
import * as liveness from "./10-liveness.js";
import * as honestClientsServed from "./11-honest-clients-served.js";

export type { History, Violation } from "./history.js";
export { VIOLATIONS_PER_CHECKER_MAX, type Judged } from "./internal/report.js";
export { derive, type Derived } from "./internal/derive.js";
export { checkZeroLoss } from "./01-zero-loss.js";
export { checkNoPhantoms } from "./02-no-phantoms.js";
export { checkOneOrder } from "./03-one-order.js";
export { checkSenderFifo } from "./04-sender-fifo.js";
export { checkExactlyOnce } from "./05-exactly-once.js";
export { checkReceiptsForward } from "./06-receipts-forward.js";
export { checkPendingDrains } from "./07-pending-drains.js";
export { checkPresenceConverges } from "./08-presence-converges.js";
export { checkNoLeaks } from "./09-no-leaks.js";
export { checkLiveness } from "./10-liveness.js";
export { checkHonestClientsServed } from "./11-honest-clients-served.js";

export type Checker = {
  /** The invariant's number in INVARIANTS.md. */
  readonly invariant: number;
  readonly name: string;
  /**
   * Pure; `derived` (from `derive(history)`) is computed when omitted. `report`, when given,
   * collects the violations and counts what the checker judged (see `judgeAll`).
   */
  readonly check: (history: History, derived?: Derived, report?: Report) => Violation[];
};

/** Every checker, in invariant order. */
export const CHECKERS: readonly Checker[] = [
  { invariant: zeroLoss.INVARIANT, name: zeroLoss.NAME, check: zeroLoss.checkZeroLoss },
  { invariant: noPhantoms.INVARIANT, name: noPhantoms.NAME, check: noPhantoms.checkNoPhantoms },
  { invariant: oneOrder.INVARIANT, name: oneOrder.NAME, check: oneOrder.checkOneOrder },
  { invariant: senderFifo.INVARIANT, name: senderFifo.NAME, check: senderFifo.checkSenderFifo },
  { invariant: exactlyOnce.INVARIANT, name: exactlyOnce.NAME, check: exactlyOnce.checkExactlyOnce },
  { invariant: receiptsForward.INVARIANT, name: receiptsForward.NAME, check: receiptsForward.checkReceiptsForward },
  { invariant: pendingDrains.INVARIANT, name: pendingDrains.NAME, check: pendingDrains.checkPendingDrains },
  { invariant: presenceConverges.INVARIANT, name: presenceConverges.NAME, check: presenceConverges.checkPresenceConverges },
  { invariant: noLeaks.INVARIANT, name: noLeaks.NAME, check: noLeaks.checkNoLeaks },
  { invariant: liveness.INVARIANT, name: liveness.NAME, check: liveness.checkLiveness },
  { invariant: honestClientsServed.INVARIANT, name: honestClientsServed.NAME, check: honestClientsServed.checkHonestClientsServed },
];

/** Every checker's violations, in invariant order; empty when the history satisfies all of them. */
export function checkAll(history: History): Violation[] {
  return judgeAll(history).violations;
}

/** One checker's verdict: its violations and what it judged, by kind. */
export type Verdict = { readonly invariant: number; readonly name: string; readonly judged: Judged; readonly violations: readonly Violation[] };

/**
 * Every checker's verdict, in invariant order, and all violations. A checker whose `judged`
 * counts are all zero passed vacuously: the history gave it nothing to hold against its rule
 * (a run without receipts, without pending entries read back, without presence watches...).
 */
export function judgeAll(history: History): { readonly violations: Violation[]; readonly verdicts: readonly Verdict[] } {
  const derived = derive(history);
  const verdicts = CHECKERS.map((checker) => {
    const report = new Report(checker.invariant, checker.name);
    const violations = checker.check(history, derived, report);
    return { invariant: checker.invariant, name: checker.name, judged: report.judged(), violations };
  });
  return { violations: verdicts.flatMap((v) => v.violations), verdicts };
}

/** How many items a verdict judged, all kinds together. */
export function judgedTotal(verdict: Verdict): number {
  return Object.values(verdict.judged).reduce((a, b) => a + b, 0);
}

/** One line per checker: "  7 pending-drains      ok   judged 412: pending entries 37, ...". */
export function formatVerdicts(verdicts: readonly Verdict[]): string[] {
  return verdicts.map((v) => {
    const kinds = Object.entries(v.judged).map(([kind, n]) => `${kind} ${n}`);
    const status = v.violations.length === 0 ? "ok" : `${v.violations.length} violation${v.violations.length === 1 ? "" : "s"}`;
    const total = judgedTotal(v);
    return `${String(v.invariant).padStart(3)} ${v.name.padEnd(19)} ${status.padEnd(13)} judged ${total}${total === 0 ? " (NOTHING: passed vacuously)" : `: ${kinds.join(", ")}`}`;
  });
}

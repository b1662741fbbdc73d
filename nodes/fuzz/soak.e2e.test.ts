/**
 * The soak's honest load against a node forced to refuse: a tiny admission limit
 * (SEND_LAG_MAX_MS=1 refuses new sends whenever a router's last poll found a send that had
 * waited 1 ms or more, which is nearly always while traffic flows) makes the node answer a
 * good share of sends with the retryable OVERLOADED whatever the machine's load. The harness
 * must send those again with backoff, count them, and still see every message delivered;
 * and when it does not resend (the harness before 35c0039), its verdict must name those
 * messages "refused and never accepted", not lost after `sent`.
 */
import { describe, expect, it } from "vitest";
import { runSoak, type SoakOptions } from "./soak.js";

const forced: Omit<SoakOptions, "backoff" | "drain_s"> = {
  seconds: 8,
  sample_s: 2,
  pairs: 5,
  rate: 50,
  seed: 1,
  fuzz_per_second: 0,
  node_env: { SEND_LAG_MAX_MS: "1" },
};

describe("soak harness: refused sends are resent as the contract asks, and counted apart from lost ones", () => {
  it("under a tiny admission limit every message is delivered, and the refused-then-delivered ones are counted", async () => {
    const { verdict } = await runSoak({ ...forced, drain_s: 60 });
    const h = verdict.honest;
    expect(verdict.crashed).toBe(false);
    expect(h.refusals_by_code.OVERLOADED ?? 0, "the forced limit refused nothing: the resend path did not run").toBeGreaterThan(10);
    expect(h.refused_then_delivered).toBeGreaterThan(0);
    expect(h.refused_then_delivered).toBe(h.refused_messages);
    // Every refusal cost one more frame: attempts = first sends + resends.
    expect(h.attempts).toBe(h.sent + h.refusals + h.unanswered_resends);
    expect(h.delivered).toBe(h.sent);
    expect(h.lost).toBe(0);
    expect(verdict.problems).toEqual([]);
  }, 120_000);

  it("without resends (the old harness) the same refusals show as lost, and the verdict says they were never accepted", async () => {
    // A pause longer than the run: refused sends are never sent again.
    const never = { refused_base_ms: 600_000, refused_max_ms: 600_000, unanswered_ms: 600_000, unanswered_max_ms: 600_000 };
    const { verdict } = await runSoak({ ...forced, backoff: never, drain_s: 3 });
    const h = verdict.honest;
    expect(h.refusals).toBeGreaterThan(10);
    expect(h.lost).toBe(h.refused_messages);
    expect(h.lost_refused).toBe(h.lost);
    expect(h.lost_after_sent).toBe(0);
    expect(h.lost_unanswered).toBe(0);
    expect(h.lost_error).toBe(0);
    expect(verdict.problems.join(" ")).toMatch(/refused and never accepted/);
  }, 120_000);
});

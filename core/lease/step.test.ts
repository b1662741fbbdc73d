/** The lease core, case by case: what it asks the store for, and when it lets an issuer issue. */
import { describe, expect, it } from "vitest";
import { leaseConfigProblem, leaseInit, leaseMachine, leaseMarginMin, leaseStep, type LeaseConfig } from "./index.js";

const config: LeaseConfig = { ttl_ms: 10_000, renew_every_ms: 3_000, margin_ms: 500, retry_ms: 200 };

describe("lease core", () => {
  it("issues nothing before the store answers, and holds until sent + ttl - margin", () => {
    const s = leaseInit(config);
    expect(leaseStep(s, { type: "started", now_ms: 1_000 })).toEqual([{ type: "acquire", ttl_ms: 10_000 }]);
    expect(leaseMachine(s, 1_001)).toBeNull();
    const effects = leaseStep(s, { type: "acquired", machine: 7, now_ms: 1_050 });
    expect(effects).toEqual([{ type: "gained", machine: 7 }, { type: "set_timer", at_ms: 4_000 }]);
    expect(leaseMachine(s, 1_050)).toBe(7);
    // Counted from the send (1,000), not from the reply (1,050).
    expect(leaseMachine(s, 10_499)).toBe(7);
    expect(leaseMachine(s, 10_500)).toBeNull();
  });

  it("renews on time, extends from the renewal's send, and lapses when renewals fail", () => {
    const s = leaseInit(config);
    leaseStep(s, { type: "started", now_ms: 0 });
    leaseStep(s, { type: "acquired", machine: 3, now_ms: 10 });
    expect(leaseStep(s, { type: "timer_fired", now_ms: 3_000 })).toEqual([{ type: "renew", machine: 3, ttl_ms: 10_000 }, { type: "set_timer", at_ms: 9_500 }]);
    leaseStep(s, { type: "renewed", now_ms: 3_020 });
    expect(leaseMachine(s, 12_499)).toBe(3);
    // The store goes away: renewals fail and are retried, and the lease lapses on time.
    expect(leaseStep(s, { type: "timer_fired", now_ms: 6_000 })[0]).toEqual({ type: "renew", machine: 3, ttl_ms: 10_000 });
    leaseStep(s, { type: "call_failed", reason: "down", now_ms: 6_400 });
    let now = 6_400;
    const lost: unknown[] = [];
    while (now < 13_000) {
      now += 100;
      for (const e of leaseStep(s, { type: "timer_fired", now_ms: now })) {
        if (e.type === "lost") lost.push(e);
        if (e.type === "renew") leaseStep(s, { type: "call_failed", reason: "down", now_ms: now });
      }
    }
    expect(lost).toEqual([{ type: "lost", machine: 3, reason: "the lease lapsed before a renewal got through" }]);
    expect(leaseMachine(s, 12_500)).toBeNull();
  });

  it("a renewal refused by the store ends the lease at once and starts a new acquire", () => {
    const s = leaseInit(config);
    leaseStep(s, { type: "started", now_ms: 0 });
    leaseStep(s, { type: "acquired", machine: 1, now_ms: 1 });
    leaseStep(s, { type: "timer_fired", now_ms: 3_000 });
    const effects = leaseStep(s, { type: "renew_refused", now_ms: 3_001 });
    expect(effects.slice(0, 2)).toEqual([{ type: "lost", machine: 1, reason: "the store no longer holds the lease under our token" }, { type: "acquire", ttl_ms: 10_000 }]);
    expect(leaseMachine(s, 3_001)).toBeNull();
  });

  it("waits as long as the store says when no number is free (never less than retry_ms)", () => {
    const s = leaseInit(config);
    leaseStep(s, { type: "started", now_ms: 0 });
    expect(leaseStep(s, { type: "acquire_refused", wait_ms: 4_321, now_ms: 5 })).toEqual([{ type: "set_timer", at_ms: 4_326 }]);
    expect(leaseStep(s, { type: "timer_fired", now_ms: 4_000 })).toEqual([{ type: "set_timer", at_ms: 4_326 }]);
    expect(leaseStep(s, { type: "timer_fired", now_ms: 4_326 })).toEqual([{ type: "acquire", ttl_ms: 10_000 }]);
    leaseStep(s, { type: "acquire_refused", wait_ms: 0, now_ms: 4_330 });
    expect(s.retry_at_ms).toBe(4_530);
  });

  it("a timer that fires early is asked for again, so renewals never stall", () => {
    const s = leaseInit(config);
    leaseStep(s, { type: "started", now_ms: 0 });
    expect(leaseStep(s, { type: "acquired", machine: 5, now_ms: 10 })).toContainEqual({ type: "set_timer", at_ms: 3_000 });
    expect(leaseStep(s, { type: "timer_fired", now_ms: 2_999 })).toEqual([{ type: "set_timer", at_ms: 3_000 }]);
    expect(leaseStep(s, { type: "timer_fired", now_ms: 3_000 })[0]).toEqual({ type: "renew", machine: 5, ttl_ms: 10_000 });
  });

  it("a clock that steps back does not stretch the lease", () => {
    const s = leaseInit(config);
    leaseStep(s, { type: "started", now_ms: 0 });
    leaseStep(s, { type: "acquired", machine: 2, now_ms: 9_600 });
    leaseStep(s, { type: "timer_fired", now_ms: 9_600 });
    expect(leaseMachine(s, 100)).toBeNull();
  });

  it("stopping withdraws the lease and releases the number (after the call in flight, if any)", () => {
    const s = leaseInit(config);
    leaseStep(s, { type: "started", now_ms: 0 });
    leaseStep(s, { type: "acquired", machine: 4, now_ms: 1 });
    expect(leaseStep(s, { type: "stop_requested", now_ms: 2 })).toEqual([{ type: "lost", machine: 4, reason: "stopping" }, { type: "release", machine: 4 }]);
    expect(leaseMachine(s, 3)).toBeNull();
    const t = leaseInit(config);
    leaseStep(t, { type: "started", now_ms: 0 });
    expect(leaseStep(t, { type: "stop_requested", now_ms: 1 })).toEqual([]);
    expect(leaseStep(t, { type: "acquired", machine: 9, now_ms: 2 })).toEqual([{ type: "release", machine: 9 }]);
    expect(leaseMachine(t, 3)).toBeNull();
  });

  it("validates its configuration with messages that name the field", () => {
    expect(leaseConfigProblem({ ...config, renew_every_ms: 9_600 })).toMatch(/renew_every_ms \(9600\) \+ margin_ms \(500\) must be below ttl_ms/);
    expect(leaseConfigProblem({ ...config, ttl_ms: 50 })).toMatch(/ttl_ms must be an integer >= 100/);
    expect(leaseMarginMin(10_000, 0.001)).toBe(21);
  });
});

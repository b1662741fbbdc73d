/**
 * The simulated log's consumer-group membership when a host retries a join under the same
 * member ID (nodes/hosts/router-host.ts start(): a join that timed out is retried, and the
 * consumer its late answer brings is closed). Sim seed 774 with an input queue in the router
 * host: both routers' late consumers were closed, each close removed the live membership of
 * the same ID, and every partition went unfetched for the rest of the run.
 */
import { describe, expect, it } from "vitest";
import { LogState } from "./log-sim.js";

describe("LogState membership", () => {
  it("ends only the closing consumer's own membership; a session timeout ends whichever is there", () => {
    const log = new LogState(2);
    const late = log.join("g", "rt-0", 0, 0);
    const live = log.join("g", "rt-0", 10, 0); // the retry, while the first answer is still on its way
    expect(live).not.toBe(late);
    log.leave("g", "rt-0", 20, late); // the late consumer is released
    expect(log.groups.get("g")!.members.get("rt-0")?.assigned).toEqual([0, 1]);
    log.leave("g", "rt-0", 30); // the broker's session timeout for the member
    expect(log.groups.get("g")!.members.has("rt-0")).toBe(false);
  });
});

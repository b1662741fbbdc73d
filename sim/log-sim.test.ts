/** The simulated log's consumer groups: what the router host relies on when it retries a join. */
import { describe, expect, it } from "vitest";
import { LogState } from "./log-sim.js";

describe("the simulated log's consumer group", () => {
  it("closing the consumer of a join that answered too late does not remove the retried join's member", () => {
    // The router host retries a join under the same member ID and closes the consumer of the
    // first join when its answer comes late; that close must not evict the live member (seed
    // 288 of the swarm: the router kept polling with no partitions, the log unread).
    const log = new LogState(4);
    const late = log.join("routers", "rt-0-3", 0, 0);
    const live = log.join("routers", "rt-0-3", 1_000, 0);
    log.leave("routers", "rt-0-3", 2_000, late);
    expect(log.groups.get("routers")!.members.has("rt-0-3")).toBe(true);
    expect(log.poll("routers", "rt-0-3", 10, 2_000)).not.toBeNull();
    log.leave("routers", "rt-0-3", 3_000, live);
    expect(log.groups.get("routers")!.members.has("rt-0-3")).toBe(false);
  });

  it("a leave without a join number (a session timeout) removes the member", () => {
    const log = new LogState(2);
    log.join("routers", "rt-1-1", 0, 0);
    log.leave("routers", "rt-1-1", 3_000);
    expect(log.groups.get("routers")!.members.size).toBe(0);
  });
});

/**
 * PresenceMemory: the Presence contract on a manual clock and scheduler (time crosses TTLs
 * without waiting), then what is particular to this host: its wake-ups, a real-time
 * scheduler, clocks that step back, listeners that call back in or throw, and close.
 */
import { describe, expect, it } from "vitest";
import type { PresenceChange } from "../../core/ports/presence.js";
import { describePresenceContract } from "../contract/presence.contract.js";
import { ClockManual, ClockSystem } from "./clock-memory.js";
import { PresenceMemory, type PresenceScheduler } from "./presence-memory.js";

/** A scheduler driven by hand: `advance` moves the clock, firing due wake-ups at their times. */
function manualTime(start_ms = 1_000_000): {
  clock: ClockManual;
  schedule: PresenceScheduler;
  advance(ms: number): Promise<void>;
  pending(): number;
} {
  const clock = new ClockManual(start_ms);
  let wake_ups: Array<{ at_ms: number; fire: () => void }> = [];
  const schedule: PresenceScheduler = (at_ms, fire) => {
    const wake_up = { at_ms, fire };
    wake_ups.push(wake_up);
    return () => {
      wake_ups = wake_ups.filter((w) => w !== wake_up);
    };
  };
  const advance = async (ms: number): Promise<void> => {
    const target_ms = clock.now() + ms;
    for (;;) {
      const due = wake_ups.filter((w) => w.at_ms <= target_ms).sort((a, b) => a.at_ms - b.at_ms)[0];
      if (due === undefined) break;
      wake_ups = wake_ups.filter((w) => w !== due);
      clock.set(Math.max(clock.now(), due.at_ms));
      due.fire();
    }
    clock.set(target_ms);
  };
  return { clock, schedule, advance, pending: () => wake_ups.length };
}

describePresenceContract("PresenceMemory", () => {
  const time = manualTime();
  const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
  return { presence, advance: time.advance, cleanup: () => presence.close() };
});

function heard(): { changes: PresenceChange[]; listener: (change: PresenceChange) => void } {
  const changes: PresenceChange[] = [];
  return { changes, listener: (change) => void changes.push(change) };
}

describe("PresenceMemory", () => {
  it("keeps one wake-up, at the earliest lapse, and none once nothing can lapse", async () => {
    const time = manualTime(0);
    const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
    await presence.heartbeat("alice", "c1", 100);
    await presence.heartbeat("bob", "c2", 50);
    expect(time.pending()).toBe(1);
    await time.advance(60);
    expect((await presence.status(["bob"])).get("bob")).toEqual({ status: "offline", last_seen_ms: 0 });
    expect(time.pending()).toBe(1);
    await time.advance(60);
    expect(time.pending()).toBe(0);
    await presence.close();
  });

  it("reports last_seen as the latest heartbeat after a lapse, and as the disconnect time after a disconnect", async () => {
    const time = manualTime(0);
    const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
    const listen = heard();
    await presence.subscribe("alice", listen.listener);
    await presence.heartbeat("alice", "c1", 100);
    await time.advance(40);
    await presence.heartbeat("alice", "c1", 100);
    await time.advance(200);
    expect(listen.changes).toEqual([
      { user_id: "alice", status: "online", last_seen_ms: null },
      { user_id: "alice", status: "offline", last_seen_ms: 40 },
    ]);
    await presence.heartbeat("alice", "c2", 100);
    await time.advance(10);
    await presence.disconnect("alice", "c2");
    expect((await presence.status(["alice"])).get("alice")).toEqual({ status: "offline", last_seen_ms: 250 });
    await presence.close();
  });

  it("does not pass on the status at subscribe time: the port promises transitions only", async () => {
    const time = manualTime(0);
    const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
    await presence.heartbeat("alice", "c1", 100);
    const listen = heard();
    await presence.subscribe("alice", listen.listener);
    expect(listen.changes).toEqual([]);
    await presence.close();
  });

  it("never revives a lapsed connection when the clock steps back", async () => {
    const time = manualTime(10_000);
    const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
    await presence.heartbeat("alice", "c1", 100);
    await time.advance(150);
    time.clock.set(9_000);
    expect((await presence.status(["alice"])).get("alice")?.status).toBe("offline");
    await presence.close();
  });

  it("wakes itself with the default scheduler on real time", async () => {
    const presence = new PresenceMemory({ clock: new ClockSystem() });
    const listen = heard();
    await presence.subscribe("alice", listen.listener);
    await presence.heartbeat("alice", "c1", 20);
    const deadline_ms = Date.now() + 2_000;
    while (listen.changes.length < 2 && Date.now() < deadline_ms) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(listen.changes.map((change) => change.status)).toEqual(["online", "offline"]);
    await presence.close();
  });

  it("delivers notices in order when a listener calls back in, and keeps the newest wake-up", async () => {
    const time = manualTime(0);
    const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
    const order: string[] = [];
    await presence.subscribe("alice", (change) => {
      order.push(`alice:${change.status}`);
      if (change.status === "online") void presence.heartbeat("bob", "c2", 10);
    });
    await presence.subscribe("alice", (change) => order.push(`alice(2):${change.status}`));
    await presence.subscribe("bob", (change) => order.push(`bob:${change.status}`));
    await presence.heartbeat("alice", "c1", 100);
    expect(order).toEqual(["alice:online", "alice(2):online", "bob:online"]);
    expect(time.pending()).toBe(1);
    await time.advance(10);
    expect(order.at(-1)).toBe("bob:offline");
    await presence.close();
  });

  it("still calls every listener when one throws, and hands the error to the caller", async () => {
    const time = manualTime(0);
    const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
    const listen = heard();
    await presence.subscribe("alice", () => {
      throw new Error("listener bug");
    });
    await presence.subscribe("alice", listen.listener);
    await expect(presence.heartbeat("alice", "c1", 100)).rejects.toThrow("listener bug");
    expect(listen.changes).toHaveLength(1);
    await presence.close();
  });

  it("cancels its wake-up on close and refuses calls after it", async () => {
    const time = manualTime(0);
    const presence = new PresenceMemory({ clock: time.clock, schedule: time.schedule });
    const stop = await presence.subscribe("alice", () => undefined);
    await presence.heartbeat("alice", "c1", 100);
    await presence.close();
    expect(time.pending()).toBe(0);
    await expect(presence.heartbeat("alice", "c1", 100)).rejects.toThrow(/after close/);
    await expect(presence.status(["alice"])).rejects.toThrow(/after close/);
    await stop();
  });
});

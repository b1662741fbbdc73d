import { describe, expect, it } from "vitest";
import { describePushContract } from "../contract/push.contract.js";
import { PushMemory } from "./push-memory.js";
import type { PushNotification, PushTarget } from "../../core/model.js";

describePushContract("PushMemory", async () => {
  const push = new PushMemory();
  const accepting_target: PushTarget = { platform: "webhook", token: "https://example.invalid/hook" };
  const rejecting_target: PushTarget = { platform: "fcm", token: "refused" };
  push.failFor(rejecting_target);
  return {
    push,
    accepting_target,
    rejecting_target,
    received: async (target: PushTarget) =>
      push
        .recorded()
        .filter((r) => r.target.platform === target.platform && r.target.token === target.token)
        .map((r) => r.notification),
    cleanup: async () => undefined,
  };
});

const notification = (n: number): PushNotification => ({
  user_id: "u",
  conversation_id: "d.u.v",
  message_id: String(n).padStart(19, "0"),
  from: "v",
  group_id: null,
  preview: null,
});

describe("PushMemory", () => {
  it("records accepted notifications in order, and not refused ones", async () => {
    const push = new PushMemory();
    const good: PushTarget = { platform: "webpush", token: "t1" };
    const bad: PushTarget = { platform: "webpush", token: "t2" };
    push.failFor(bad);
    await push.notify(good, notification(1));
    await expect(push.notify(bad, notification(2))).rejects.toThrow(/set to fail/);
    push.succeedFor(bad);
    await push.notify(bad, notification(3));
    expect(push.recorded().map((r) => [r.target.token, r.notification.message_id])).toEqual([
      ["t1", notification(1).message_id],
      ["t2", notification(3).message_id],
    ]);
    push.clear();
    expect(push.recorded()).toEqual([]);
  });

  it("keeps at most recorded_max notifications, dropping the oldest", async () => {
    const push = new PushMemory({ recorded_max: 2 });
    const target: PushTarget = { platform: "apns", token: "t" };
    for (let i = 1; i <= 3; i++) await push.notify(target, notification(i));
    expect(push.recorded().map((r) => r.notification.message_id)).toEqual([notification(2).message_id, notification(3).message_id]);
  });
});

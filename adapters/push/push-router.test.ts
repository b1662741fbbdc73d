import { describe, expect, it } from "vitest";
import type { PushNotification, PushTarget } from "../../core/model.js";
import { describePushContract } from "../contract/push.contract.js";
import { PushMemory } from "../memory/push-memory.js";
import { PushError, PushTargetGone } from "./errors.js";
import { PushByPlatform } from "./push-router.js";

const notification: PushNotification = {
  user_id: "usr_a",
  conversation_id: "d.usr_a.usr_b",
  message_id: "0000060000000004096",
  from: "usr_b",
  group_id: null,
  preview: null,
};

describePushContract("PushByPlatform", async () => {
  const webhook = new PushMemory();
  const push = new PushByPlatform({ webhook, webpush: new PushMemory() });
  const accepting_target: PushTarget = { platform: "webhook", token: "https://example.invalid/hook" };
  return {
    push,
    accepting_target,
    // No apns provider is configured, so the router itself refuses.
    rejecting_target: { platform: "apns", token: "device-token" },
    received: async (target) => webhook.recorded().filter((r) => r.target.token === target.token).map((r) => r.notification),
    cleanup: async () => undefined,
  };
});

describe("PushByPlatform", () => {
  it("hands each target to the provider of its platform", async () => {
    const webhook = new PushMemory();
    const webpush = new PushMemory();
    const push = new PushByPlatform({ webhook, webpush });
    await push.notify({ platform: "webpush", token: "w" }, notification);
    await push.notify({ platform: "webhook", token: "h" }, notification);
    expect(webpush.recorded().map((r) => r.target.token)).toEqual(["w"]);
    expect(webhook.recorded().map((r) => r.target.token)).toEqual(["h"]);
    expect(push.platforms().sort()).toEqual(["webhook", "webpush"]);
  });

  it("names the platform that has no provider", async () => {
    const push = new PushByPlatform({ webhook: new PushMemory() });
    for (const platform of ["apns", "fcm", "webpush"] as const) {
      const failure = await push.notify({ platform, token: "t" }, notification).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(PushError);
      expect(failure).toMatchObject({ code: "PUSH_NO_PROVIDER", message: `PushByPlatform.notify: no provider configured for ${platform}` });
    }
    // A platform name from a prototype is not a provider.
    await expect(push.notify({ platform: "toString" as PushTarget["platform"], token: "t" }, notification)).rejects.toMatchObject({ code: "PUSH_NO_PROVIDER" });
  });

  it("passes a provider's verdict through unchanged", async () => {
    const gone = new PushTargetGone("gone for good", { status: 410, attempts: 1 });
    const push = new PushByPlatform({ webpush: { notify: () => Promise.reject(gone) } });
    await expect(push.notify({ platform: "webpush", token: "t" }, notification)).rejects.toBe(gone);
  });

  it("unregisters a target its provider says is gone or invalid, and only such a one", async () => {
    const removed: string[] = [];
    const verdicts: Record<string, Error | null> = {
      gone: new PushTargetGone("410", { status: 410 }),
      invalid: new PushError("PUSH_TARGET_INVALID", "bad token"),
      busy: new PushError("PUSH_UNAVAILABLE", "503"),
      fine: null,
    };
    const fcm = { notify: (target: PushTarget) => (verdicts[target.token] === null ? Promise.resolve() : Promise.reject(verdicts[target.token])) };
    const push = new PushByPlatform({ fcm }, { unregister: async (user_id, target) => void removed.push(`${user_id}/${target.token}`) });
    for (const token of Object.keys(verdicts)) await push.notify({ platform: "fcm", token }, notification).catch(() => undefined);
    expect(removed).toEqual(["usr_a/gone", "usr_a/invalid"]);
    // A failing unregister does not hide the provider's verdict.
    const failing = new PushByPlatform({ fcm }, { unregister: () => Promise.reject(new Error("db down")) });
    await expect(failing.notify({ platform: "fcm", token: "gone" }, notification)).rejects.toBe(verdicts["gone"]);
  });
});

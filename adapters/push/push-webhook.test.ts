import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PushNotification, PushTarget } from "../../core/model.js";
import { describePushContract } from "../contract/push.contract.js";
import { PushError, PushTargetGone } from "./errors.js";
import { PushWebhook, parseWebhookUrl, verifyWebhookSignature, webhookBody, type PushWebhookOptions } from "./push-webhook.js";
import { manualTime, Receiver } from "./test-support.js";

/** The receivers here listen on loopback, which push refuses unless an operator allows it. */
const LOOPBACK = ["127.0.0.0/8"];

const SECRET = "webhook-secret-0123456789abcdef-0123456789";

const notification = (overrides: Partial<PushNotification> = {}): PushNotification => ({
  user_id: "usr_alice",
  conversation_id: "d.usr_alice.usr_bob",
  message_id: "0000060000000004096",
  from: "usr_bob",
  group_id: null,
  preview: "hi there",
  ...overrides,
});

const webhook = (token: string): PushTarget => ({ platform: "webhook", token });

describePushContract("PushWebhook", async () => {
  const receiver = await Receiver.start();
  const accepting_path = `/hooks/${randomUUID()}`;
  const accepting_target = webhook(receiver.script(accepting_path, { status: 204 }));
  const rejecting_target = webhook(receiver.script("/hooks/refusing", { status: 400, body: "unknown hook" }));
  return {
    push: new PushWebhook({ secret: SECRET, time: manualTime(), private_targets_allowed: LOOPBACK }),
    accepting_target,
    rejecting_target,
    received: async (target) =>
      receiver.requests
        .filter((r) => `${receiver.base_url}${r.path}` === target.token && r.status === 204)
        .map((r) => JSON.parse(r.body.toString("utf8")) as PushNotification),
    cleanup: () => receiver.close(),
  };
});

describe("PushWebhook", () => {
  let receiver: Receiver;
  beforeEach(async () => {
    receiver = await Receiver.start();
  });
  afterEach(async () => {
    await receiver.close();
  });

  const provider = (options: Partial<PushWebhookOptions> = {}) => {
    const time = manualTime();
    return { time, push: new PushWebhook({ secret: SECRET, time, private_targets_allowed: LOOPBACK, ...options }) };
  };

  it("posts the six fields as JSON, signed, timestamped and keyed by message_id", async () => {
    const { push, time } = provider();
    const sent = notification({ group_id: "grp_1", conversation_id: "g.grp_1" });
    await push.notify(webhook(receiver.script("/h", { status: 200 })), sent);
    const [request] = receiver.on("/h");
    expect(request?.method).toBe("POST");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers["x-chat-delivery"]).toBe(sent.message_id);
    expect(request?.headers["x-chat-timestamp"]).toBe(new Date(time.clock.now()).toISOString());
    const body = request?.body ?? Buffer.alloc(0);
    expect(body.toString("utf8")).toBe(webhookBody(sent));
    expect(JSON.parse(body.toString("utf8"))).toEqual(sent);
    // The receiver's side: the signature verifies over the raw bytes, and only with the secret.
    const signature = request?.headers["x-chat-signature"];
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(SECRET, body, String(signature))).toBe(true);
    expect(verifyWebhookSignature(`${SECRET}x`, body, String(signature))).toBe(false);
    expect(verifyWebhookSignature(SECRET, Buffer.concat([body, Buffer.from(" ")]), String(signature))).toBe(false);
    expect(verifyWebhookSignature(SECRET, body, undefined)).toBe(false);
  });

  it("retries a 503 with growing, jittered pauses, then resolves on acceptance", async () => {
    const { push, time } = provider({ retry: { attempts_max: 4, backoff_ms_initial: 100, backoff_ms_max: 10_000 } });
    const url = receiver.script("/flaky", { status: 503 }, { status: 503 }, { status: 204 });
    await push.notify(webhook(url), notification());
    const requests = receiver.on("/flaky");
    expect(requests.map((r) => r.status)).toEqual([503, 503, 204]);
    // Every retry carries the same idempotency key and signature.
    expect(new Set(requests.map((r) => r.headers["x-chat-delivery"])).size).toBe(1);
    expect(new Set(requests.map((r) => r.headers["x-chat-signature"])).size).toBe(1);
    expect(time.sleeps).toHaveLength(2);
    const [first = 0, second = 0] = time.sleeps;
    expect(first).toBeGreaterThanOrEqual(50);
    expect(first).toBeLessThan(100);
    expect(second).toBeGreaterThanOrEqual(100);
    expect(second).toBeLessThan(200);
  });

  it("gives up after attempts_max, naming the status", async () => {
    const { push } = provider({ retry: { attempts_max: 3 } });
    const url = receiver.script("/down", { status: 503 });
    const failure = await push.notify(webhook(url), notification()).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PushError);
    expect(failure).toMatchObject({ code: "PUSH_UNAVAILABLE", status: 503, attempts: 3 });
    expect(String((failure as Error).message)).toMatch(/answered 503 after 3 attempts/);
    expect(receiver.on("/down")).toHaveLength(3);
  });

  it("retries a 429 and honours a longer Retry-After", async () => {
    const { push, time } = provider({ retry: { backoff_ms_initial: 100 } });
    const url = receiver.script("/busy", { status: 429, headers: { "retry-after": "3" } }, { status: 202 });
    await push.notify(webhook(url), notification());
    expect(receiver.on("/busy")).toHaveLength(2);
    expect(time.sleeps).toEqual([3_000]);
  });

  it("stops retrying when the next pause would pass the deadline", async () => {
    const { push, time } = provider({ retry: { attempts_max: 10, deadline_ms: 1_000, backoff_ms_initial: 400, backoff_ms_max: 400 } });
    const url = receiver.script("/down", { status: 500 });
    await expect(push.notify(webhook(url), notification())).rejects.toMatchObject({ code: "PUSH_UNAVAILABLE", status: 500 });
    const attempts = receiver.on("/down").length;
    expect(attempts).toBeLessThan(10);
    expect(time.sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(1_000);
    expect(attempts).toBe(time.sleeps.length + 1);
  });

  it("gives up on a Retry-After that reaches past the deadline", async () => {
    const { push, time } = provider({ retry: { deadline_ms: 30_000 } });
    const url = receiver.script("/later", { status: 503, headers: { "retry-after": "3600" } }, { status: 204 });
    await expect(push.notify(webhook(url), notification())).rejects.toMatchObject({ code: "PUSH_UNAVAILABLE", attempts: 1 });
    expect(time.sleeps).toEqual([]);
  });

  it("does not retry a 400, and names the status and the answer", async () => {
    const { push, time } = provider();
    const url = receiver.script("/bad", { status: 400, body: "no such hook" });
    const failure = await push.notify(webhook(url), notification()).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: "PUSH_REFUSED", status: 400, attempts: 1 });
    expect(String((failure as Error).message)).toMatch(/answered 400 after 1 attempt: no such hook/);
    expect(receiver.on("/bad")).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it("names the origin only, never the path of the hook", async () => {
    const { push } = provider();
    const url = receiver.script("/secret-path-token", { status: 403 });
    const failure = await push.notify(webhook(url), notification()).catch((e: unknown) => e);
    expect(String((failure as Error).message)).toContain(receiver.base_url);
    expect(String((failure as Error).message)).not.toContain("secret-path-token");
  });

  it("answers a 410 with PushTargetGone", async () => {
    const { push } = provider();
    const url = receiver.script("/gone", { status: 410 });
    await expect(push.notify(webhook(url), notification())).rejects.toBeInstanceOf(PushTargetGone);
    expect(receiver.on("/gone")).toHaveLength(1);
  });

  it("does not follow a redirect", async () => {
    const { push } = provider();
    const elsewhere = receiver.script("/elsewhere", { status: 204 });
    const url = receiver.script("/moved", { status: 307, headers: { location: elsewhere } });
    await expect(push.notify(webhook(url), notification())).rejects.toMatchObject({ code: "PUSH_REFUSED", status: 307 });
    expect(receiver.on("/elsewhere")).toHaveLength(0);
  });

  it("times out each attempt, and retries it", async () => {
    const { push } = provider({ retry: { attempts_max: 2, attempt_timeout_ms: 150 } });
    const url = receiver.script("/hang", "hang");
    const started = Date.now();
    const failure = await push.notify(webhook(url), notification()).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: "PUSH_UNAVAILABLE", status: null, attempts: 2 });
    expect(String((failure as Error).message)).toMatch(/no answer within 150 ms/);
    expect(receiver.on("/hang")).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("retries a refused connection, then gives up", async () => {
    const { push, time } = provider({ retry: { attempts_max: 3 } });
    const closed = await Receiver.start();
    const url = `${closed.base_url}/nobody`;
    await closed.close();
    await expect(push.notify(webhook(url), notification())).rejects.toMatchObject({ code: "PUSH_UNAVAILABLE", status: null, attempts: 3 });
    expect(time.sleeps).toHaveLength(2);
  });

  it("rejects other platforms and bad tokens before any request, never synchronously", async () => {
    const { push } = provider();
    for (const [target, code] of [
      [{ platform: "apns", token: `${receiver.base_url}/x` }, "PUSH_WRONG_PLATFORM"],
      [webhook("not a url"), "PUSH_TARGET_INVALID"],
      [webhook("ftp://127.0.0.1/x"), "PUSH_TARGET_INVALID"],
      [webhook(`http://user:pw@127.0.0.1:1/x`), "PUSH_TARGET_INVALID"],
    ] as const) {
      let pending: Promise<void> | null = null;
      expect(() => {
        pending = push.notify(target, notification());
      }).not.toThrow();
      await expect(pending).rejects.toMatchObject({ code });
    }
    expect(receiver.requests).toHaveLength(0);
  });

  it("asks url_allowed before calling a URL", async () => {
    const { push } = provider({ url_allowed: (url) => url.hostname !== "127.0.0.1" });
    await expect(push.notify(webhook(receiver.script("/h", { status: 204 })), notification())).rejects.toMatchObject({ code: "PUSH_TARGET_INVALID" });
    expect(receiver.requests).toHaveLength(0);
  });

  it("refuses a short secret and a bad retry policy at construction", () => {
    expect(() => new PushWebhook({ secret: "short" })).toThrow(/32 bytes/);
    expect(() => new PushWebhook({ secret: SECRET, retry: { attempts_max: 0 } })).toThrow(/attempts_max/);
    expect(() => new PushWebhook({ secret: SECRET, retry: { attempt_timeout_ms: 0 } })).toThrow(/attempt_timeout_ms/);
  });

  it("parses webhook tokens", () => {
    expect(parseWebhookUrl("https://example.org/hook?x=1").ok).toBe(true);
    expect(parseWebhookUrl(`https://example.org/${"a".repeat(3_000)}`).ok).toBe(false);
  });
});

import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PushNotification, PushTarget } from "../../core/model.js";
import { describePushContract } from "../contract/push.contract.js";
import { PushTargetGone } from "./errors.js";
import { FcmTestServer, type FcmAccepted } from "./fcm-test-server.js";
import { ACCESS_TOKEN_MARGIN_MS, FCM_PAYLOAD_BYTES_MAX, PushFcm, parseFcmServiceAccount, type PushFcmOptions } from "./push-fcm.js";
import { manualTime } from "./test-support.js";

const registration = (): string => `${randomBytes(11).toString("base64url")}:APA91b${randomBytes(100).toString("base64url")}`;
const fcm = (token: string): PushTarget => ({ platform: "fcm", token });

function provider(server: FcmTestServer, extra: Partial<PushFcmOptions> = {}): PushFcm {
  return new PushFcm({ service_account: server.service_account, endpoint: server.base_url, time: manualTime(Date.now()), ...extra });
}

function decoded(a: FcmAccepted): PushNotification {
  const data = a.message["data"] as Record<string, string>;
  return { user_id: data["user_id"]!, conversation_id: data["conversation_id"]!, message_id: data["message_id"]!, from: data["from"]!, group_id: data["group_id"] ?? null, preview: data["preview"] ?? null };
}

describePushContract("PushFcm against a local FCM stand-in", async () => {
  const server = await FcmTestServer.start();
  const gone = registration();
  server.unregistered.add(gone);
  return {
    push: provider(server),
    accepting_target: fcm(registration()),
    rejecting_target: fcm(gone),
    received: async (target) => server.acceptedFor(target.token).map(decoded),
    cleanup: () => server.close(),
  };
});

describe("PushFcm", () => {
  let server: FcmTestServer;
  beforeEach(async () => {
    server = await FcmTestServer.start();
  });
  afterEach(async () => {
    await server.close();
  });

  const notification = (over: Partial<PushNotification> = {}): PushNotification => ({
    user_id: "u_bob",
    conversation_id: "d.u_alice.u_bob",
    message_id: "0000060000000004096",
    from: "u_alice",
    group_id: null,
    preview: "lunch at 12:30?",
    ...over,
  });

  it("gets one OAuth token from the service account and sends high-priority data messages collapsed by conversation", async () => {
    const push = provider(server);
    const token = registration();
    await Promise.all([push.notify(fcm(token), notification()), push.notify(fcm(token), notification({ message_id: "0000060000000004097" }))]);
    await push.notify(fcm(token), notification({ conversation_id: "g.g_team", group_id: "g_team" }));
    expect(server.exchanges).toBe(1);
    const got = server.acceptedFor(token);
    expect(got).toHaveLength(3);
    expect(got.map((a) => (a.message["android"] as { collapse_key: string }).collapse_key).sort()).toEqual(["d.u_alice.u_bob", "d.u_alice.u_bob", "g.g_team"]);
    expect(got[0]!.message["android"]).toMatchObject({ priority: "high", ttl: "86400s" });
    expect(decoded(got[2]!)).toEqual(notification({ conversation_id: "g.g_team", group_id: "g_team" }));
  });

  it("renews the access token before it expires, and once when FCM answers 401", async () => {
    const lifetime_ms = server.token_lifetime_s * 1000;
    // Started so that the renewal falls at the stand-in's wall-clock now (it checks iat and exp by it).
    const time = manualTime(Date.now() - (lifetime_ms - ACCESS_TOKEN_MARGIN_MS + 1_000));
    const push = provider(server, { time });
    const token = registration();
    await push.notify(fcm(token), notification());
    time.clock.advance(lifetime_ms - ACCESS_TOKEN_MARGIN_MS - 1_000);
    await push.notify(fcm(token), notification());
    expect(server.exchanges).toBe(1);
    time.clock.advance(2_000);
    await push.notify(fcm(token), notification());
    expect(server.exchanges).toBe(2);
    const bearers = server.acceptedFor(token).map((a) => a.bearer);
    expect(bearers[0]).toBe(bearers[1]);
    expect(bearers[2]).not.toBe(bearers[1]);
    server.issued.clear(); // the server forgets every token: FCM answers 401 UNAUTHENTICATED
    await push.notify(fcm(token), notification());
    expect(server.exchanges).toBe(1);
    expect(server.acceptedFor(token)).toHaveLength(4);
    expect(server.answered.filter((a) => a.path !== "/token").map((a) => a.status)).toEqual([200, 200, 200, 401, 200]);
  });

  it("answers 404 UNREGISTERED with PushTargetGone and a malformed token with PUSH_TARGET_INVALID", async () => {
    const push = provider(server);
    const gone = registration();
    server.unregistered.add(gone);
    await expect(push.notify(fcm(gone), notification())).rejects.toBeInstanceOf(PushTargetGone);
    const invalid = registration();
    server.queue(invalid, { status: 400, status_text: "INVALID_ARGUMENT", message: "The registration token is not a valid FCM registration token" });
    await expect(push.notify(fcm(invalid), notification())).rejects.toMatchObject({ code: "PUSH_TARGET_INVALID" });
    await expect(push.notify(fcm("bad token!"), notification())).rejects.toMatchObject({ code: "PUSH_TARGET_INVALID" });
  });

  it("retries 429 and 5xx with backoff, waiting at least what Retry-After says", async () => {
    const time = manualTime(Date.now());
    const push = provider(server, { time, retry: { attempts_max: 4, deadline_ms: 120_000, backoff_ms_initial: 100 } });
    const token = registration();
    server.queue(token, { status: 429, status_text: "QUOTA_EXCEEDED", headers: { "retry-after": "9" } }, { status: 503, status_text: "UNAVAILABLE" });
    await push.notify(fcm(token), notification());
    expect(server.answered.filter((a) => a.token === token).map((a) => a.status)).toEqual([429, 503, 200]);
    expect(time.sleeps[0]).toBeGreaterThanOrEqual(9_000);
    expect(server.acceptedFor(token)).toHaveLength(1);
    const down = registration();
    server.queue(down, ...Array.from({ length: 4 }, () => ({ status: 500, status_text: "INTERNAL" })));
    await expect(push.notify(fcm(down), notification())).rejects.toMatchObject({ code: "PUSH_UNAVAILABLE", attempts: 4 });
  });

  it("cuts a long preview to fit 4 KB; content-free mode sends only a wake-up", async () => {
    const push = provider(server);
    const token = registration();
    await push.notify(fcm(token), notification({ preview: "😀ß".repeat(3_000) }));
    expect(server.acceptedFor(token)[0]!.body_bytes).toBeLessThanOrEqual(FCM_PAYLOAD_BYTES_MAX);
    expect(decoded(server.acceptedFor(token)[0]!).preview).toMatch(/…$/);
    const quiet = provider(server, { content_free: true });
    await quiet.notify(fcm(token), notification());
    const wake = server.acceptedFor(token)[1]!;
    expect(wake.message["data"]).toEqual({ wake: "1" });
    expect(JSON.stringify(wake.message)).not.toMatch(/u_alice|u_bob|lunch|0000060000000004096/);
  });

  it("refuses a service account file that is not one, naming the field", () => {
    expect(() => parseFcmServiceAccount("{")).toThrow(/not JSON/);
    expect(() => parseFcmServiceAccount(JSON.stringify({ ...server.service_account, client_email: "nobody" }))).toThrow(/client_email/);
    expect(() => new PushFcm({ service_account: { ...server.service_account, private_key: "x" } })).toThrow(/PEM/);
  });
});

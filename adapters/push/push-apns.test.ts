import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PushNotification, PushTarget } from "../../core/model.js";
import { describePushContract } from "../contract/push.contract.js";
import { ApnsTestServer, apnsTestKeys, type ApnsAccepted } from "./apns-test-server.js";
import { PushError, PushTargetGone } from "./errors.js";
import { APNS_PAYLOAD_BYTES_MAX, PROVIDER_TOKEN_TTL_MS, PushApns, apnsCollapseId, type PushApnsOptions } from "./push-apns.js";
import { manualTime } from "./test-support.js";

const deviceToken = (): string => randomBytes(32).toString("hex");
const apns = (token: string): PushTarget => ({ platform: "apns", token });

function provider(server: ApnsTestServer, extra: Partial<PushApnsOptions> = {}): PushApns {
  return new PushApns({
    key_id: server.keys.key_id,
    team_id: server.keys.team_id,
    private_key: server.keys.private_key,
    topic: server.topic,
    endpoint: server.endpoint,
    ca: server.ca,
    time: manualTime(Date.now()),
    ...extra,
  });
}

/** What the stand-in accepted, read back as the notification it was made from. */
function decoded(a: ApnsAccepted): PushNotification {
  const chat = a.payload["chat"] as Omit<PushNotification, "preview">;
  const alert = (a.payload["aps"] as { alert: { body?: string } }).alert;
  return { ...chat, preview: alert.body ?? null };
}

describePushContract("PushApns against a local APNs stand-in", async () => {
  const server = await ApnsTestServer.start();
  const push = provider(server);
  const gone = deviceToken();
  server.unregistered.add(gone);
  return {
    push,
    accepting_target: apns(deviceToken()),
    rejecting_target: apns(gone),
    received: async (target) => server.acceptedFor(target.token).map(decoded),
    cleanup: async () => {
      push.close();
      await server.close();
    },
  };
});

describe("PushApns", () => {
  let server: ApnsTestServer;
  let push: PushApns | null = null;
  beforeEach(async () => {
    server = await ApnsTestServer.start();
  });
  afterEach(async () => {
    push?.close();
    push = null;
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

  it("sends what APNs checks, collapsed by conversation, on one reused HTTP/2 connection", async () => {
    push = provider(server);
    const token = deviceToken();
    for (let i = 0; i < 3; i++) await push.notify(apns(token), notification({ message_id: `000006000000000409${i}` }));
    await push.notify(apns(token), notification({ conversation_id: "g.g_team", group_id: "g_team" }));
    const got = server.acceptedFor(token);
    expect(got).toHaveLength(4);
    expect(server.connections).toBe(1);
    for (const a of got) {
      expect(a.headers["apns-topic"]).toBe(server.topic);
      expect(a.headers["apns-push-type"]).toBe("alert");
      expect(a.headers["apns-priority"]).toBe("10");
      expect(Number(a.headers["apns-expiration"])).toBeGreaterThan(Date.now() / 1000);
    }
    expect(got.map((a) => a.headers["apns-collapse-id"])).toEqual(["d.u_alice.u_bob", "d.u_alice.u_bob", "d.u_alice.u_bob", "g.g_team"]);
    expect(decoded(got[0]!)).toEqual(notification({ message_id: "0000060000000004090" }));
    // One provider token for all of them: APNs refuses tokens renewed more often than every 20 min.
    expect(new Set(got.map((a) => a.jwt)).size).toBe(1);
  });

  it("renews the provider token after 50 minutes, and once when APNs says it expired", async () => {
    // Started 50 min in the past, so every iat stays within what the stand-in (by wall clock) accepts.
    const time = manualTime(Date.now() - PROVIDER_TOKEN_TTL_MS - 10_000);
    push = provider(server, { time });
    const token = deviceToken();
    await push.notify(apns(token), notification());
    time.clock.advance(PROVIDER_TOKEN_TTL_MS - 1_000);
    await push.notify(apns(token), notification());
    time.clock.advance(2_000);
    await push.notify(apns(token), notification());
    const jwts = server.acceptedFor(token).map((a) => a.jwt);
    expect(jwts[0]).toBe(jwts[1]);
    expect(jwts[2]).not.toBe(jwts[1]);
    server.queue(token, { status: 403, reason: "ExpiredProviderToken" });
    await push.notify(apns(token), notification());
    expect(server.acceptedFor(token)).toHaveLength(4);
    expect(server.acceptedFor(token)[3]!.jwt).not.toBe(jwts[2]);
  });

  it("is refused with a key APNs does not know (signature checked), and names the reason", async () => {
    const stranger = apnsTestKeys(server.keys.key_id, server.keys.team_id);
    push = provider(server, { private_key: stranger.private_key });
    const failure = push.notify(apns(deviceToken()), notification());
    await expect(failure).rejects.toMatchObject({ code: "PUSH_REFUSED", status: 403 });
    await expect(failure).rejects.toThrow(/InvalidProviderToken/);
  });

  it("answers 410 Unregistered and 404 with PushTargetGone, BadDeviceToken with PUSH_TARGET_INVALID", async () => {
    push = provider(server);
    const gone = deviceToken();
    server.unregistered.add(gone);
    await expect(push.notify(apns(gone), notification())).rejects.toBeInstanceOf(PushTargetGone);
    const missing = deviceToken();
    server.queue(missing, { status: 404, reason: "BadPath" });
    await expect(push.notify(apns(missing), notification())).rejects.toBeInstanceOf(PushTargetGone);
    const bad = deviceToken();
    server.queue(bad, { status: 400, reason: "BadDeviceToken" });
    await expect(push.notify(apns(bad), notification())).rejects.toMatchObject({ code: "PUSH_TARGET_INVALID" });
    // Not even sent: a token that is no hex device token.
    const before = server.answered.length;
    await expect(push.notify(apns("not-hex"), notification())).rejects.toMatchObject({ code: "PUSH_TARGET_INVALID" });
    expect(server.answered.length).toBe(before);
  });

  it("retries 429 and 5xx with backoff, waiting at least what Retry-After says", async () => {
    const time = manualTime(Date.now());
    push = provider(server, { time, retry: { attempts_max: 4, deadline_ms: 120_000, backoff_ms_initial: 100 } });
    const token = deviceToken();
    server.queue(token, { status: 429, reason: "TooManyRequests", headers: { "retry-after": "7" } }, { status: 503, reason: "ServiceUnavailable" });
    await push.notify(apns(token), notification());
    expect(server.answered.filter((a) => a.token === token).map((a) => a.status)).toEqual([429, 503, 200]);
    expect(time.sleeps[0]).toBeGreaterThanOrEqual(7_000);
    expect(server.acceptedFor(token)).toHaveLength(1);
    const down = deviceToken();
    server.queue(down, ...Array.from({ length: 4 }, () => ({ status: 500, reason: "InternalServerError" })));
    await expect(push.notify(apns(down), notification())).rejects.toMatchObject({ code: "PUSH_UNAVAILABLE", attempts: 4 });
  });

  it("cuts a long preview so the payload fits 4 KB, and sends nothing of it when told not to", async () => {
    push = provider(server);
    const token = deviceToken();
    await push.notify(apns(token), notification({ preview: "ü€😀".repeat(2_000) }));
    const [long] = server.acceptedFor(token);
    expect(long!.body_bytes).toBeLessThanOrEqual(APNS_PAYLOAD_BYTES_MAX);
    expect(decoded(long!).preview).toMatch(/…$/);
    push.close();
    push = provider(server, { include_preview: false });
    await push.notify(apns(token), notification());
    expect(decoded(server.acceptedFor(token)[1]!).preview).toBeNull();
  });

  it("in content-free mode sends only a wake-up: no sender, conversation or text", async () => {
    push = provider(server, { content_free: true });
    const token = deviceToken();
    await push.notify(apns(token), notification({ conversation_id: "d.u_a.u_b" }));
    await push.notify(apns(token), notification({ conversation_id: "g.g_other", group_id: "g_other" }));
    const got = server.acceptedFor(token);
    expect(got.map((a) => a.headers["apns-collapse-id"])).toEqual(["wake", "wake"]);
    const text = JSON.stringify(got.map((a) => a.payload));
    for (const secret of ["u_alice", "u_a", "g_other", "lunch", "0000060000000004096"]) expect(text).not.toContain(secret);
    expect(got[0]!.payload).toEqual({ aps: { alert: { title: "New message" }, sound: "default", "mutable-content": 1 } });
  });

  it("keeps collapse IDs within 64 bytes", () => {
    expect(apnsCollapseId("d.u_a.u_b")).toBe("d.u_a.u_b");
    const long = `d.u${"x".repeat(60)}.u${"y".repeat(60)}`;
    expect(Buffer.byteLength(apnsCollapseId(long))).toBeLessThanOrEqual(64);
    expect(apnsCollapseId(long)).toBe(apnsCollapseId(long));
  });

  it("checks its configuration at construction", () => {
    const keys = server.keys;
    const base = { key_id: keys.key_id, team_id: keys.team_id, private_key: keys.private_key, topic: "org.example.chat" };
    expect(() => new PushApns({ ...base, key_id: "short" })).toThrow(/key_id/);
    expect(() => new PushApns({ ...base, private_key: "not a key" })).toThrow(/PEM/);
    expect(() => new PushApns({ ...base, endpoint: "http://api.push.apple.com" })).toThrow(/https/);
    expect(() => new PushApns(base).close()).not.toThrow();
    expect(PushError).toBeDefined();
  });
});

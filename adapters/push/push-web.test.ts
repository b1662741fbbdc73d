import { createCipheriv, createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, randomUUID, verify, type ECDH } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PushNotification, PushTarget } from "../../core/model.js";
import { describePushContract } from "../contract/push.contract.js";
import { PushTargetGone } from "./errors.js";
import { generateVapidKeys, parseWebPushSubscription, PushWebPush, webPushPayload, WEB_PUSH_PAYLOAD_BYTES_MAX, type PushWebPushOptions, type VapidConfig } from "./push-web.js";
import { manualTime, Receiver, type ReceivedRequest } from "./test-support.js";

/** The receivers here listen on loopback, which push refuses unless an operator allows it. */
const LOOPBACK = ["127.0.0.0/8"];

/** A browser's side of a subscription: its ECDH key pair and auth secret (RFC 8291). */
type Client = { readonly ecdh: ECDH; readonly auth: Buffer; readonly target: PushTarget };

function client(endpoint: string): Client {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16);
  const subscription = { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") } };
  return { ecdh, auth, target: { platform: "webpush", token: JSON.stringify(subscription) } };
}

/**
 * RFC 8291 decryption with the client's private key, done here with node:crypto alone, so the
 * test checks web-push's encryption rather than trusting it: the aes128gcm header (salt, record
 * size, the sender's key), then HKDF twice, then AES-128-GCM, then the padding delimiter.
 */
function decrypt(body: Buffer, c: Client): string {
  const salt = body.subarray(0, 16);
  const record_size = body.readUInt32BE(16);
  const key_id_length = body.readUInt8(20);
  const sender_public = body.subarray(21, 21 + key_id_length);
  const ciphertext = body.subarray(21 + key_id_length);
  expect(key_id_length).toBe(65);
  expect(ciphertext.length).toBeLessThanOrEqual(record_size);
  const shared = c.ecdh.computeSecret(sender_public);
  const key_info = Buffer.concat([Buffer.from("WebPush: info\0"), c.ecdh.getPublicKey(), sender_public]);
  const ikm = Buffer.from(hkdfSync("sha256", shared, c.auth, key_info, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  expect(padded[end]).toBe(0x02); // the last record's delimiter
  return padded.subarray(0, end).toString("utf8");
}

/** Checks the VAPID `Authorization: vapid t=<JWT>, k=<key>` header (RFC 8292): key, signature, claims. */
function checkVapid(header: string | undefined, vapid: VapidConfig, audience: string): void {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? "");
  expect(match, `Authorization header: ${header}`).not.toBeNull();
  const [, jwt = "", key = ""] = match ?? [];
  expect(key).toBe(vapid.public_key);
  const [head = "", claims = "", signature = ""] = jwt.split(".");
  const raw = Buffer.from(key, "base64url");
  const public_key = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33, 65).toString("base64url") },
    format: "jwk",
  });
  const signed = verify("sha256", Buffer.from(`${head}.${claims}`), { key: public_key, dsaEncoding: "ieee-p1363" }, Buffer.from(signature, "base64url"));
  expect(signed).toBe(true);
  expect(JSON.parse(Buffer.from(head, "base64url").toString("utf8"))).toMatchObject({ typ: "JWT", alg: "ES256" });
  const body = JSON.parse(Buffer.from(claims, "base64url").toString("utf8")) as { aud: string; sub: string; exp: number };
  expect(body.aud).toBe(audience);
  expect(body.sub).toBe(vapid.subject);
  expect(body.exp * 1000).toBeGreaterThan(Date.now());
  expect(body.exp * 1000).toBeLessThanOrEqual(Date.now() + 24 * 60 * 60 * 1000);
}

const notification = (overrides: Partial<PushNotification> = {}): PushNotification => ({
  user_id: "usr_alice",
  conversation_id: "d.usr_alice.usr_bob",
  message_id: "0000060000000004096",
  from: "usr_bob",
  group_id: null,
  preview: "hi there",
  ...overrides,
});

const vapidConfig = (): VapidConfig => ({ ...generateVapidKeys(), subject: "mailto:ops@chat.example" });

describePushContract("PushWebPush", async () => {
  const receiver = await Receiver.start();
  const accepting = client(receiver.script(`/push/${randomUUID()}`, { status: 201 }));
  const rejecting = client(receiver.script("/push/refused", { status: 400, body: "bad request" }));
  const clients = new Map([accepting, rejecting].map((c) => [c.target.token, c]));
  return {
    push: new PushWebPush({ vapid: vapidConfig(), http_endpoints_allowed: true, time: manualTime(), private_targets_allowed: LOOPBACK }),
    accepting_target: accepting.target,
    rejecting_target: rejecting.target,
    received: async (target) => {
      const c = clients.get(target.token);
      if (c === undefined) return [];
      const path = new URL((JSON.parse(target.token) as { endpoint: string }).endpoint).pathname;
      return receiver.on(path).filter((r) => r.status === 201).map((r) => JSON.parse(decrypt(r.body, c)) as PushNotification);
    },
    cleanup: () => receiver.close(),
  };
});

describe("PushWebPush", () => {
  let receiver: Receiver;
  let vapid: VapidConfig;
  beforeEach(async () => {
    receiver = await Receiver.start();
    vapid = vapidConfig();
  });
  afterEach(async () => {
    await receiver.close();
  });

  const provider = (options: Partial<PushWebPushOptions> = {}) => {
    const time = manualTime();
    return { time, push: new PushWebPush({ vapid, http_endpoints_allowed: true, time, private_targets_allowed: LOOPBACK, ...options }) };
  };
  const only = (requests: ReceivedRequest[]): ReceivedRequest => {
    expect(requests).toHaveLength(1);
    const [request] = requests;
    if (request === undefined) throw new Error("no request");
    return request;
  };

  it("POSTs the encrypted notification with VAPID, aes128gcm, TTL and urgency", async () => {
    const { push } = provider({ ttl_seconds: 3_600 });
    const c = client(receiver.script("/push/sub-1", { status: 201 }));
    const sent = notification({ group_id: "grp_9", conversation_id: "g.grp_9", preview: "héllo 👋" });
    await push.notify(c.target, sent);
    const request = only(receiver.on("/push/sub-1"));
    expect(request.method).toBe("POST");
    expect(request.headers["content-encoding"]).toBe("aes128gcm");
    expect(request.headers["content-type"]).toBe("application/octet-stream");
    expect(request.headers["ttl"]).toBe("3600");
    expect(request.headers["urgency"]).toBe("high");
    expect(request.headers["content-length"]).toBe(String(request.body.length));
    checkVapid(request.headers["authorization"], vapid, receiver.base_url);
    // Only the browser can read it: the payload is not in the clear.
    expect(request.body.includes(Buffer.from("usr_alice"))).toBe(false);
    expect(JSON.parse(decrypt(request.body, c))).toEqual(sent);
  });

  it("sends no preview when the configuration says so", async () => {
    const { push } = provider({ include_preview: false });
    const c = client(receiver.script("/push/quiet", { status: 201 }));
    await push.notify(c.target, notification({ preview: "secret text" }));
    expect(JSON.parse(decrypt(only(receiver.on("/push/quiet")).body, c))).toEqual(notification({ preview: null }));
  });

  it("cuts a long preview so the payload fits what a push service must accept", async () => {
    const { push } = provider();
    const c = client(receiver.script("/push/long", { status: 201 }));
    await push.notify(c.target, notification({ preview: "ü".repeat(5_000) }));
    const plaintext = decrypt(only(receiver.on("/push/long")).body, c);
    expect(Buffer.byteLength(plaintext)).toBeLessThanOrEqual(WEB_PUSH_PAYLOAD_BYTES_MAX);
    const got = JSON.parse(plaintext) as PushNotification;
    expect(got.preview).toMatch(/^ü+…$/);
    expect(got.message_id).toBe(notification().message_id);
  });

  it("answers 410 and 404 with PushTargetGone, without retrying", async () => {
    const { push } = provider();
    for (const status of [410, 404]) {
      const c = client(receiver.script(`/push/gone-${status}`, { status }));
      const failure = await push.notify(c.target, notification()).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(PushTargetGone);
      expect(failure).toMatchObject({ code: "PUSH_TARGET_GONE", status });
      expect(String((failure as Error).message)).toContain(String(status));
      expect(receiver.on(`/push/gone-${status}`)).toHaveLength(1);
    }
  });

  it("retries a 503 and a 429, then resolves", async () => {
    const { push, time } = provider();
    const c = client(receiver.script("/push/flaky", { status: 503 }, { status: 429 }, { status: 201 }));
    await push.notify(c.target, notification());
    expect(receiver.on("/push/flaky").map((r) => r.status)).toEqual([503, 429, 201]);
    expect(time.sleeps).toHaveLength(2);
  });

  it("refuses other 4xx without retrying, naming the status", async () => {
    const { push } = provider();
    const c = client(receiver.script("/push/big", { status: 413 }));
    await expect(push.notify(c.target, notification())).rejects.toMatchObject({ code: "PUSH_REFUSED", status: 413, message: expect.stringMatching(/answered 413/) });
    expect(receiver.on("/push/big")).toHaveLength(1);
  });

  it("rejects tokens that are no subscription before any request", async () => {
    const { push } = provider();
    const good = JSON.parse(client(`${receiver.base_url}/push/x`).target.token) as { endpoint: string; keys: { p256dh: string; auth: string } };
    const off_curve = Buffer.alloc(65, 1);
    off_curve[0] = 4;
    for (const token of [
      "not json",
      "[]",
      JSON.stringify({ ...good, endpoint: 5 }),
      JSON.stringify({ ...good, endpoint: "ftp://127.0.0.1/x" }),
      JSON.stringify({ ...good, keys: { ...good.keys, p256dh: "AAAA" } }),
      JSON.stringify({ ...good, keys: { ...good.keys, auth: "not base64!" } }),
      JSON.stringify({ ...good, keys: { ...good.keys, p256dh: off_curve.toString("base64url") } }),
      JSON.stringify({ endpoint: good.endpoint }),
    ]) {
      await expect(push.notify({ platform: "webpush", token }, notification()), token).rejects.toMatchObject({ code: "PUSH_TARGET_INVALID" });
    }
    await expect(push.notify({ platform: "webhook", token: JSON.stringify(good) }, notification())).rejects.toMatchObject({ code: "PUSH_WRONG_PLATFORM" });
    expect(receiver.requests).toHaveLength(0);
  });

  it("allows only https endpoints unless told otherwise", () => {
    const token = client("http://127.0.0.1:1/push").target.token;
    expect(parseWebPushSubscription(token).ok).toBe(false);
    expect(parseWebPushSubscription(token, { http_allowed: true }).ok).toBe(true);
    expect(parseWebPushSubscription(client("https://push.example/abc").target.token).ok).toBe(true);
  });

  it("checks the VAPID configuration at construction", () => {
    expect(() => new PushWebPush({ vapid: { ...vapid, subject: "ops@chat.example" } })).toThrow(/VAPID configuration is invalid/);
    expect(() => new PushWebPush({ vapid: { ...vapid, private_key: "short" } })).toThrow(/VAPID configuration is invalid/);
    expect(() => new PushWebPush({ vapid, payload_bytes_max: 5_000 })).toThrow(/payload_bytes_max/);
  });

  it("generates distinct VAPID key pairs of the right sizes", () => {
    const one = generateVapidKeys();
    const two = generateVapidKeys();
    expect(one.public_key).not.toBe(two.public_key);
    expect(Buffer.from(one.public_key, "base64url")).toHaveLength(65);
    expect(Buffer.from(one.private_key, "base64url")).toHaveLength(32);
  });

  it("fits payloads: whole when small, cut by code points, null when even the IDs do not fit", () => {
    const small = notification();
    expect(webPushPayload(small, 1_000)).toBe(JSON.stringify(small));
    const cut = webPushPayload(notification({ preview: "😀".repeat(100) }), 250);
    expect(cut).not.toBeNull();
    expect(Buffer.byteLength(cut ?? "")).toBeLessThanOrEqual(250);
    expect(Buffer.byteLength(cut ?? "")).toBeGreaterThan(250 - 4); // as much preview as fits
    expect((JSON.parse(cut ?? "{}") as PushNotification).preview).toMatch(/^(😀)+…$/u);
    expect(webPushPayload(notification({ preview: null }), 20)).toBeNull();
  });
});

// Keeps the RFC 8291 decryption above honest: it must read a record encrypted by hand too.
describe("the test's RFC 8291 decryption", () => {
  it("reads a record built from the RFC's steps", () => {
    const c = client("https://push.example/x");
    const sender = createECDH("prime256v1");
    sender.generateKeys();
    const salt = randomBytes(16);
    const shared = sender.computeSecret(c.ecdh.getPublicKey());
    const key_info = Buffer.concat([Buffer.from("WebPush: info\0"), c.ecdh.getPublicKey(), sender.getPublicKey()]);
    const ikm = Buffer.from(hkdfSync("sha256", shared, c.auth, key_info, 32));
    const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
    const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
    const cipher = createCipheriv("aes-128-gcm", cek, nonce);
    const sealed = Buffer.concat([cipher.update(Buffer.from("hello\x02\0\0")), cipher.final(), cipher.getAuthTag()]);
    const header = Buffer.alloc(21);
    salt.copy(header, 0);
    header.writeUInt32BE(4096, 16);
    header.writeUInt8(65, 20);
    expect(decrypt(Buffer.concat([header, sender.getPublicKey(), sealed]), c)).toBe("hello");
  });
});

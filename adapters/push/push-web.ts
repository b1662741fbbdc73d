/**
 * PushWebPush: push notifications to browsers through their push services (platform
 * "webpush"; the token is the JSON of the browser's PushSubscription,
 * `{"endpoint", "keys": {"p256dh", "auth"}}`).
 *
 * The `web-push` package does what is easy to get wrong: the VAPID JWT (RFC 8292) and the
 * payload encryption (RFC 8291, aes128gcm). The POST itself goes through postWithRetry, like
 * the webhook's, because `sendNotification` is wired to node:https with no AbortSignal: this
 * way every provider shares one retry and timeout policy.
 *
 * The payload is the JSON `{user_id, conversation_id, message_id, from, group_id, preview}`,
 * with `preview` null unless `include_preview`, and cut (ending in "…") so that the plaintext
 * fits `payload_bytes_max` (3993 bytes: what a push service must accept, 4096, less the
 * aes128gcm header, padding delimiter and tag).
 *
 * Rules:
 * - notify resolves on a 2xx (push services answer 201), retries network failures,
 *   timeouts, 5xx and 429 within the retry bounds, rejects with PushTargetGone on 404 or 410
 *   (the subscription expired or was withdrawn: delete the registration) and with a
 *   PushError naming the status otherwise. It never throws synchronously.
 * - A token that is no subscription (bad JSON, no https endpoint, keys of the wrong size or
 *   off the curve) is rejected with PUSH_TARGET_INVALID before any request. Plain http
 *   endpoints are for tests only (`http_endpoints_allowed`).
 * - Messages name the endpoint's origin only: its path is the subscription's capability.
 */
import webPush from "web-push";
import type { PushNotification, PushTarget } from "../../core/model.js";
import type { Push } from "../../core/ports/push.js";
import { assert, err, ok, type Result } from "../../core/result.js";
import { PushError } from "./errors.js";
import { addressPolicy, guardedFetch } from "./guarded-fetch.js";
import { acceptedOrThrow, postWithRetry, PUSH_TIME_SYSTEM, retryPolicy, type FetchFunction, type PushTime, type RetryPolicy } from "./post-with-retry.js";

export type VapidKeys = { readonly public_key: string; readonly private_key: string };

export type VapidConfig = VapidKeys & {
  /** Who to contact about these pushes: a `mailto:` or `https:` URL (push services require it). */
  readonly subject: string;
};

export type WebPushUrgency = "very-low" | "low" | "normal" | "high";

export type PushWebPushOptions = {
  readonly vapid: VapidConfig;
  /** How long the push service keeps an undelivered notification (default one day). */
  readonly ttl_seconds?: number;
  /** "high" by default: a chat message should wake the device. */
  readonly urgency?: WebPushUrgency;
  /** Whether the notification's preview goes to the push service at all (default true). */
  readonly include_preview?: boolean;
  readonly payload_bytes_max?: number;
  /** Extra trusted certificates (PEM) for https endpoints: a local push service in tests only. */
  readonly ca?: string;
  /** Plain-http endpoints, for a loopback push service in tests; off by default. */
  readonly http_endpoints_allowed?: boolean;
  /** Whether an endpoint may be called (every https endpoint by default). */
  readonly endpoint_allowed?: (url: URL) => boolean;
  readonly retry?: Partial<RetryPolicy>;
  readonly time?: PushTime;
  readonly fetch?: FetchFunction;
  /**
   * Private, loopback and link-local addresses (CIDRs) endpoints may reach anyway; none by
   * default (adapters/push/guarded-fetch.ts). Ignored when `fetch` is given.
   */
  readonly private_targets_allowed?: readonly string[];
};

/** A checked browser PushSubscription. */
export type WebPushSubscription = { readonly endpoint: URL; readonly p256dh: string; readonly auth: string };

export const WEB_PUSH_TTL_SECONDS_DEFAULT = 86_400;
/** 4096 (RFC 8030's minimum) - 86 (aes128gcm header) - 1 (padding delimiter) - 16 (tag). */
export const WEB_PUSH_PAYLOAD_BYTES_MAX = 3_993;
/** A subscription's JSON is a few hundred characters; anything much longer is not one. */
export const WEB_PUSH_TOKEN_CHARS_MAX = 4_096;

const GONE_STATUSES: readonly number[] = [404, 410];
const OWNER = "PushWebPush.notify";
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+={0,2}$/;
const P256_PUBLIC_KEY_BYTES = 65;
const AUTH_SECRET_BYTES = 16;
const ELLIPSIS = "…";
/** Headers fetch computes itself; web-push sets it for node:https. */
const HEADERS_DROPPED = new Set(["content-length"]);

/** Fresh VAPID keys (URL-safe base64), to put in the configuration once and keep. */
export function generateVapidKeys(): VapidKeys {
  const keys = webPush.generateVAPIDKeys();
  return { public_key: keys.publicKey, private_key: keys.privateKey };
}

export class PushWebPush implements Push {
  private readonly vapid: VapidConfig;
  private readonly ttl_seconds: number;
  private readonly urgency: WebPushUrgency;
  private readonly include_preview: boolean;
  private readonly payload_bytes_max: number;
  private readonly http_endpoints_allowed: boolean;
  private readonly endpoint_allowed: (url: URL) => boolean;
  private readonly policy: RetryPolicy;
  private readonly time: PushTime;
  private readonly fetch: FetchFunction;

  constructor(options: PushWebPushOptions) {
    this.vapid = options.vapid;
    this.ttl_seconds = options.ttl_seconds ?? WEB_PUSH_TTL_SECONDS_DEFAULT;
    this.urgency = options.urgency ?? "high";
    this.include_preview = options.include_preview ?? true;
    this.payload_bytes_max = options.payload_bytes_max ?? WEB_PUSH_PAYLOAD_BYTES_MAX;
    this.http_endpoints_allowed = options.http_endpoints_allowed ?? false;
    this.endpoint_allowed = options.endpoint_allowed ?? (() => true);
    this.policy = retryPolicy(options.retry, "PushWebPush");
    this.time = options.time ?? PUSH_TIME_SYSTEM;
    this.fetch = options.fetch ?? guardedFetch(addressPolicy(options.private_targets_allowed), options.ca === undefined ? {} : { ca: options.ca });
    if (!Number.isSafeInteger(this.ttl_seconds) || this.ttl_seconds < 0) throw new Error(`PushWebPush: ttl_seconds must be a non-negative integer, got ${this.ttl_seconds}`);
    if (!Number.isSafeInteger(this.payload_bytes_max) || this.payload_bytes_max < 1 || this.payload_bytes_max > WEB_PUSH_PAYLOAD_BYTES_MAX) {
      throw new Error(`PushWebPush: payload_bytes_max must be an integer in 1..${WEB_PUSH_PAYLOAD_BYTES_MAX}, got ${this.payload_bytes_max}`);
    }
    try {
      // Checks the subject and both keys now, not at the first push.
      webPush.getVapidHeaders("https://push.example", this.vapid.subject, this.vapid.public_key, this.vapid.private_key, "aes128gcm");
    } catch (cause) {
      throw new Error(`PushWebPush: the VAPID configuration is invalid: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
  }

  async notify(target: PushTarget, notification: PushNotification): Promise<void> {
    if (target.platform !== "webpush") {
      throw new PushError("PUSH_WRONG_PLATFORM", `${OWNER}: a ${target.platform} target reached the Web Push provider (route it by platform)`);
    }
    const parsed = parseWebPushSubscription(target.token, { http_allowed: this.http_endpoints_allowed });
    if (!parsed.ok) throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: ${parsed.error}`);
    const subscription = parsed.value;
    if (!this.endpoint_allowed(subscription.endpoint)) {
      throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: calling ${subscription.endpoint.origin} is not allowed here`);
    }
    const payload = webPushPayload(this.include_preview ? notification : { ...notification, preview: null }, this.payload_bytes_max);
    if (payload === null) {
      throw new PushError("PUSH_PAYLOAD_TOO_LARGE", `${OWNER}: message ${notification.message_id} does not fit ${this.payload_bytes_max} bytes even without a preview`);
    }
    let details: webPush.RequestDetails;
    try {
      details = webPush.generateRequestDetails(
        { endpoint: subscription.endpoint.href, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
        payload,
        {
          vapidDetails: { subject: this.vapid.subject, publicKey: this.vapid.public_key, privateKey: this.vapid.private_key },
          TTL: this.ttl_seconds,
          urgency: this.urgency,
          contentEncoding: "aes128gcm",
        },
      );
    } catch (cause) {
      // The keys passed the size checks, so this is a p256dh off the curve: the browser's fault.
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: the subscription's keys cannot encrypt for it: ${why}`, { cause });
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) {
      if (!HEADERS_DROPPED.has(name.toLowerCase())) headers[name] = String(value);
    }
    const body = details.body ?? new Uint8Array(0);
    const outcome = await postWithRetry({ url: subscription.endpoint, body, headers: () => headers }, this.policy, this.time, this.fetch);
    acceptedOrThrow(outcome, OWNER, subscription.endpoint.origin, GONE_STATUSES);
  }
}

/**
 * Checks a webpush token: the JSON of a PushSubscription with an https endpoint (http too
 * when `http_allowed`), a 65-byte uncompressed P-256 `p256dh` and a 16-byte `auth`, both
 * URL-safe base64. Fields besides these (expirationTime) are ignored.
 */
export function parseWebPushSubscription(token: string, options: { readonly http_allowed?: boolean } = {}): Result<WebPushSubscription, string> {
  if (token.length > WEB_PUSH_TOKEN_CHARS_MAX) return err(`the subscription is longer than ${WEB_PUSH_TOKEN_CHARS_MAX} characters`);
  let value: unknown;
  try {
    value = JSON.parse(token);
  } catch {
    return err("the webpush token is not the JSON of a PushSubscription");
  }
  if (typeof value !== "object" || value === null) return err("the webpush token is not a JSON object");
  const { endpoint, keys } = value as Record<string, unknown>;
  if (typeof endpoint !== "string") return err("the subscription has no 'endpoint' string");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return err("the subscription's 'endpoint' is not a URL");
  }
  const protocols = options.http_allowed === true ? ["https:", "http:"] : ["https:"];
  if (!protocols.includes(url.protocol)) return err(`the subscription's 'endpoint' must be ${protocols.join(" or ")}, not ${url.protocol}`);
  if (url.username !== "" || url.password !== "") return err("the subscription's 'endpoint' must not carry credentials");
  if (typeof keys !== "object" || keys === null) return err("the subscription has no 'keys' object");
  const { p256dh, auth } = keys as Record<string, unknown>;
  const p256dh_bytes = base64urlBytes(p256dh);
  if (p256dh_bytes === null || p256dh_bytes.length !== P256_PUBLIC_KEY_BYTES || p256dh_bytes[0] !== 0x04) {
    return err(`the subscription's 'keys.p256dh' must be a ${P256_PUBLIC_KEY_BYTES}-byte uncompressed P-256 point in URL-safe base64`);
  }
  const auth_bytes = base64urlBytes(auth);
  if (auth_bytes === null || auth_bytes.length !== AUTH_SECRET_BYTES) {
    return err(`the subscription's 'keys.auth' must be ${AUTH_SECRET_BYTES} bytes in URL-safe base64`);
  }
  return ok({ endpoint: url, p256dh: p256dh as string, auth: auth as string });
}

/**
 * The plaintext PushWebPush encrypts for `notification`: its six fields as JSON, the
 * preview cut (ending in "…") until the whole fits `bytes_max`; null when it cannot fit.
 */
export function webPushPayload(notification: PushNotification, bytes_max: number): string | null {
  const { user_id, conversation_id, message_id, from, group_id, preview } = notification;
  const encode = (p: string | null): string => JSON.stringify({ user_id, conversation_id, message_id, from, group_id, preview: p });
  const json = encode(preview);
  if (Buffer.byteLength(json, "utf8") <= bytes_max) return json;
  if (Buffer.byteLength(encode(ELLIPSIS), "utf8") > bytes_max) return Buffer.byteLength(encode(null), "utf8") <= bytes_max ? encode(null) : null;
  // JSON escapes one code point the same wherever it stands, so the cost of each is known
  // alone and one pass keeps the longest prefix that fits. Surrogate pairs are never split.
  let budget = bytes_max - Buffer.byteLength(encode(ELLIPSIS), "utf8");
  let kept = "";
  for (const point of preview ?? "") {
    budget -= Buffer.byteLength(JSON.stringify(point), "utf8") - 2;
    if (budget < 0) break;
    kept += point;
  }
  const cut = encode(kept + ELLIPSIS);
  assert(Buffer.byteLength(cut, "utf8") <= bytes_max, `webPushPayload: the cut payload exceeds ${bytes_max} bytes`);
  return cut;
}

function base64urlBytes(value: unknown): Buffer | null {
  if (typeof value !== "string" || !BASE64URL_PATTERN.test(value)) return null;
  return Buffer.from(value, "base64url");
}

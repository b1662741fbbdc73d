/**
 * PushApns: notifications to Apple devices through APNs (platform "apns"; the token is the
 * device token the app got from `registerForRemoteNotifications`, in hex).
 *
 * What APNs requires, and how this file meets it:
 * - HTTP/2 only, one long-lived connection reused (Http2Fetch), `POST /3/device/<token>`.
 * - Token authentication: `authorization: bearer <JWT>`, the JWT signed ES256 with the
 *   team's .p8 key, header {alg, kid: key_id}, claims {iss: team_id, iat}. APNs refuses a
 *   token older than an hour and one renewed more often than every 20 minutes, so one token
 *   is kept for PROVIDER_TOKEN_TTL_MS (50 min). A 403 ExpiredProviderToken or
 *   InvalidProviderToken renews it once and sends again.
 * - `apns-topic` (the app's bundle ID), `apns-push-type: alert`, `apns-priority: 10`,
 *   `apns-expiration`, and `apns-collapse-id` = the conversation (64 bytes at most, else its
 *   SHA-256), so a burst of messages in one chat shows as one notification.
 * - The payload is JSON of at most 4096 bytes: the preview is cut to fit.
 *
 * Answers: 200 accepted; 410 (Unregistered) or 404 → PushTargetGone (delete the device);
 * 400 BadDeviceToken / DeviceTokenNotForTopic → PUSH_TARGET_INVALID (delete it too); 429,
 * 5xx and no answer are retried by postWithRetry with backoff, honouring Retry-After.
 *
 * Content-free mode (`content_free`): the payload is only a wake-up ({aps: {alert: {title},
 * mutable-content}}), no sender, conversation or text, and one collapse ID for all; the app
 * fetches what is new itself (as Signal does). Otherwise the payload carries the IDs under
 * `chat` and, when allowed, the preview as the alert's body.
 */
import { createHash, type KeyObject } from "node:crypto";
import type { PushNotification, PushTarget } from "../../core/model.js";
import type { Push } from "../../core/ports/push.js";
import { PushError } from "./errors.js";
import { Http2Fetch } from "./http2-fetch.js";
import { parsePrivateKey, signJwt } from "./jwt.js";
import { fitPreview } from "./payload.js";
import { acceptedOrThrow, postWithRetry, PUSH_TIME_SYSTEM, retryPolicy, type MobilePushOptions, type PostOutcome, type PushTime, type RetryPolicy } from "./post-with-retry.js";

export type ApnsCredentials = {
  /** The 10-character ID of the .p8 key (Apple Developer → Keys). */
  readonly key_id: string;
  /** The 10-character team ID the key belongs to. */
  readonly team_id: string;
  /** The .p8 file's content: a PKCS#8 PEM P-256 private key. */
  readonly private_key: string;
  /** The app's bundle ID (`apns-topic`). */
  readonly topic: string;
};

export type PushApnsOptions = ApnsCredentials & MobilePushOptions & {
  /** https://api.push.apple.com (default) or https://api.sandbox.push.apple.com. */
  readonly endpoint?: string;
  /** Extra trusted certificates, for a local stand-in of APNs in tests. */
  readonly ca?: string | Buffer;
};

export const APNS_ENDPOINT_PRODUCTION = "https://api.push.apple.com";
export const APNS_ENDPOINT_SANDBOX = "https://api.sandbox.push.apple.com";
/** APNs refuses larger payloads (413 PayloadTooLarge) for every push type but VoIP. */
export const APNS_PAYLOAD_BYTES_MAX = 4096;
export const APNS_COLLAPSE_ID_BYTES_MAX = 64;
/** Renew the provider token after this long: APNs wants 20 min ≤ age of renewal, age < 60 min. */
export const PROVIDER_TOKEN_TTL_MS = 50 * 60 * 1000;
/** Device tokens are hex; 32 bytes today, and Apple warns they may grow. */
const DEVICE_TOKEN_PATTERN = /^(?:[0-9a-fA-F]{2}){32,100}$/;
const APPLE_ID_PATTERN = /^[A-Z0-9]{10}$/;
const TOPIC_PATTERN = /^[A-Za-z0-9.-]{1,255}$/;
const GONE_STATUSES: readonly number[] = [404, 410];
const INVALID_TOKEN_REASONS = ["BadDeviceToken", "DeviceTokenNotForTopic"];
const STALE_PROVIDER_TOKEN_REASONS = ["ExpiredProviderToken", "InvalidProviderToken"];
const OWNER = "PushApns.notify";
const TITLE = "New message";

export class PushApns implements Push {
  private readonly key: KeyObject;
  private readonly credentials: ApnsCredentials;
  private readonly endpoint: URL;
  private readonly content_free: boolean;
  private readonly include_preview: boolean;
  private readonly ttl_seconds: number;
  private readonly policy: RetryPolicy;
  private readonly time: PushTime;
  private readonly http: Http2Fetch;
  private provider_token: { jwt: string; issued_ms: number } | null = null;

  constructor(options: PushApnsOptions) {
    if (!APPLE_ID_PATTERN.test(options.key_id)) throw new Error(`PushApns: key_id must be Apple's 10-character key ID, got '${options.key_id}'`);
    if (!APPLE_ID_PATTERN.test(options.team_id)) throw new Error(`PushApns: team_id must be Apple's 10-character team ID, got '${options.team_id}'`);
    if (!TOPIC_PATTERN.test(options.topic)) throw new Error(`PushApns: topic must be the app's bundle ID, got '${options.topic}'`);
    this.key = parsePrivateKey(options.private_key, "ES256", "PushApns");
    this.credentials = { key_id: options.key_id, team_id: options.team_id, private_key: options.private_key, topic: options.topic };
    this.endpoint = new URL(options.endpoint ?? APNS_ENDPOINT_PRODUCTION);
    if (this.endpoint.protocol !== "https:") throw new Error(`PushApns: endpoint must be https, got ${this.endpoint.protocol}`);
    this.content_free = options.content_free ?? false;
    this.include_preview = options.include_preview ?? true;
    this.ttl_seconds = options.ttl_seconds ?? 86_400;
    if (!Number.isSafeInteger(this.ttl_seconds) || this.ttl_seconds < 0) throw new Error(`PushApns: ttl_seconds must be a non-negative integer, got ${this.ttl_seconds}`);
    this.policy = retryPolicy(options.retry, "PushApns");
    this.time = options.time ?? PUSH_TIME_SYSTEM;
    this.http = new Http2Fetch(options.ca === undefined ? {} : { ca: options.ca });
  }

  async notify(target: PushTarget, notification: PushNotification): Promise<void> {
    if (target.platform !== "apns") throw new PushError("PUSH_WRONG_PLATFORM", `${OWNER}: a ${target.platform} target reached the APNs provider (route it by platform)`);
    if (!DEVICE_TOKEN_PATTERN.test(target.token)) throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: an APNs device token is 64 to 200 hex digits`);
    const body = apnsPayload(this.include_preview ? notification : { ...notification, preview: null }, this.content_free);
    if (body === null) throw new PushError("PUSH_PAYLOAD_TOO_LARGE", `${OWNER}: message ${notification.message_id} does not fit ${APNS_PAYLOAD_BYTES_MAX} bytes`);
    const url = new URL(`/3/device/${target.token.toLowerCase()}`, this.endpoint);
    const collapse_id = this.content_free ? "wake" : apnsCollapseId(notification.conversation_id);
    const send = (): Promise<PostOutcome> =>
      postWithRetry(
        {
          url,
          body,
          headers: () => ({
            authorization: `bearer ${this.providerToken()}`,
            "apns-topic": this.credentials.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": String(Math.floor(this.time.clock.now() / 1000) + this.ttl_seconds),
            "apns-collapse-id": collapse_id,
            "content-type": "application/json",
          }),
        },
        this.policy,
        this.time,
        this.http.fetch,
      );
    let outcome = await send();
    if (outcome.status === 403 && STALE_PROVIDER_TOKEN_REASONS.some((r) => outcome.detail.includes(r))) {
      this.provider_token = null;
      outcome = await send();
    }
    if (outcome.status === 400 && INVALID_TOKEN_REASONS.some((r) => outcome.detail.includes(r))) {
      throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: ${this.endpoint.origin} refused the device token: ${outcome.detail}`, { status: 400, attempts: outcome.attempts });
    }
    acceptedOrThrow(outcome, OWNER, this.endpoint.origin, GONE_STATUSES);
  }

  /** Closes the HTTP/2 connection. */
  close(): void {
    this.http.close();
  }

  private providerToken(): string {
    const now_ms = this.time.clock.now();
    const current = this.provider_token;
    // A clock that stepped back renews too: APNs judges iat by its own clock.
    if (current !== null && now_ms >= current.issued_ms && now_ms - current.issued_ms < PROVIDER_TOKEN_TTL_MS) return current.jwt;
    const jwt = signJwt("ES256", { kid: this.credentials.key_id }, { iss: this.credentials.team_id, iat: Math.floor(now_ms / 1000) }, this.key);
    this.provider_token = { jwt, issued_ms: now_ms };
    return jwt;
  }
}

/** The JSON body PushApns sends for `notification`, at most APNS_PAYLOAD_BYTES_MAX bytes; null if it cannot fit. */
export function apnsPayload(notification: PushNotification, content_free: boolean): string | null {
  if (content_free) return JSON.stringify({ aps: { alert: { title: TITLE }, sound: "default", "mutable-content": 1 } });
  const { user_id, conversation_id, message_id, from, group_id } = notification;
  const encode = (preview: string | null): string =>
    JSON.stringify({
      aps: { alert: preview === null ? { title: TITLE } : { title: TITLE, body: preview }, sound: "default", "thread-id": conversation_id, "mutable-content": 1 },
      chat: { user_id, conversation_id, message_id, from, group_id },
    });
  return fitPreview(encode, notification.preview, APNS_PAYLOAD_BYTES_MAX);
}

/** The conversation as a collapse ID: itself when it fits 64 bytes, else its SHA-256. */
export function apnsCollapseId(conversation_id: string): string {
  if (Buffer.byteLength(conversation_id, "utf8") <= APNS_COLLAPSE_ID_BYTES_MAX) return conversation_id;
  return createHash("sha256").update(conversation_id).digest("base64url");
}

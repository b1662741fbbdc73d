/**
 * PushWebhook: push notifications as signed JSON POSTs to a URL the user registered
 * (platform "webhook"; the token is the http(s) URL).
 *
 * The request: body `{user_id, conversation_id, message_id, from, group_id, preview}` and
 *   content-type: application/json
 *   x-chat-signature: sha256=<hex HMAC-SHA256 of the raw body under the configured secret>
 *   x-chat-timestamp: <RFC 3339 UTC time of this attempt>
 *   x-chat-delivery: <message_id>   (the same on every retry: receivers drop repeats by it)
 * A receiver checks the signature with `verifyWebhookSignature` (or the same HMAC of its own).
 *
 * Rules:
 * - notify resolves on a 2xx, retries network failures, timeouts, 5xx and 429 within the
 *   retry bounds (adapters/push/post-with-retry.ts), and rejects with a PushError naming the
 *   status otherwise: PushTargetGone on 410, PUSH_REFUSED on another 3xx/4xx,
 *   PUSH_UNAVAILABLE when the retries ran out. It never throws synchronously.
 * - A target of another platform, or a token that is no http(s) URL (or one with
 *   credentials, or one `url_allowed` refuses), is rejected before any request.
 * - A target on a private, loopback or link-local address is never called (checked where the
 *   socket connects), unless `private_targets_allowed` names it: PUSH_TARGET_INVALID.
 * - Messages name the URL's origin only: a webhook path is often a secret of its own.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { PushNotification, PushTarget } from "../../core/model.js";
import type { Push } from "../../core/ports/push.js";
import { err, ok, type Result } from "../../core/result.js";
import { PushError } from "./errors.js";
import { addressPolicy, BlockedAddressError, guardedFetch } from "./guarded-fetch.js";
import { acceptedOrThrow, postWithRetry, PUSH_TIME_SYSTEM, retryPolicy, type FetchFunction, type PushTime, type RetryPolicy } from "./post-with-retry.js";

export type PushWebhookOptions = {
  /** The HMAC key receivers share, at least 32 bytes. */
  readonly secret: string | Uint8Array;
  readonly retry?: Partial<RetryPolicy>;
  readonly time?: PushTime;
  readonly fetch?: FetchFunction;
  /**
   * Whether a registered URL may be called. Every http(s) URL by default; a deployment whose
   * users may register webhooks should refuse its own internal addresses here.
   */
  readonly url_allowed?: (url: URL) => boolean;
  /**
   * Private, loopback and link-local addresses (CIDRs) that webhooks may reach anyway; none by
   * default. Checked on the resolved address at connect time (adapters/push/guarded-fetch.ts).
   * Ignored when `fetch` is given.
   */
  readonly private_targets_allowed?: readonly string[];
};

export const WEBHOOK_SECRET_BYTES_MIN = 32;
/** A registered URL longer than this is refused: tokens are stored and sent with every push. */
export const WEBHOOK_URL_CHARS_MAX = 2_048;

/** Statuses by which a webhook receiver says the registration is gone for good. */
const GONE_STATUSES: readonly number[] = [410];
const OWNER = "PushWebhook.notify";

export class PushWebhook implements Push {
  private readonly secret: Buffer;
  private readonly policy: RetryPolicy;
  private readonly time: PushTime;
  private readonly fetch: FetchFunction;
  private readonly url_allowed: (url: URL) => boolean;

  constructor(options: PushWebhookOptions) {
    this.secret = typeof options.secret === "string" ? Buffer.from(options.secret, "utf8") : Buffer.from(options.secret);
    if (this.secret.length < WEBHOOK_SECRET_BYTES_MIN) throw new Error(`PushWebhook: the secret must be at least ${WEBHOOK_SECRET_BYTES_MIN} bytes`);
    this.policy = retryPolicy(options.retry, "PushWebhook");
    this.time = options.time ?? PUSH_TIME_SYSTEM;
    this.fetch = options.fetch ?? guardedFetch(addressPolicy(options.private_targets_allowed));
    this.url_allowed = options.url_allowed ?? (() => true);
  }

  async notify(target: PushTarget, notification: PushNotification): Promise<void> {
    if (target.platform !== "webhook") {
      throw new PushError("PUSH_WRONG_PLATFORM", `${OWNER}: a ${target.platform} target reached the webhook provider (route it by platform)`);
    }
    const parsed = parseWebhookUrl(target.token);
    if (!parsed.ok) throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: ${parsed.error}`);
    const url = parsed.value;
    if (!this.url_allowed(url)) throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: calling ${url.origin} is not allowed here`);
    const body = webhookBody(notification);
    const signature = webhookSignature(this.secret, body);
    const outcome = await postWithRetry(
      {
        url,
        body,
        headers: () => ({
          "content-type": "application/json",
          "x-chat-signature": signature,
          "x-chat-timestamp": new Date(this.time.clock.now()).toISOString(),
          "x-chat-delivery": notification.message_id,
        }),
      },
      this.policy,
      this.time,
      this.fetch,
    );
    if (outcome.cause instanceof BlockedAddressError) throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: ${url.origin} resolves to a private address; not called`);
    acceptedOrThrow(outcome, OWNER, url.origin, GONE_STATUSES);
  }
}

/** Checks a webhook token: an absolute http(s) URL without credentials, of bounded length. */
export function parseWebhookUrl(token: string): Result<URL, string> {
  if (token.length > WEBHOOK_URL_CHARS_MAX) return err(`the webhook URL is longer than ${WEBHOOK_URL_CHARS_MAX} characters`);
  let url: URL;
  try {
    url = new URL(token);
  } catch {
    return err("the webhook token is not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return err(`the webhook URL must be http or https, not ${url.protocol}`);
  if (url.username !== "" || url.password !== "") return err("the webhook URL must not carry credentials");
  return ok(url);
}

/** The exact body PushWebhook posts for `notification`: these six fields, in this order. */
export function webhookBody(notification: PushNotification): string {
  const { user_id, conversation_id, message_id, from, group_id, preview } = notification;
  return JSON.stringify({ user_id, conversation_id, message_id, from, group_id, preview });
}

/** The `x-chat-signature` value for a raw body: `sha256=` and the hex HMAC-SHA256. */
export function webhookSignature(secret: string | Uint8Array, body: string | Uint8Array): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** For receivers: whether `header` is the signature of `body` under `secret`, compared in constant time. */
export function verifyWebhookSignature(secret: string | Uint8Array, body: string | Uint8Array, header: string | null | undefined): boolean {
  if (typeof header !== "string") return false;
  const expected = Buffer.from(webhookSignature(secret, body), "utf8");
  const given = Buffer.from(header, "utf8");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

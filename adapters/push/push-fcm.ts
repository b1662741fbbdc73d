/**
 * PushFcm: notifications to Android (and any FCM client) through the FCM HTTP v1 API
 * (platform "fcm"; the token is the app's FCM registration token).
 *
 * What FCM requires, and how this file meets it:
 * - `POST {endpoint}/v1/projects/{project_id}/messages:send` with `authorization: Bearer
 *   <OAuth 2 access token>`. The access token comes from the service account (its JSON key
 *   file): a JWT signed RS256 with the account's private key (iss: client_email, scope
 *   firebase.messaging, aud: token_uri, iat, exp = iat + 1 h) is exchanged at `token_uri`
 *   (grant type jwt-bearer). The token is kept until five minutes before it expires; a 401
 *   from FCM drops it and sends once more with a fresh one.
 * - A data message `{message: {token, data, android: {priority: "high", collapse_key, ttl}}}`:
 *   data values are strings; collapse_key is the conversation, so a burst in one chat
 *   replaces itself on a device that was off. The message is at most 4096 bytes (FCM's
 *   payload limit): the preview is cut to fit.
 *
 * Answers: 2xx accepted; 404 (UNREGISTERED) or 410 → PushTargetGone (delete the device);
 * 400 INVALID_ARGUMENT about the registration token and 403 SENDER_ID_MISMATCH →
 * PUSH_TARGET_INVALID (delete it too); 429, 5xx and no answer are retried by postWithRetry
 * with backoff, honouring Retry-After.
 *
 * Content-free mode: `data` is only {"wake": "1"}, one collapse key for all, nothing about
 * sender, conversation or text.
 */
import type { KeyObject } from "node:crypto";
import { z } from "zod";
import type { PushNotification, PushTarget } from "../../core/model.js";
import type { Push } from "../../core/ports/push.js";
import { PushError } from "./errors.js";
import { parsePrivateKey, signJwt } from "./jwt.js";
import { fitPreview } from "./payload.js";
import { acceptedOrThrow, postWithRetry, PUSH_TIME_SYSTEM, retryPolicy, type FetchFunction, type MobilePushOptions, type PostOutcome, type PushTime, type RetryPolicy } from "./post-with-retry.js";

/** The fields of a Google service-account key file that FCM needs. */
export const fcmServiceAccount = z.object({
  type: z.literal("service_account"),
  project_id: z.string().regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]$/, "must be a Google Cloud project ID"),
  private_key_id: z.string().min(1),
  private_key: z.string().min(1),
  client_email: z.email(),
  token_uri: z.url(),
});
export type FcmServiceAccount = z.infer<typeof fcmServiceAccount>;

export type PushFcmOptions = MobilePushOptions & {
  readonly service_account: FcmServiceAccount;
  /** https://fcm.googleapis.com by default. */
  readonly endpoint?: string;
  readonly fetch?: FetchFunction;
};

export const FCM_ENDPOINT = "https://fcm.googleapis.com";
export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
/** FCM refuses messages whose payload exceeds 4096 bytes. */
export const FCM_PAYLOAD_BYTES_MAX = 4096;
/** An access token is used until this long before it expires. */
export const ACCESS_TOKEN_MARGIN_MS = 5 * 60 * 1000;
const ASSERTION_TTL_S = 3600;
const TOKEN_PATTERN = /^[A-Za-z0-9_:-]{16,4096}$/;
const GONE_STATUSES: readonly number[] = [404, 410];
const OWNER = "PushFcm.notify";

/** Parses a service-account key file's JSON; throws a sentence naming the field at fault. */
export function parseFcmServiceAccount(json: string): FcmServiceAccount {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error("PushFcm: the service account is not JSON (use the key file Google gives, unchanged)");
  }
  const parsed = fcmServiceAccount.safeParse(value);
  if (!parsed.success) throw new Error(`PushFcm: the service account is invalid: ${parsed.error.issues.map((i) => `${i.path.join(".") || "file"}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

export class PushFcm implements Push {
  private readonly account: FcmServiceAccount;
  private readonly key: KeyObject;
  private readonly send_url: URL;
  private readonly token_url: URL;
  private readonly content_free: boolean;
  private readonly include_preview: boolean;
  private readonly ttl_seconds: number;
  private readonly policy: RetryPolicy;
  private readonly time: PushTime;
  private readonly fetch: FetchFunction;
  private access: { token: string; expires_at_ms: number } | null = null;
  /** The exchange in flight, shared by every notify that needs a token meanwhile. */
  private exchanging: Promise<string> | null = null;

  constructor(options: PushFcmOptions) {
    this.account = fcmServiceAccount.parse(options.service_account);
    this.key = parsePrivateKey(this.account.private_key, "RS256", "PushFcm");
    const endpoint = new URL(options.endpoint ?? FCM_ENDPOINT);
    this.send_url = new URL(`/v1/projects/${this.account.project_id}/messages:send`, endpoint);
    this.token_url = new URL(this.account.token_uri);
    this.content_free = options.content_free ?? false;
    this.include_preview = options.include_preview ?? true;
    this.ttl_seconds = options.ttl_seconds ?? 86_400;
    if (!Number.isSafeInteger(this.ttl_seconds) || this.ttl_seconds < 0) throw new Error(`PushFcm: ttl_seconds must be a non-negative integer, got ${this.ttl_seconds}`);
    this.policy = retryPolicy(options.retry, "PushFcm");
    this.time = options.time ?? PUSH_TIME_SYSTEM;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async notify(target: PushTarget, notification: PushNotification): Promise<void> {
    if (target.platform !== "fcm") throw new PushError("PUSH_WRONG_PLATFORM", `${OWNER}: a ${target.platform} target reached the FCM provider (route it by platform)`);
    if (!TOKEN_PATTERN.test(target.token)) throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: an FCM registration token is 16 to 4096 characters of [A-Za-z0-9_:-]`);
    const body = fcmMessage(target.token, this.include_preview ? notification : { ...notification, preview: null }, { content_free: this.content_free, ttl_seconds: this.ttl_seconds });
    if (body === null) throw new PushError("PUSH_PAYLOAD_TOO_LARGE", `${OWNER}: message ${notification.message_id} does not fit ${FCM_PAYLOAD_BYTES_MAX} bytes`);
    const send = async (): Promise<PostOutcome> => {
      const bearer = await this.accessToken();
      return postWithRetry(
        { url: this.send_url, body, headers: () => ({ authorization: `Bearer ${bearer}`, "content-type": "application/json; charset=utf-8" }) },
        this.policy,
        this.time,
        this.fetch,
      );
    };
    let outcome = await send();
    if (outcome.status === 401) {
      this.access = null;
      outcome = await send();
    }
    if ((outcome.status === 400 && /registration token/i.test(outcome.detail)) || (outcome.status === 403 && outcome.detail.includes("SENDER_ID_MISMATCH"))) {
      throw new PushError("PUSH_TARGET_INVALID", `${OWNER}: ${this.send_url.origin} refused the registration token: ${outcome.detail}`, { status: outcome.status, attempts: outcome.attempts });
    }
    acceptedOrThrow(outcome, OWNER, this.send_url.origin, GONE_STATUSES);
  }

  private async accessToken(): Promise<string> {
    const now_ms = this.time.clock.now();
    if (this.access !== null && now_ms < this.access.expires_at_ms - ACCESS_TOKEN_MARGIN_MS) return this.access.token;
    this.exchanging ??= this.exchange().finally(() => {
      this.exchanging = null;
    });
    return this.exchanging;
  }

  /** The OAuth 2 JWT-bearer grant (RFC 7523) at the account's token_uri. */
  private async exchange(): Promise<string> {
    const issued_s = Math.floor(this.time.clock.now() / 1000);
    const assertion = signJwt(
      "RS256",
      { typ: "JWT", kid: this.account.private_key_id },
      { iss: this.account.client_email, scope: FCM_SCOPE, aud: this.account.token_uri, iat: issued_s, exp: issued_s + ASSERTION_TTL_S },
      this.key,
    );
    const form = new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString();
    const owner = "PushFcm.accessToken";
    let answered: { status: number; text: string } | null = null;
    const outcome = await postWithRetry(
      { url: this.token_url, body: form, headers: () => ({ "content-type": "application/x-www-form-urlencoded" }) },
      this.policy,
      this.time,
      async (input, init) => {
        // The answer's body is the token: read it here, before postWithRetry keeps only its start.
        const response = await this.fetch(input, init);
        const text = await response.text();
        answered = { status: response.status, text };
        return new Response(text, { status: response.status, headers: response.headers });
      },
    );
    acceptedOrThrow(outcome, owner, this.token_url.origin, []);
    const last = answered as { status: number; text: string } | null;
    const parsed = tokenAnswer.safeParse(safeJson(last?.text ?? ""));
    if (!parsed.success) throw new PushError("PUSH_REFUSED", `${owner}: ${this.token_url.origin} answered no access token`, { status: outcome.status, attempts: outcome.attempts });
    this.access = { token: parsed.data.access_token, expires_at_ms: this.time.clock.now() + parsed.data.expires_in * 1000 };
    return parsed.data.access_token;
  }
}

const tokenAnswer = z.object({ access_token: z.string().min(1), expires_in: z.number().int().positive(), token_type: z.string().regex(/^bearer$/i) });

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The request body PushFcm sends, at most FCM_PAYLOAD_BYTES_MAX bytes; null if it cannot fit. */
export function fcmMessage(token: string, notification: PushNotification, options: { content_free: boolean; ttl_seconds: number }): string | null {
  const ttl = `${options.ttl_seconds}s`;
  if (options.content_free) return JSON.stringify({ message: { token, data: { wake: "1" }, android: { priority: "high", collapse_key: "wake", ttl } } });
  const { user_id, conversation_id, message_id, from, group_id } = notification;
  const encode = (preview: string | null): string =>
    JSON.stringify({
      message: {
        token,
        data: { user_id, conversation_id, message_id, from, ...(group_id === null ? {} : { group_id }), ...(preview === null ? {} : { preview }) },
        android: { priority: "high", collapse_key: conversation_id, ttl },
      },
    });
  return fitPreview(encode, notification.preview, FCM_PAYLOAD_BYTES_MAX);
}

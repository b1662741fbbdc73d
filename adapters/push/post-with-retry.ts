/**
 * postWithRetry: one HTTP POST to a push provider, retried with exponential backoff and jitter
 * while the failure may pass (no answer, a timeout, 5xx, 429), within two bounds: at most
 * `attempts_max` requests, and no retry that would start after `deadline_ms` from the first.
 * It answers the last outcome and never throws; the provider turns it into its verdict.
 *
 * Rules:
 * - Time reaches this file only through `PushTime` (clock, random, sleep), so tests cross any
 *   backoff without waiting. Only the per-attempt timeout is real time (an AbortSignal),
 *   because it bounds a real socket.
 * - Each attempt gets min(attempt_timeout_ms, time left before the deadline).
 * - A `Retry-After` answer lengthens the pause (never shortens it); one that reaches past the
 *   deadline ends the retries at once.
 * - Redirects are not followed: a push URL is registered as is, and a 3xx is a refusal.
 * - At most `RESPONSE_DETAIL_BYTES_MAX` bytes of an answer are read, for the error message.
 * - A target refused by guardedFetch (a private address) is not retried.
 */
import { setTimeout as sleepReal } from "node:timers/promises";
import type { Clock, Random } from "../../core/ports/clock.js";
import { assert } from "../../core/result.js";
import { ClockSystem } from "../memory/clock-memory.js";
import { RandomSystem } from "../memory/random-memory.js";
import { PushError, PushTargetGone } from "./errors.js";
import { BlockedAddressError } from "./guarded-fetch.js";

export type RetryPolicy = {
  /** Requests sent at most, the first included. */
  readonly attempts_max: number;
  /** No retry starts later than this after the first request started. */
  readonly deadline_ms: number;
  /** One request (answer and body) may take at most this long. */
  readonly attempt_timeout_ms: number;
  /** The pause after the first failure, before jitter; it doubles after each further one. */
  readonly backoff_ms_initial: number;
  readonly backoff_ms_max: number;
};

export const RETRY_POLICY_DEFAULT: RetryPolicy = {
  attempts_max: 4,
  deadline_ms: 30_000,
  attempt_timeout_ms: 10_000,
  backoff_ms_initial: 500,
  backoff_ms_max: 8_000,
};

export type PushTime = {
  readonly clock: Clock;
  readonly random: Random;
  sleep(ms: number): Promise<void>;
};

/** What the mobile push providers (APNs, FCM) are configured with alike. */
export type MobilePushOptions = {
  /** Only a wake-up: no IDs, no text (default false). */
  readonly content_free?: boolean;
  /** Whether the preview goes to the service at all (default true). */
  readonly include_preview?: boolean;
  /** How long the service keeps an undelivered notification (default one day). */
  readonly ttl_seconds?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly time?: PushTime;
};

export const PUSH_TIME_SYSTEM: PushTime = {
  clock: new ClockSystem(),
  random: new RandomSystem(),
  sleep: (ms) => sleepReal(ms),
};

export type FetchFunction = typeof globalThis.fetch;

export type PostRequest = {
  readonly url: URL;
  /** The headers of attempt `attempt` (1-based), built again for each (a timestamp may change). */
  headers(attempt: number): Record<string, string>;
  readonly body: Uint8Array | string;
};

export type PostOutcome = {
  /** The status of the last answer, or null when the last attempt got none. */
  readonly status: number | null;
  readonly attempts: number;
  /** What went wrong, for an error message: the start of the answer's body, or the failure. */
  readonly detail: string;
  /** The failure of the last attempt when it got no answer. */
  readonly cause: unknown;
};

const RESPONSE_DETAIL_BYTES_MAX = 512;
const UINT32_RANGE = 2 ** 32;

export function retryPolicy(overrides: Partial<RetryPolicy> | undefined, owner: string): RetryPolicy {
  const policy = { ...RETRY_POLICY_DEFAULT, ...overrides };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isSafeInteger(value) || value < (name === "attempts_max" ? 1 : 0)) {
      throw new Error(`${owner}: retry.${name} must be a ${name === "attempts_max" ? "positive" : "non-negative"} integer, got ${value}`);
    }
  }
  if (policy.attempt_timeout_ms === 0) throw new Error(`${owner}: retry.attempt_timeout_ms must be positive`);
  return policy;
}

/** Whether a failure with this status (null: no answer) may pass by itself. */
export function isRetryable(status: number | null): boolean {
  return status === null || status === 429 || status >= 500;
}

export async function postWithRetry(request: PostRequest, policy: RetryPolicy, time: PushTime, fetchFunction: FetchFunction): Promise<PostOutcome> {
  const deadline_ms = time.clock.now() + policy.deadline_ms;
  for (let attempt = 1; ; attempt++) {
    const timeout_ms = Math.max(1, Math.min(policy.attempt_timeout_ms, deadline_ms - time.clock.now()));
    const answer = await postOnce(request, attempt, timeout_ms, time.clock, fetchFunction);
    const outcome: PostOutcome = { status: answer.status, attempts: attempt, detail: answer.detail, cause: answer.cause };
    if (answer.status !== null && answer.status >= 200 && answer.status < 300) return outcome;
    // A refused address stays refused: no retry, the provider reports it as an invalid target.
    if (answer.cause instanceof BlockedAddressError) return outcome;
    if (!isRetryable(answer.status) || attempt >= policy.attempts_max) return outcome;
    const pause_ms = Math.max(backoff(policy, attempt, time.random), answer.retry_after_ms ?? 0);
    if (time.clock.now() + pause_ms >= deadline_ms) return outcome;
    await time.sleep(pause_ms);
  }
}

/**
 * Resolves when `outcome` is an acceptance (2xx); otherwise throws the fitting PushError:
 * PushTargetGone for a status in `gone_statuses`, PUSH_UNAVAILABLE when the failure might
 * have passed, PUSH_REFUSED when it would not. `owner` and `origin` go into the message.
 */
export function acceptedOrThrow(outcome: PostOutcome, owner: string, origin: string, gone_statuses: readonly number[]): void {
  const { status, attempts } = outcome;
  if (status !== null && status >= 200 && status < 300) return;
  const tries = `after ${attempts} attempt${attempts === 1 ? "" : "s"}`;
  const detail = outcome.detail.length === 0 ? "" : `: ${outcome.detail}`;
  const details = { status, attempts, cause: outcome.cause ?? undefined };
  if (status === null) throw new PushError("PUSH_UNAVAILABLE", `${owner}: ${origin} gave no answer ${tries}${detail}`, details);
  const answered = `${owner}: ${origin} answered ${status} ${tries}${detail}`;
  if (gone_statuses.includes(status)) throw new PushTargetGone(answered, details);
  throw new PushError(isRetryable(status) ? "PUSH_UNAVAILABLE" : "PUSH_REFUSED", answered, details);
}

/** Equal jitter: half the exponential step for sure, the other half at random. */
function backoff(policy: RetryPolicy, failures: number, random: Random): number {
  const step_ms = Math.min(policy.backoff_ms_max, policy.backoff_ms_initial * 2 ** Math.min(failures - 1, 30));
  const fraction = random.uint32() / UINT32_RANGE;
  assert(fraction >= 0 && fraction < 1, `postWithRetry: random.uint32() out of range: ${fraction}`);
  return Math.floor(step_ms / 2 + fraction * (step_ms / 2));
}

type Answer = { readonly status: number | null; readonly retry_after_ms: number | null; readonly detail: string; readonly cause: unknown };

async function postOnce(request: PostRequest, attempt: number, timeout_ms: number, clock: Clock, fetchFunction: FetchFunction): Promise<Answer> {
  const signal = AbortSignal.timeout(timeout_ms);
  let response: Response;
  try {
    response = await fetchFunction(request.url, { method: "POST", headers: request.headers(attempt), body: typeof request.body === "string" ? request.body : new Uint8Array(request.body), redirect: "manual", signal });
  } catch (cause) {
    return { status: null, retry_after_ms: null, detail: describeFailure(cause, timeout_ms), cause };
  }
  const detail = await readDetail(response);
  return { status: response.status, retry_after_ms: parseRetryAfter(response.headers.get("retry-after"), clock.now()), detail, cause: null };
}

function describeFailure(cause: unknown, timeout_ms: number): string {
  if (cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError")) return `no answer within ${timeout_ms} ms`;
  const inner = cause instanceof Error ? cause.cause : undefined;
  const code = typeof inner === "object" && inner !== null && "code" in inner ? String(inner.code) : null;
  const message = cause instanceof Error ? cause.message : String(cause);
  return code === null ? message : `${message} (${code})`;
}

/** The start of an answer's body, as text; the rest is dropped unread. */
async function readDetail(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    while (bytes < RESPONSE_DETAIL_BYTES_MAX) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.length;
    }
  } catch {
    // The body failed or timed out after the status came: the status is the answer.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).subarray(0, RESPONSE_DETAIL_BYTES_MAX).toString("utf8");
  return text.replace(/\s+/g, " ").trim();
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now_ms: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^[0-9]{1,9}$/.test(trimmed)) return Number(trimmed) * 1000;
  const at_ms = Date.parse(trimmed);
  return Number.isNaN(at_ms) ? null : Math.max(0, at_ms - now_ms);
}

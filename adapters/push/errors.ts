/**
 * The errors push providers reject with, one class per thing a caller acts on differently,
 * each with a stable code (the ws way): the message says what happened and to which target
 * (its origin only: webhook URLs and push endpoints are capabilities, not for logs).
 *
 * - PushTargetGone: the provider says the registration no longer exists (Web Push 404 or
 *   410, webhook 410); the caller should delete the registration.
 * - PushError with code PUSH_TARGET_INVALID: the token cannot be a target of its platform;
 *   it never will be, so the caller may delete it too.
 * - PUSH_REFUSED: the provider answered, and not with acceptance (a 3xx or 4xx); retrying the
 *   same request would not help.
 * - PUSH_UNAVAILABLE: no answer, or 5xx / 429, until the retry bounds ran out.
 * - PUSH_NO_PROVIDER, PUSH_WRONG_PLATFORM: configuration, not the target.
 * - PUSH_PAYLOAD_TOO_LARGE: the notification does not fit even without a preview.
 */
export type PushErrorCode =
  | "PUSH_TARGET_GONE"
  | "PUSH_TARGET_INVALID"
  | "PUSH_REFUSED"
  | "PUSH_UNAVAILABLE"
  | "PUSH_NO_PROVIDER"
  | "PUSH_WRONG_PLATFORM"
  | "PUSH_PAYLOAD_TOO_LARGE";

export type PushErrorDetails = {
  /** The last HTTP status the provider answered, or null when it never answered. */
  readonly status?: number | null;
  /** How many requests were sent (0 when none was). */
  readonly attempts?: number;
  readonly cause?: unknown;
};

export class PushError extends Error {
  readonly code: PushErrorCode;
  readonly status: number | null;
  readonly attempts: number;

  constructor(code: PushErrorCode, message: string, details: PushErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "PushError";
    this.code = code;
    this.status = details.status ?? null;
    this.attempts = details.attempts ?? 0;
  }
}

/** The provider says the registration is gone for good: delete it. */
export class PushTargetGone extends PushError {
  constructor(message: string, details: PushErrorDetails = {}) {
    super("PUSH_TARGET_GONE", message, details);
    this.name = "PushTargetGone";
  }
}


/**
 * Every error a client can see, with its stable code and HTTP status. One factory builds
 * them all (as `ws` does with its WS_ERR_* codes), so a code never drifts from its status
 * and every message is a sentence that names what was wrong.
 */
export const ERROR_CODES = {
  // Input that does not parse or fit the schema (400 / 413 / 422).
  MALFORMED_JSON: 400,
  MALFORMED_FRAME: 400,
  UNKNOWN_EVENT: 400,
  MISSING_FIELD: 400,
  INVALID_FIELD: 400,
  FIELD_TOO_LONG: 400,
  /** Not even HTTP: a request line or header the server could not parse. */
  MALFORMED_REQUEST: 400,
  /** The request (headers, or headers and body) did not arrive within the node's timeout. */
  REQUEST_TIMEOUT: 408,
  FRAME_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  MEDIA_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  GROUP_TOO_LARGE: 422,
  UNKNOWN_USER: 422,
  UNKNOWN_MEDIA: 422,
  SELF_MESSAGE: 422,
  TOO_MANY_SUBSCRIPTIONS: 422,
  TOO_MANY_DEVICES: 422,
  // Who you are and what you may do (401 / 403 / 404 / 409).
  UNAUTHENTICATED: 401,
  BAD_CREDENTIALS: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  NOT_A_MEMBER: 403,
  WRONG_PASSWORD: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  UNKNOWN_MESSAGE: 404,
  /** A device connected to a gateway outside its user's home region (docs/OPERATIONS.md, "Regions"). */
  WRONG_REGION: 421,
  USERNAME_TAKEN: 409,
  CLIENT_MSG_ID_REUSED: 409,
  /** A resumable upload completed while some of its parts are not stored yet. */
  UPLOAD_INCOMPLETE: 409,
  // The service pushing back or a dependency failing (429 / 503): always retryable.
  RATE_LIMITED: 429,
  OVERLOADED: 503,
  LOG_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  DRAINING: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes after which the same request may succeed if simply sent again. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "RATE_LIMITED",
  "OVERLOADED",
  "LOG_UNAVAILABLE",
  "STORE_UNAVAILABLE",
  "DRAINING",
  "INTERNAL",
]);

export type ApiError = {
  readonly code: ErrorCode;
  readonly message: string;
  /** The field at fault, as a dotted path (`data.client_msg_id`), when one is. */
  readonly field?: string;
};

export function apiError(code: ErrorCode, message: string, field?: string): ApiError {
  return field === undefined ? { code, message } : { code, message, field };
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}

export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

/** The REST error body of API.md: `{"error": {"code", "message"}}`. */
export function errorBody(error: ApiError): { error: { code: ErrorCode; message: string } } {
  return { error: { code: error.code, message: error.message } };
}

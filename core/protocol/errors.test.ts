/**
 * The error table of API.md: every code has a fitting HTTP status, exactly the 429 / 5xx codes
 * are retryable, and the REST error body has the documented shape.
 */
import { describe, expect, it } from "vitest";
import { apiError, ERROR_CODES, errorBody, httpStatusOf, isRetryable, type ErrorCode } from "./errors.js";

// API.md's list, plus the two HTTP-level refusals the edge answers before a route runs
// (408 a request that did not arrive in time, 431 headers too large), and 421 for a device
// that connects to a gateway outside its home region (WRONG_REGION, at the upgrade).
const ALLOWED_STATUSES = new Set([400, 401, 403, 404, 408, 409, 413, 415, 421, 422, 429, 431, 500, 503]);
const codes = Object.keys(ERROR_CODES) as ErrorCode[];

describe("ERROR_CODES", () => {
  it("is not empty and every code is SNAKE_CASE (what the error frame's schema accepts)", () => {
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });

  it.each(codes)("%s maps to an allowed HTTP status, and httpStatusOf agrees", (code) => {
    const status = httpStatusOf(code);
    expect(ALLOWED_STATUSES.has(status)).toBe(true);
    expect(status).toBe(ERROR_CODES[code]);
  });

  it("pins the statuses API.md names", () => {
    const named: Record<string, number> = {
      MALFORMED_JSON: 400,
      MALFORMED_FRAME: 400,
      UNKNOWN_EVENT: 400,
      MISSING_FIELD: 400,
      INVALID_FIELD: 400,
      FIELD_TOO_LONG: 400,
      FRAME_TOO_LARGE: 413,
      BODY_TOO_LARGE: 413,
      USERNAME_TAKEN: 409,
      BAD_CREDENTIALS: 401,
      UNAUTHENTICATED: 401,
      NOT_A_MEMBER: 403,
      NOT_FOUND: 404,
      GROUP_TOO_LARGE: 422,
      UNKNOWN_USER: 422,
      WRONG_REGION: 421,
      RATE_LIMITED: 429,
      OVERLOADED: 503,
      DRAINING: 503,
    };
    for (const [code, status] of Object.entries(named)) {
      expect(Object.hasOwn(ERROR_CODES, code), code).toBe(true);
      expect(httpStatusOf(code as ErrorCode), code).toBe(status);
    }
  });
});

describe("isRetryable", () => {
  it("is true for exactly the 429 and 5xx codes", () => {
    const retryable = codes.filter((c) => isRetryable(c)).sort();
    const expected = codes.filter((c) => ERROR_CODES[c] === 429 || ERROR_CODES[c] >= 500).sort();
    expect(retryable).toEqual(expected);
    expect(retryable).toContain("RATE_LIMITED");
    expect(retryable).toContain("OVERLOADED");
  });

  it.each(codes)("%s: retryable iff its status is 429 or 5xx", (code) => {
    const status = httpStatusOf(code);
    expect(isRetryable(code)).toBe(status === 429 || status >= 500);
  });
});

describe("apiError and errorBody", () => {
  it("apiError without a field has no field key", () => {
    const e = apiError("MALFORMED_JSON", "The frame is not valid JSON.");
    expect(e).toStrictEqual({ code: "MALFORMED_JSON", message: "The frame is not valid JSON." });
    expect("field" in e).toBe(false);
  });

  it("apiError with a field keeps it", () => {
    expect(apiError("MISSING_FIELD", "data.to is required.", "data.to")).toStrictEqual({
      code: "MISSING_FIELD",
      message: "data.to is required.",
      field: "data.to",
    });
  });

  it('errorBody is exactly {"error": {"code", "message"}} and drops the field', () => {
    const body = errorBody(apiError("INVALID_FIELD", "data.client_msg_id must be a UUID.", "data.client_msg_id"));
    expect(body).toStrictEqual({ error: { code: "INVALID_FIELD", message: "data.client_msg_id must be a UUID." } });
    expect(Object.keys(body)).toEqual(["error"]);
    expect(Object.keys(body.error).sort()).toEqual(["code", "message"]);
    expect(JSON.parse(JSON.stringify(body))).toStrictEqual(body);
  });

  it.each(codes)("errorBody keeps code %s and its message", (code) => {
    expect(errorBody(apiError(code, `A ${code} happened.`))).toStrictEqual({ error: { code, message: `A ${code} happened.` } });
  });
});

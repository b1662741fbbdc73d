/**
 * Every REST body (decoded from text with `decodeBody`) and query (decoded from the parsed query
 * object with `decodeWith`) of rest.ts: one valid example, then a table of bad inputs per field
 * asserting the exact code, the field path and that the message names it; then the body-level
 * errors (size, JSON, non-object).
 *
 * Rows marked `bug` pin a defect these tests found, now fixed
 * (see frames.test.ts for B1..B6; B2 = a missing enum field is INVALID_FIELD, not MISSING_FIELD;
 * B7 = decodeWith on a non-object value reports `field: "the body"`, which is not a path).
 */
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { LIMITS } from "../limits.js";
import type { Result } from "../result.js";
import { decodeBody, decodeWith } from "./decode.js";
import type { ApiError, ErrorCode } from "./errors.js";
import {
  addMembersBody,
  createGroupBody,
  createMediaBody,
  createSessionBody,
  createUserBody,
  historyQuery,
  inboxQuery,
  createUploadBody,
  lookupUserQuery,
  partUrlsBody,
  registerDeviceBody,
} from "./rest.js";

type Bug = "B2" | "B7";
type Patch = { readonly omit: string } | { readonly set: string; readonly to: unknown };
type BadRow = {
  readonly patch: Patch;
  readonly code: ErrorCode;
  readonly field: string;
  readonly why: string;
  readonly bug?: Bug;
};

const omit = (field: string, bug?: Bug): BadRow =>
  bug === undefined
    ? { patch: { omit: field }, code: "MISSING_FIELD", field, why: "missing" }
    : { patch: { omit: field }, code: "MISSING_FIELD", field, why: "missing", bug };
const bad = (field: string, to: unknown, code: ErrorCode, why: string, at: string = field): BadRow => ({
  patch: { set: field, to },
  code,
  field: at,
  why,
});

function apply(value: Record<string, unknown>, patch: Patch): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...value };
  if ("omit" in patch) delete copy[patch.omit];
  else copy[patch.set] = patch.to;
  return copy;
}

function expectError(result: Result<unknown, ApiError>, code: ErrorCode, field?: string): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  expect(result.error.message.length).toBeGreaterThan(0);
  expect(result.error.field).toBe(field);
  if (field !== undefined) expect(result.error.message).toContain(field);
}

const LONG_ID = "a".repeat(LIMITS.idCharsMax + 1);
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `u${i}`);

function usernameRows(field: string, required = true): BadRow[] {
  return [
    ...(required ? [omit(field)] : []),
    bad(field, 42, "INVALID_FIELD", "a number"),
    bad(field, "ab", "INVALID_FIELD", "too short"),
    bad(field, "a".repeat(LIMITS.usernameCharsMax + 1), "FIELD_TOO_LONG", "too long"),
    bad(field, "Alice", "INVALID_FIELD", "upper case"),
    bad(field, "al ice", "INVALID_FIELD", "a space"),
    bad(field, "alïce", "INVALID_FIELD", "a non-ASCII letter"),
  ];
}
function passwordRows(field: string): BadRow[] {
  return [
    omit(field),
    bad(field, 12345678, "INVALID_FIELD", "a number"),
    bad(field, "1234567", "INVALID_FIELD", "too short"),
    bad(field, "p".repeat(LIMITS.passwordCharsMax + 1), "FIELD_TOO_LONG", "too long"),
  ];
}
function idListRows(field: string, min: number, max: number): BadRow[] {
  return [
    omit(field),
    bad(field, "u1", "INVALID_FIELD", "a string, not an array"),
    ...(min > 0 ? [bad(field, [], "INVALID_FIELD", "empty")] : []),
    bad(field, ids(max + 1), "INVALID_FIELD", `${max + 1} items`),
    bad(field, ["u1", 42], "INVALID_FIELD", "a number item", `${field}.1`),
    bad(field, ["a b"], "INVALID_FIELD", "a bad item", `${field}.0`),
    bad(field, [LONG_ID], "FIELD_TOO_LONG", "a too long item", `${field}.0`),
  ];
}

type Spec = {
  readonly name: string;
  readonly schema: z.ZodType;
  /** Bodies go through decodeBody(JSON text); queries through decodeWith(object). */
  readonly kind: "body" | "query";
  readonly valid: Record<string, unknown>;
  readonly expected: Record<string, unknown>;
  readonly alsoValid: readonly (readonly [Record<string, unknown>, Record<string, unknown>])[];
  readonly rows: readonly BadRow[];
};

const specs: readonly Spec[] = [
  {
    name: "createUserBody",
    schema: createUserBody,
    kind: "body",
    valid: { username: "alice", password: "correct horse" },
    expected: { username: "alice", password: "correct horse" },
    alsoValid: [
      [
        { username: "a.b", password: "12345678" },
        { username: "a.b", password: "12345678" },
      ],
      [
        { username: "a".repeat(32), password: "p".repeat(256) },
        { username: "a".repeat(32), password: "p".repeat(256) },
      ],
      [
        { username: "al_i-ce.9", password: "pässwörd 😀", extra: 1 },
        { username: "al_i-ce.9", password: "pässwörd 😀" },
      ],
    ],
    rows: [...usernameRows("username"), ...passwordRows("password")],
  },
  {
    name: "createSessionBody",
    schema: createSessionBody,
    kind: "body",
    valid: { username: "alice", password: "correct horse" },
    expected: { username: "alice", password: "correct horse" },
    alsoValid: [],
    rows: [...usernameRows("username"), ...passwordRows("password")],
  },
  {
    name: "lookupUserQuery",
    schema: lookupUserQuery,
    kind: "query",
    valid: { username: "bob" },
    expected: { username: "bob" },
    alsoValid: [[{ username: "b_o.b-1", other: "x" }, { username: "b_o.b-1" }]],
    rows: [...usernameRows("username"), bad("username", ["bob", "bob"], "INVALID_FIELD", "repeated in the query")],
  },
  {
    name: "createGroupBody",
    schema: createGroupBody,
    kind: "body",
    valid: { name: "Team", member_ids: ["bob", "carol"] },
    expected: { name: "Team", member_ids: ["bob", "carol"] },
    alsoValid: [
      [
        { name: "  Team  ", member_ids: [] },
        { name: "Team", member_ids: [] },
      ],
      [
        { name: ` ${"n".repeat(LIMITS.groupNameCharsMax)} `, member_ids: ["bob", "bob"] },
        { name: "n".repeat(LIMITS.groupNameCharsMax), member_ids: ["bob", "bob"] },
      ],
      [
        { name: "Team", member_ids: ids(LIMITS.groupMembersMax * 2) },
        { name: "Team", member_ids: ids(LIMITS.groupMembersMax * 2) },
      ],
    ],
    rows: [
      omit("name"),
      bad("name", 42, "INVALID_FIELD", "a number"),
      bad("name", "", "INVALID_FIELD", "empty"),
      bad("name", "   ", "INVALID_FIELD", "blank once trimmed"),
      bad("name", "n".repeat(LIMITS.groupNameCharsMax + 1), "FIELD_TOO_LONG", "too long"),
      ...idListRows("member_ids", 0, LIMITS.groupMembersMax * 2),
    ],
  },
  {
    name: "addMembersBody",
    schema: addMembersBody,
    kind: "body",
    valid: { user_ids: ["dave"] },
    expected: { user_ids: ["dave"] },
    alsoValid: [[{ user_ids: ids(LIMITS.addMembersBatchMax) }, { user_ids: ids(LIMITS.addMembersBatchMax) }]],
    rows: idListRows("user_ids", 1, LIMITS.addMembersBatchMax),
  },
  {
    name: "createMediaBody",
    schema: createMediaBody,
    kind: "body",
    valid: { content_type: "image/png", size: 1024, filename: "cat.png" },
    expected: { content_type: "image/png", size: 1024, filename: "cat.png" },
    alsoValid: [
      [
        { content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", size: 1 },
        { content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", size: 1 },
      ],
      [
        { content_type: "IMAGE/JPEG", size: LIMITS.mediaBytesMax, filename: "f".repeat(LIMITS.mediaFilenameCharsMax) },
        { content_type: "IMAGE/JPEG", size: LIMITS.mediaBytesMax, filename: "f".repeat(LIMITS.mediaFilenameCharsMax) },
      ],
    ],
    rows: [
      omit("content_type"),
      bad("content_type", 42, "INVALID_FIELD", "a number"),
      bad("content_type", "png", "INVALID_FIELD", "no slash"),
      bad("content_type", "image/png; charset=x", "INVALID_FIELD", "parameters"),
      bad("content_type", "", "INVALID_FIELD", "empty"),
      bad("content_type", `image/${"x".repeat(122)}`, "FIELD_TOO_LONG", "128 characters"),
      omit("size"),
      bad("size", "1024", "INVALID_FIELD", "a string"),
      bad("size", 0, "INVALID_FIELD", "zero"),
      bad("size", -1, "INVALID_FIELD", "negative"),
      bad("size", 1.5, "INVALID_FIELD", "not an integer"),
      bad("size", LIMITS.mediaBytesMax + 1, "INVALID_FIELD", "over the media limit"),
      bad("filename", "", "INVALID_FIELD", "empty"),
      bad("filename", 42, "INVALID_FIELD", "a number"),
      bad("filename", null, "INVALID_FIELD", "null"),
      bad("filename", "f".repeat(LIMITS.mediaFilenameCharsMax + 1), "FIELD_TOO_LONG", "too long"),
    ],
  },
  {
    name: "createUploadBody",
    schema: createUploadBody,
    kind: "body",
    valid: { content_type: "video/mp4", size: LIMITS.mediaBytesMax + 1, filename: "trip.mp4" },
    expected: { content_type: "video/mp4", size: LIMITS.mediaBytesMax + 1, filename: "trip.mp4" },
    // Above the resumable bound it is still well-formed: the route answers 413 naming the bound.
    alsoValid: [[{ content_type: "video/mp4", size: LIMITS.mediaResumableBytesMax + 1 }, { content_type: "video/mp4", size: LIMITS.mediaResumableBytesMax + 1 }]],
    rows: [
      omit("content_type"),
      bad("content_type", "png", "INVALID_FIELD", "no slash"),
      omit("size"),
      bad("size", 0, "INVALID_FIELD", "zero"),
      bad("size", 1.5, "INVALID_FIELD", "not an integer"),
      bad("size", "5", "INVALID_FIELD", "a string"),
      bad("filename", "f".repeat(LIMITS.mediaFilenameCharsMax + 1), "FIELD_TOO_LONG", "too long"),
    ],
  },
  {
    name: "partUrlsBody",
    schema: partUrlsBody,
    kind: "body",
    valid: { part_numbers: [2, 1] },
    expected: { part_numbers: [2, 1] },
    alsoValid: [[{ part_numbers: Array.from({ length: LIMITS.mediaPartUrlsPerRequestMax }, (_, i) => i + 1) }, { part_numbers: Array.from({ length: LIMITS.mediaPartUrlsPerRequestMax }, (_, i) => i + 1) }]],
    rows: [
      omit("part_numbers"),
      bad("part_numbers", [], "INVALID_FIELD", "empty"),
      bad("part_numbers", [0], "INVALID_FIELD", "part 0", "part_numbers.0"),
      bad("part_numbers", [1.5], "INVALID_FIELD", "not an integer", "part_numbers.0"),
      bad("part_numbers", [1, 1], "INVALID_FIELD", "repeated"),
      bad("part_numbers", Array.from({ length: LIMITS.mediaPartUrlsPerRequestMax + 1 }, (_, i) => i + 1), "INVALID_FIELD", "too many"),
    ],
  },
  {
    name: "registerDeviceBody",
    schema: registerDeviceBody,
    kind: "body",
    valid: { platform: "fcm", token: "device-token" },
    expected: { platform: "fcm", token: "device-token" },
    alsoValid: [
      [
        { platform: "apns", token: "t" },
        { platform: "apns", token: "t" },
      ],
      [
        { platform: "webhook", token: "x".repeat(LIMITS.deviceTokenCharsMax) },
        { platform: "webhook", token: "x".repeat(LIMITS.deviceTokenCharsMax) },
      ],
    ],
    rows: [
      omit("platform", "B2"),
      bad("platform", "sms", "INVALID_FIELD", "not a platform"),
      bad("platform", "FCM", "INVALID_FIELD", "upper case"),
      bad("platform", 1, "INVALID_FIELD", "a number"),
      omit("token"),
      bad("token", 42, "INVALID_FIELD", "a number"),
      bad("token", "", "INVALID_FIELD", "empty"),
      bad("token", "x".repeat(LIMITS.deviceTokenCharsMax + 1), "FIELD_TOO_LONG", "too long"),
    ],
  },
  ...(
    [
      ["historyQuery", historyQuery, LIMITS.historyPageMessagesMax, LIMITS.historyPageMessagesDefault],
      ["inboxQuery", inboxQuery, LIMITS.inboxPageConversationsMax, LIMITS.inboxPageConversationsDefault],
    ] as const
  ).map(
    ([name, schema, max, dflt]): Spec => ({
      name,
      schema,
      kind: "query",
      valid: { before: "cursor-1", limit: "20" },
      expected: { before: "cursor-1", limit: 20 },
      alsoValid: [
        [{}, { limit: dflt }],
        [{ limit: "1" }, { limit: 1 }],
        [{ limit: String(max) }, { limit: max }],
        [{ limit: " 7 " }, { limit: 7 }],
        [{ limit: 30 }, { limit: 30 }],
        [{ before: "c".repeat(200) }, { before: "c".repeat(200), limit: dflt }],
      ],
      rows: [
        bad("before", "", "INVALID_FIELD", "empty"),
        bad("before", "c".repeat(201), "FIELD_TOO_LONG", "too long"),
        bad("before", ["a", "b"], "INVALID_FIELD", "repeated in the query"),
        bad("limit", "0", "INVALID_FIELD", "zero"),
        bad("limit", "-1", "INVALID_FIELD", "negative"),
        bad("limit", String(max + 1), "INVALID_FIELD", "over the maximum"),
        bad("limit", "abc", "INVALID_FIELD", "not a number"),
        bad("limit", "1.5", "INVALID_FIELD", "not an integer"),
        bad("limit", "", "INVALID_FIELD", "empty"),
        bad("limit", ["5", "6"], "INVALID_FIELD", "repeated in the query"),
      ],
    }),
  ),
];

function decodeAs(spec: Spec, value: Record<string, unknown>): Result<unknown, ApiError> {
  return spec.kind === "body" ? decodeBody(spec.schema, JSON.stringify(value)) : decodeWith(spec.schema, value);
}

for (const spec of specs) {
  describe(`${spec.name} (${spec.kind === "body" ? "decodeBody" : "decodeWith"})`, () => {
    it("decodes a valid example to the expected value", () => {
      expect(decodeAs(spec, spec.valid)).toEqual({ ok: true, value: spec.expected });
    });
    for (const [i, [input, output]] of spec.alsoValid.entries()) {
      it(`decodes valid variant #${i + 1}`, () => {
        expect(decodeAs(spec, input)).toEqual({ ok: true, value: output });
      });
    }
    for (const row of spec.rows) {
      const name = `${row.field}: ${row.why} -> ${row.code}`;
      const body = (): void => {
        expectError(decodeAs(spec, apply(spec.valid, row.patch)), row.code, row.field);
      };
      if (row.bug === undefined) it(name, body);
      else it(`[${row.bug}] ${name}`, body);
    }
  });
}

describe("decodeBody: the body as a whole", () => {
  const max = LIMITS.bodyBytesMax;
  /** A valid createUserBody padded with trailing spaces to exactly `bytes` UTF-8 bytes. */
  const bodyOf = (bytes: number, fill = "x"): string => {
    const head = '{"username":"alice","password":"12345678","pad":"';
    const tail = '"}';
    const room = bytes - head.length - tail.length;
    const n = Math.floor(room / Buffer.byteLength(fill));
    return head + fill.repeat(n) + tail + " ".repeat(room - n * Buffer.byteLength(fill));
  };
  const utf8 = (text: string): number => new TextEncoder().encode(text).length;

  it("a body of exactly the limit decodes; one byte more is BODY_TOO_LARGE", () => {
    expect(utf8(bodyOf(max))).toBe(max);
    expect(decodeBody(createUserBody, bodyOf(max))).toEqual({ ok: true, value: { username: "alice", password: "12345678" } });
    expectError(decodeBody(createUserBody, bodyOf(max + 1)), "BODY_TOO_LARGE");
  });

  it.each(["é", "€", "😀"])("multi-byte %s: under the limit in characters, over it in bytes -> BODY_TOO_LARGE", (ch) => {
    const text = bodyOf(max + 3, ch);
    expect(text.length).toBeLessThan(max);
    expect(utf8(text)).toBeGreaterThan(max);
    const r = decodeBody(createUserBody, text);
    expectError(r, "BODY_TOO_LARGE");
    if (!r.ok) expect(r.error.message).toContain(String(max));
  });

  it("the size is checked before JSON, and the limit is a parameter", () => {
    expectError(decodeBody(createUserBody, "x".repeat(max + 1)), "BODY_TOO_LARGE");
    expectError(decodeBody(createUserBody, bodyOf(101, "é"), 100), "BODY_TOO_LARGE");
    expect(decodeBody(createUserBody, bodyOf(100, "é"), 100).ok).toBe(true);
  });

  it.each(["", "{", "username=alice", "{'username':'alice'}", '{"username":"alice",}', "undefined"])(
    "not JSON %j -> MALFORMED_JSON",
    (text) => {
      expectError(decodeBody(createUserBody, text), "MALFORMED_JSON");
    },
  );

  it.each(["[]", '[{"username":"alice","password":"12345678"}]', "42", "null", "true", '"alice"'])(
    "JSON but not an object %j -> INVALID_FIELD",
    (text) => {
      expectError(decodeBody(createUserBody, text), "INVALID_FIELD");
    },
  );

  it("an empty object reports the first required field", () => {
    expectError(decodeBody(createUserBody, "{}"), "MISSING_FIELD", "username");
  });
});

describe("decodeWith on a value that is not an object", () => {
  // B7: issueToError names an empty path "the body" and puts that phrase into `field`, which
  // ApiError documents as a dotted path. Expected: the error has no `field` (like decodeBody's
  // own non-object check), the code stays INVALID_FIELD / MISSING_FIELD.
  for (const value of [null, "limit=5", 5, []]) {
    it(`[B7] ${JSON.stringify(value)} -> INVALID_FIELD without a field path`, () => {
      expectError(decodeWith(historyQuery, value), "INVALID_FIELD");
    });
  }
  it("[B7] undefined -> MISSING_FIELD without a field path", () => {
    expectError(decodeWith(historyQuery, undefined), "MISSING_FIELD");
  });
  it("is rejected with a non-empty message (never throws)", () => {
    for (const value of [null, "limit=5", 5, [], undefined]) {
      const r = decodeWith(historyQuery, value);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message.length).toBeGreaterThan(0);
    }
  });
});

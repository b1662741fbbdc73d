/**
 * Every WebSocket frame of API.md, decoded at the edge: one valid example per frame, then a
 * table of bad inputs per field asserting the exact error code, the dotted field path and that
 * the message names that path; then the envelope errors (JSON, shape, event, size).
 *
 * Rows marked `bug` pin a defect these tests found in the decoders (B1..B7, tagged per row
 * ); all are fixed, and the [Bn] tag in a test's name says which one it guards.
 */
import { describe, expect, it } from "vitest";
import { LIMITS } from "../limits.js";
import type { Result } from "../result.js";
import { decodeClientFrame, decodeServerFrame } from "./decode.js";
import type { ApiError, ErrorCode } from "./errors.js";

/**
 * Confirmed defects (see the report of the protocol test pass):
 * - B1: a missing `client_msg_id` gives INVALID_FIELD, not MISSING_FIELD (the custom message of
 *   `z.guid("must be a UUID")` hides zod's "received undefined" that issueToError looks for).
 * - B2: a missing enum field (`type`, `status`, `platform`) gives INVALID_FIELD, not
 *   MISSING_FIELD (zod 4 reports a missing enum as `invalid_value`).
 * - B3: typing with a wrongly typed `to`/`group_id` (number, null) names `data`, not the field.
 * - B4: an `event` that is present but not a string gives MISSING_FIELD, not INVALID_FIELD.
 * - B6: the UTF-8 byte count undercounts lone surrogates, so an over-limit frame decodes.
 */
type Bug = "B1" | "B2" | "B3" | "B4" | "B6";

const UUID = "123e4567-e89b-12d3-a456-426614174000";
const MID = "0000000000000000042";
const LONG_ID = "a".repeat(LIMITS.idCharsMax + 1);
const MAX_ID = "a".repeat(LIMITS.idCharsMax);
const LONG_CONV = `g.${"a".repeat(LIMITS.idCharsMax * 2 + 2)}`; // one over idCharsMax * 2 + 3
const MAX_CONV = `d.${MAX_ID}.${MAX_ID}`; // exactly idCharsMax * 2 + 3

type Patch = { readonly omit: string } | { readonly set: string; readonly to: unknown };
type BadRow = {
  readonly patch: Patch;
  readonly code: ErrorCode;
  /** Dotted path below `data`, e.g. `client_msg_id` or `user_ids.1`. */
  readonly field: string;
  readonly why: string;
  readonly bug?: Bug;
};

const omit = (field: string, bug?: Bug): BadRow =>
  bug === undefined
    ? { patch: { omit: field }, code: "MISSING_FIELD", field, why: "missing" }
    : { patch: { omit: field }, code: "MISSING_FIELD", field, why: "missing", bug };
const bad = (field: string, to: unknown, code: ErrorCode, why: string, bug?: Bug): BadRow =>
  bug === undefined
    ? { patch: { set: field, to }, code, field, why }
    : { patch: { set: field, to }, code, field, why, bug };

function apply(data: Record<string, unknown>, patch: Patch): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...data };
  if ("omit" in patch) delete copy[patch.omit];
  else copy[patch.set] = patch.to;
  return copy;
}

function frame(event: unknown, data: unknown): string {
  return JSON.stringify({ event, data });
}

/** Asserts a failed decode with the exact code, field and a message naming the field. */
function expectError(result: Result<unknown, ApiError>, code: ErrorCode, field?: string): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  expect(result.error.message.length).toBeGreaterThan(0);
  expect(result.error.field).toBe(field);
  if (field !== undefined) expect(result.error.message).toContain(field);
}

/** Bad inputs shared by every opaque ID field (user, group). */
function idRows(field: string, required: boolean): BadRow[] {
  return [
    ...(required ? [omit(field)] : []),
    bad(field, 42, "INVALID_FIELD", "a number"),
    bad(field, null, "INVALID_FIELD", "null"),
    bad(field, "", "INVALID_FIELD", "empty"),
    bad(field, LONG_ID, "FIELD_TOO_LONG", `${LIMITS.idCharsMax + 1} characters`),
    bad(field, "bob smith", "INVALID_FIELD", "a space"),
    bad(field, "bob.smith", "INVALID_FIELD", "a dot"),
  ];
}
function uuidRows(field: string, required: boolean): BadRow[] {
  return [
    ...(required ? [omit(field, "B1")] : []),
    bad(field, 42, "INVALID_FIELD", "a number"),
    bad(field, "not-a-uuid", "INVALID_FIELD", "not a UUID"),
    bad(field, UUID.replaceAll("-", ""), "INVALID_FIELD", "a UUID without dashes"),
    bad(field, `${UUID}0`, "INVALID_FIELD", "a UUID with a trailing digit"),
    bad(field, UUID.replace("1", "g"), "INVALID_FIELD", "a non-hex digit"),
  ];
}
function messageIdRows(field: string): BadRow[] {
  return [
    omit(field),
    bad(field, 42, "INVALID_FIELD", "a number"),
    bad(field, "42", "INVALID_FIELD", "not zero-padded"),
    bad(field, `0${MID}`, "INVALID_FIELD", "20 digits"),
    bad(field, "000000000000000004x", "INVALID_FIELD", "a letter"),
  ];
}
function conversationIdRows(field: string, required: boolean): BadRow[] {
  return [
    ...(required ? [omit(field)] : []),
    bad(field, 42, "INVALID_FIELD", "a number"),
    bad(field, "x", "INVALID_FIELD", "too short"),
    bad(field, "x.y.z", "INVALID_FIELD", "neither d. nor g."),
    bad(field, "d.alice", "INVALID_FIELD", "a direct ID with one user"),
    bad(field, "g.a b", "INVALID_FIELD", "a space"),
    bad(field, LONG_CONV, "FIELD_TOO_LONG", "one character over the limit"),
  ];
}
function contentRows(field: string): BadRow[] {
  return [
    omit(field),
    bad(field, 42, "INVALID_FIELD", "a number"),
    bad(field, "", "INVALID_FIELD", "empty"),
    bad(field, "x".repeat(LIMITS.contentCharsMax + 1), "FIELD_TOO_LONG", `${LIMITS.contentCharsMax + 1} characters`),
  ];
}
function enumRows(field: string, wrong: string): BadRow[] {
  return [
    omit(field, "B2"),
    bad(field, wrong, "INVALID_FIELD", `not an allowed value (${wrong})`),
    bad(field, 1, "INVALID_FIELD", "a number"),
    bad(field, null, "INVALID_FIELD", "null"),
  ];
}
function timestampRows(field: string, required: boolean): BadRow[] {
  return [
    ...(required ? [omit(field)] : []),
    bad(field, 1764321302123, "INVALID_FIELD", "epoch milliseconds"),
    bad(field, "yesterday", "INVALID_FIELD", "not a time"),
    bad(field, "2026-11-28T09:15:02+01:00", "INVALID_FIELD", "not UTC"),
    bad(field, "2026-11-28", "INVALID_FIELD", "a date only"),
  ];
}
function userIdsRows(field: string): BadRow[] {
  return [
    omit(field),
    bad(field, "alice", "INVALID_FIELD", "a string, not an array"),
    bad(field, [], "INVALID_FIELD", "empty"),
    bad(field, Array.from({ length: LIMITS.presenceSubscribeBatchMax + 1 }, (_, i) => `u${i}`), "INVALID_FIELD", "over the batch limit"),
    { patch: { set: field, to: ["alice", 42] }, code: "INVALID_FIELD", field: `${field}.1`, why: "a number item" },
    { patch: { set: field, to: ["a b"] }, code: "INVALID_FIELD", field: `${field}.0`, why: "a bad item" },
    { patch: { set: field, to: [LONG_ID] }, code: "FIELD_TOO_LONG", field: `${field}.0`, why: "a too long item" },
  ];
}

type FrameSpec = {
  readonly event: string;
  readonly valid: Record<string, unknown>;
  /** Further valid data, each decoded to itself. */
  readonly alsoValid: readonly Record<string, unknown>[];
  readonly rows: readonly BadRow[];
};

const clientFrames: readonly FrameSpec[] = [
  {
    event: "send_message",
    valid: { to: "bob", content: "hello", type: "text", client_msg_id: UUID },
    alsoValid: [
      { to: MAX_ID, content: "x".repeat(LIMITS.contentCharsMax), type: "file", client_msg_id: UUID.toUpperCase() },
      { to: "B-o_b9", content: "media_1", type: "image", client_msg_id: "00000000-0000-0000-0000-000000000000" },
      { to: "bob", content: "héllo 😀 \u0000", type: "text", client_msg_id: UUID },
    ],
    rows: [...idRows("to", true), ...contentRows("content"), ...enumRows("type", "video"), ...uuidRows("client_msg_id", true)],
  },
  {
    event: "send_group_message",
    valid: { group_id: "g1", content: "hello all", type: "text", client_msg_id: UUID },
    alsoValid: [{ group_id: MAX_ID, content: "m", type: "image", client_msg_id: UUID }],
    rows: [...idRows("group_id", true), ...contentRows("content"), ...enumRows("type", "TEXT"), ...uuidRows("client_msg_id", true)],
  },
  {
    event: "typing",
    valid: { to: "bob" },
    alsoValid: [{ group_id: "g1" }],
    rows: [
      // `to` alone
      bad("to", "", "INVALID_FIELD", "empty"),
      bad("to", LONG_ID, "FIELD_TOO_LONG", "too long"),
      bad("to", "bob smith", "INVALID_FIELD", "a space"),
      bad("to", 42, "INVALID_FIELD", "a number", "B3"),
      bad("to", null, "INVALID_FIELD", "null", "B3"),
    ],
  },
  {
    event: "ack",
    valid: { message_id: MID, status: "delivered" },
    alsoValid: [
      { message_id: MID, status: "read" },
      { message_id: MID, status: "read", conversation_id: "d.alice.bob" },
      { message_id: MID, status: "delivered", conversation_id: MAX_CONV },
    ],
    rows: [...messageIdRows("message_id"), ...enumRows("status", "sent"), ...conversationIdRows("conversation_id", false)],
  },
  {
    event: "heartbeat",
    valid: {},
    alsoValid: [],
    rows: [], // no fields; `data` itself is covered by the envelope tests
  },
  {
    event: "subscribe_presence",
    valid: { user_ids: ["alice", "bob"] },
    alsoValid: [{ user_ids: Array.from({ length: LIMITS.presenceSubscribeBatchMax }, (_, i) => `u${i}`) }],
    rows: userIdsRows("user_ids"),
  },
  {
    event: "unsubscribe_presence",
    valid: { user_ids: ["alice"] },
    alsoValid: [{ user_ids: [MAX_ID] }],
    rows: userIdsRows("user_ids"),
  },
];

const serverFrames: readonly FrameSpec[] = [
  {
    event: "new_message",
    valid: {
      message_id: MID,
      conversation_id: "d.alice.bob",
      from: "alice",
      content: "hello",
      type: "text",
      sent_at: "2026-11-28T09:15:02.123Z",
      client_msg_id: UUID,
    },
    alsoValid: [
      {
        message_id: MID,
        conversation_id: "g.g1",
        from: "alice",
        content: "media_1",
        type: "image",
        sent_at: "2026-11-28T09:15:02Z",
        group_id: "g1",
        client_msg_id: UUID,
      },
    ],
    rows: [
      ...messageIdRows("message_id"),
      ...conversationIdRows("conversation_id", true),
      ...idRows("from", true),
      ...contentRows("content"),
      ...enumRows("type", "video"),
      ...timestampRows("sent_at", true),
      ...idRows("group_id", false),
      ...uuidRows("client_msg_id", true),
    ],
  },
  {
    event: "delivery_receipt",
    valid: { message_id: MID, conversation_id: "d.alice.bob", status: "sent", client_msg_id: UUID },
    alsoValid: [
      { message_id: MID, conversation_id: "g.g1", status: "read", user_id: "bob" },
      { message_id: MID, conversation_id: "d.alice.bob", status: "delivered" },
    ],
    rows: [
      ...messageIdRows("message_id"),
      ...conversationIdRows("conversation_id", true),
      ...enumRows("status", "pending"),
      ...idRows("user_id", false),
      ...uuidRows("client_msg_id", false),
    ],
  },
  {
    event: "presence_update",
    valid: { user_id: "bob", status: "online" },
    alsoValid: [{ user_id: "bob", status: "offline", last_seen: "2026-11-28T09:15:02.123Z" }],
    rows: [...idRows("user_id", true), ...enumRows("status", "away"), ...timestampRows("last_seen", false)],
  },
  {
    event: "typing",
    valid: { from: "alice", conversation_id: "d.alice.bob" },
    alsoValid: [{ from: "alice", conversation_id: "g.g1", group_id: "g1" }],
    rows: [...idRows("from", true), ...conversationIdRows("conversation_id", true), ...idRows("group_id", false)],
  },
  {
    event: "error",
    valid: { code: "RATE_LIMITED", message: "Slow down.", retryable: true },
    alsoValid: [{ code: "INVALID_FIELD", message: "data.to is required.", client_msg_id: UUID, retryable: false }],
    rows: [
      omit("code"),
      bad("code", 42, "INVALID_FIELD", "a number"),
      bad("code", "rate_limited", "INVALID_FIELD", "not SNAKE_CASE upper"),
      bad("code", "", "INVALID_FIELD", "empty"),
      omit("message"),
      bad("message", 42, "INVALID_FIELD", "a number"),
      ...uuidRows("client_msg_id", false),
      omit("retryable"),
      bad("retryable", "yes", "INVALID_FIELD", "a string"),
      bad("retryable", 1, "INVALID_FIELD", "a number"),
    ],
  },
  {
    event: "reconnect",
    valid: { reason: "draining" },
    alsoValid: [{ reason: "" }],
    rows: [omit("reason"), bad("reason", 5, "INVALID_FIELD", "a number"), bad("reason", null, "INVALID_FIELD", "null")],
  },
];

function describeFrames(
  side: string,
  specs: readonly FrameSpec[],
  decode: (text: string) => Result<unknown, ApiError>,
): void {
  describe(`${side} frames`, () => {
    for (const spec of specs) {
      describe(spec.event, () => {
        it("decodes a valid example to the expected value", () => {
          expect(decode(frame(spec.event, spec.valid))).toEqual({ ok: true, value: { event: spec.event, data: spec.valid } });
        });
        for (const [i, data] of spec.alsoValid.entries()) {
          it(`decodes valid variant #${i + 1}`, () => {
            expect(decode(frame(spec.event, data))).toEqual({ ok: true, value: { event: spec.event, data } });
          });
        }
        for (const row of spec.rows) {
          const name = `data.${row.field}: ${row.why} -> ${row.code}`;
          const body = (): void => {
            expectError(decode(frame(spec.event, apply(spec.valid, row.patch))), row.code, `data.${row.field}`);
          };
          if (row.bug === undefined) it(name, body);
          else it(`[${row.bug}] ${name}`, body);
        }
      });
    }
  });
}

describeFrames("client", clientFrames, (text) => decodeClientFrame(text));
describeFrames("server", serverFrames, (text) => decodeServerFrame(text));

describe("client typing: exactly one of to and group_id", () => {
  const groupRows: BadRow[] = [
    bad("group_id", "", "INVALID_FIELD", "empty"),
    bad("group_id", LONG_ID, "FIELD_TOO_LONG", "too long"),
    bad("group_id", "g 1", "INVALID_FIELD", "a space"),
    bad("group_id", 42, "INVALID_FIELD", "a number", "B3"),
    bad("group_id", null, "INVALID_FIELD", "null", "B3"),
  ];
  for (const row of groupRows) {
    const name = `data.${row.field}: ${row.why} -> ${row.code}`;
    const body = (): void => {
      expectError(decodeClientFrame(frame("typing", apply({ group_id: "g1" }, row.patch))), row.code, `data.${row.field}`);
    };
    if (row.bug === undefined) it(name, body);
    else it(`[${row.bug}] ${name}`, body);
  }

  it("rejects both to and group_id", () => {
    expectError(decodeClientFrame(frame("typing", { to: "bob", group_id: "g1" })), "INVALID_FIELD", "data");
  });
  it("rejects neither to nor group_id", () => {
    expectError(decodeClientFrame(frame("typing", {})), "INVALID_FIELD", "data");
  });
  it("rejects both when one of them is also bad", () => {
    expect(decodeClientFrame(frame("typing", { to: "bob", group_id: "g 1" })).ok).toBe(false);
    expect(decodeClientFrame(frame("typing", { to: "bob", group_id: null })).ok).toBe(false);
  });
  it("the decoded value has no key of the absent alternative", () => {
    const r = decodeClientFrame(frame("typing", { to: "bob" }));
    expect(r.ok && r.value.event === "typing" && !("group_id" in r.value.data)).toBe(true);
  });
});

describe("unknown keys", () => {
  it("are dropped from the decoded value (never passed on to a core)", () => {
    expect(decodeClientFrame(frame("heartbeat", { x: 1 }))).toEqual({ ok: true, value: { event: "heartbeat", data: {} } });
    const r = decodeClientFrame(frame("send_message", { to: "bob", content: "hi", type: "text", client_msg_id: UUID, admin: true }));
    expect(r).toEqual({ ok: true, value: { event: "send_message", data: { to: "bob", content: "hi", type: "text", client_msg_id: UUID } } });
  });
});

// ---- envelope ------------------------------------------------------------------------------

const decoders = [
  ["decodeClientFrame", (text: string) => decodeClientFrame(text)],
  ["decodeServerFrame", (text: string) => decodeServerFrame(text)],
] as const;

for (const [name, decode] of decoders) {
  describe(`${name} envelope`, () => {
    it.each(["", "{", "hello", "{'event':'heartbeat','data':{}}", '{"event":"heartbeat","data":{}', "undefined", "NaN"])(
      "not JSON %j -> MALFORMED_JSON",
      (text) => {
        expectError(decode(text), "MALFORMED_JSON");
      },
    );

    it.each(["[]", '[{"event":"heartbeat","data":{}}]', "42", "-1.5", "null", "true", '"heartbeat"'])(
      "JSON but not an object %j -> MALFORMED_FRAME",
      (text) => {
        expectError(decode(text), "MALFORMED_FRAME");
      },
    );

    it("missing event -> MISSING_FIELD event", () => {
      expectError(decode(JSON.stringify({ data: {} })), "MISSING_FIELD", "event");
    });
    it("event null -> MISSING_FIELD event (JSON has no undefined; null is the closest to absent)", () => {
      expect(decode(frame(null, {})).ok).toBe(false);
    });
    // (it.each would spread array rows in the test name, so these tables are plain loops.)
    for (const event of [42, true, ["heartbeat"], { name: "heartbeat" }]) {
      it(`[B4] event of the wrong type ${JSON.stringify(event)} -> INVALID_FIELD event`, () => {
        expectError(decode(frame(event, {})), "INVALID_FIELD", "event");
      });
    }

    it("missing data -> MISSING_FIELD data", () => {
      expectError(decode(JSON.stringify({ event: "heartbeat" })), "MISSING_FIELD", "data");
    });
    for (const data of [null, [], [1], "x", 5, true]) {
      it(`data not an object ${JSON.stringify(data)} -> INVALID_FIELD data`, () => {
        expectError(decode(frame("heartbeat", data)), "INVALID_FIELD", "data");
      });
    }

    it.each(["send_mesage", "", "HEARTBEAT", "constructor", "__proto__", "toString", "hasOwnProperty", "x".repeat(1000)])(
      "unknown event %j -> UNKNOWN_EVENT event",
      (event) => {
        const r = decode(frame(event, {}));
        expectError(r, "UNKNOWN_EVENT", "event");
        if (!r.ok) expect(r.error.message.length).toBeLessThan(200); // the event is quoted, cut short
      },
    );
  });
}

describe("events of the other direction are unknown", () => {
  it.each(["new_message", "delivery_receipt", "presence_update", "error", "reconnect"])("client decoder: %s", (event) => {
    expectError(decodeClientFrame(frame(event, {})), "UNKNOWN_EVENT", "event");
  });
  it.each(["send_message", "send_group_message", "ack", "heartbeat", "subscribe_presence", "unsubscribe_presence"])(
    "server decoder: %s",
    (event) => {
      expectError(decodeServerFrame(frame(event, {})), "UNKNOWN_EVENT", "event");
    },
  );
});

/** A heartbeat frame padded with spaces after the JSON to exactly `bytes` UTF-8 bytes, using `fill`. */
function heartbeatOf(bytes: number, fill = "x"): string {
  const head = '{"event":"heartbeat","data":{"pad":"';
  const tail = '"}}';
  const fillBytes = Buffer.byteLength(fill);
  const room = bytes - head.length - tail.length;
  const count = Math.floor(room / fillBytes);
  return head + fill.repeat(count) + tail + " ".repeat(room - count * fillBytes);
}
const utf8 = (text: string): number => new TextEncoder().encode(text).length;

describe("frame size", () => {
  const max = LIMITS.frameBytesMax;

  it("a frame of exactly the limit decodes; one byte more is FRAME_TOO_LARGE", () => {
    const atLimit = heartbeatOf(max);
    expect(utf8(atLimit)).toBe(max);
    expect(decodeClientFrame(atLimit)).toEqual({ ok: true, value: { event: "heartbeat", data: {} } });
    const over = heartbeatOf(max + 1);
    expect(utf8(over)).toBe(max + 1);
    expectError(decodeClientFrame(over), "FRAME_TOO_LARGE");
  });

  it("the size is checked before JSON: oversized garbage is FRAME_TOO_LARGE", () => {
    expectError(decodeClientFrame("{".repeat(max + 1)), "FRAME_TOO_LARGE");
  });

  it.each([
    ["é (2 bytes)", "é"],
    ["€ (3 bytes)", "€"],
    ["😀 (4 bytes, a surrogate pair)", "😀"],
  ])("multi-byte %s: under the limit in characters, over it in bytes -> FRAME_TOO_LARGE", (_label, ch) => {
    const text = heartbeatOf(max + 4, ch);
    expect(text.length).toBeLessThan(max);
    expect(utf8(text)).toBeGreaterThan(max);
    const r = decodeClientFrame(text);
    expectError(r, "FRAME_TOO_LARGE");
    if (!r.ok) expect(r.error.message).toContain(String(max));
  });

  it.each([
    ["é", "é"],
    ["€", "€"],
    ["😀", "😀"],
  ])("multi-byte %s exactly at the limit in bytes decodes", (_label, ch) => {
    const text = heartbeatOf(max, ch);
    expect(utf8(text)).toBe(max);
    expect(decodeClientFrame(text).ok).toBe(true);
  });

  it("the limit is a parameter: fewer than 100 characters but 120 bytes exceed a 100-byte limit", () => {
    const text = heartbeatOf(120, "é");
    expect(text.length).toBeLessThan(100);
    expect(utf8(text)).toBe(120);
    expectError(decodeClientFrame(text, 100), "FRAME_TOO_LARGE");
    expectError(decodeClientFrame(heartbeatOf(101, "é"), 100), "FRAME_TOO_LARGE");
    expect(decodeClientFrame(heartbeatOf(100, "é"), 100).ok).toBe(true);
  });

  it("server frames may be four times larger", () => {
    const reason = (bytes: number): string => {
      const head = '{"event":"reconnect","data":{"reason":"';
      const tail = '"}}';
      return head + "r".repeat(bytes - head.length - tail.length) + tail;
    };
    expect(decodeServerFrame(reason(max + 1)).ok).toBe(true);
    expect(decodeServerFrame(reason(4 * max)).ok).toBe(true);
    expectError(decodeServerFrame(reason(4 * max + 1)), "FRAME_TOO_LARGE");
  });

  // B6: utf8Bytes() counts a high surrogate as 4 bytes and skips the next code unit, even when
  // that unit is another lone high surrogate; UTF-8 encoders (TextEncoder, Buffer) write each
  // lone surrogate as U+FFFD, 3 bytes. 30 000 lone high surrogates are 90 037 bytes but count
  // as 60 037, so a frame far over the 65 536-byte limit decodes.
  it("[B6] lone surrogates are counted as UTF-8 encoders count them (3 bytes each)", () => {
    const text = `{"event":"heartbeat","data":{"x":"${"\uD800".repeat(30_000)}"}}`;
    expect(text.length).toBeLessThan(max);
    expect(utf8(text)).toBeGreaterThan(max);
    expectError(decodeClientFrame(text), "FRAME_TOO_LARGE");
  });
  it("[B6] a server frame of lone surrogates over 4x the limit in bytes is FRAME_TOO_LARGE", () => {
    const text = `{"event":"reconnect","data":{"reason":"${"\uD800".repeat(130_000)}"}}`;
    expect(utf8(text)).toBeGreaterThan(4 * max);
    expectError(decodeServerFrame(text), "FRAME_TOO_LARGE");
  });
});

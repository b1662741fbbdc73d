/**
 * Properties of the edge decoders, checked with fast-check:
 *  (a) decodeClientFrame / decodeServerFrame never throw, whatever the text, and always answer
 *      {ok: true, value} or {ok: false, error: {code, message}} with a known code, a non-empty
 *      message and (when there is one) a field the message names;
 *  (b) every valid frame built from generators round-trips: decode(JSON.stringify(frame)) is
 *      the frame; a decoded value re-encodes and decodes to itself;
 *  (c) decodeBody (and decodeWith) never throw either, and valid bodies round-trip.
 *
 * The seed is pinned: FC_SEED if set, else a fixed number. It is in every test name and printed
 * once, and fast-check prints seed and path on failure; replay with `FC_SEED=<seed> npx vitest
 * run core/protocol`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { LIMITS } from "../limits.js";
import type { Result } from "../result.js";
import { decodeBody, decodeClientFrame, decodeServerFrame, decodeWith, encodeFrame } from "./decode.js";
import { ERROR_CODES, type ApiError } from "./errors.js";
import { clientDataSchemas, serverDataSchemas, type ClientFrame, type ServerFrame } from "./frames.js";
import {
  addMembersBody,
  createGroupBody,
  createMediaBody,
  createSessionBody,
  createUserBody,
  historyQuery,
  inboxQuery,
  lookupUserQuery,
  registerDeviceBody,
} from "./rest.js";

const DEFAULT_SEED = 20261128;
function readSeed(): number {
  const raw = process.env.FC_SEED;
  if (raw === undefined || raw.trim() === "") return DEFAULT_SEED;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return seed;
}
const seed = readSeed();
const NUM_RUNS = 500;
const params = (numRuns: number = NUM_RUNS): fc.Parameters<unknown> => ({ seed, numRuns });
console.log(`[core/protocol properties] fast-check seed ${seed} (replay: FC_SEED=${seed} npx vitest run core/protocol)`);

// ---- generators of valid fields ----------------------------------------------------------

const idArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,80}$/);
const uuidArb = fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()));
const messageIdArb = fc.bigInt({ min: 0n, max: 10n ** 19n - 1n }).map((n) => n.toString().padStart(19, "0"));
const conversationIdArb = fc.oneof(
  fc.tuple(idArb, idArb).map(([a, b]) => `d.${a}.${b}`),
  idArb.map((g) => `g.${g}`),
);
const contentArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 200 }),
  fc.string({ minLength: 1, maxLength: 200, unit: "binary" }),
  fc.string({ minLength: 1, maxLength: 200, unit: "grapheme" }),
  fc.constant("x".repeat(LIMITS.contentCharsMax)),
);
const messageTypeArb = fc.constantFrom("text" as const, "image" as const, "file" as const);
const timestampArb = fc
  .date({ min: new Date("1970-01-01T00:00:00.000Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true })
  .map((d) => d.toISOString());
const userIdsArb = fc.array(idArb, { minLength: 1, maxLength: LIMITS.presenceSubscribeBatchMax });

// ---- generators of valid frames ------------------------------------------------------------

/** Records with Object.prototype, as JSON.parse makes them (fast-check 4 may otherwise use a null prototype). */
const plain = { noNullPrototype: true } as const;

const clientFrameArb: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc
    .record({ to: idArb, content: contentArb, type: messageTypeArb, client_msg_id: uuidArb }, plain)
    .map((data): ClientFrame => ({ event: "send_message", data })),
  fc
    .record({ group_id: idArb, content: contentArb, type: messageTypeArb, client_msg_id: uuidArb }, plain)
    .map((data): ClientFrame => ({ event: "send_group_message", data })),
  fc.oneof(fc.record({ to: idArb }, plain), fc.record({ group_id: idArb }, plain)).map((data): ClientFrame => ({ event: "typing", data })),
  fc
    .record(
      { message_id: messageIdArb, status: fc.constantFrom("delivered" as const, "read" as const), conversation_id: conversationIdArb },
      { noNullPrototype: true, requiredKeys: ["message_id", "status"] },
    )
    .map((data): ClientFrame => ({ event: "ack", data })),
  fc.constant<ClientFrame>({ event: "heartbeat", data: {} }),
  userIdsArb.map((user_ids): ClientFrame => ({ event: "subscribe_presence", data: { user_ids } })),
  userIdsArb.map((user_ids): ClientFrame => ({ event: "unsubscribe_presence", data: { user_ids } })),
);

const serverFrameArb: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc
    .record(
      {
        message_id: messageIdArb,
        conversation_id: conversationIdArb,
        from: idArb,
        content: contentArb,
        type: messageTypeArb,
        sent_at: timestampArb,
        group_id: idArb,
        client_msg_id: uuidArb,
      },
      { noNullPrototype: true, requiredKeys: ["message_id", "conversation_id", "from", "content", "type", "sent_at", "client_msg_id"] },
    )
    .map((data): ServerFrame => ({ event: "new_message", data })),
  fc
    .record(
      {
        message_id: messageIdArb,
        conversation_id: conversationIdArb,
        status: fc.constantFrom("sent" as const, "delivered" as const, "read" as const),
        user_id: idArb,
        client_msg_id: uuidArb,
      },
      { noNullPrototype: true, requiredKeys: ["message_id", "conversation_id", "status"] },
    )
    .map((data): ServerFrame => ({ event: "delivery_receipt", data })),
  fc
    .record(
      { user_id: idArb, status: fc.constantFrom("online" as const, "offline" as const), last_seen: timestampArb },
      { noNullPrototype: true, requiredKeys: ["user_id", "status"] },
    )
    .map((data): ServerFrame => ({ event: "presence_update", data })),
  fc
    .record({ from: idArb, conversation_id: conversationIdArb, group_id: idArb }, { noNullPrototype: true, requiredKeys: ["from", "conversation_id"] })
    .map((data): ServerFrame => ({ event: "typing", data })),
  fc
    .record(
      {
        code: fc.oneof(fc.constantFrom(...(Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[])), fc.stringMatching(/^[A-Z][A-Z0-9_]{0,40}$/)),
        message: fc.string({ unit: "binary" }),
        client_msg_id: uuidArb,
        retryable: fc.boolean(),
      },
      { noNullPrototype: true, requiredKeys: ["code", "message", "retryable"] },
    )
    .map((data): ServerFrame => ({ event: "error", data })),
  fc.string({ unit: "binary" }).map((reason): ServerFrame => ({ event: "reconnect", data: { reason } })),
);

// ---- generators of arbitrary text ----------------------------------------------------------

const clientEvents = Object.keys(clientDataSchemas);
const serverEvents = Object.keys(serverDataSchemas);
const fieldNames = [
  ...new Set(
    [...Object.values(clientDataSchemas), ...Object.values(serverDataSchemas)].flatMap((s) =>
      "shape" in s ? Object.keys(s.shape) : ["to", "group_id"],
    ),
  ),
];
/** Code units that include lone surrogates and the characters JSON cares about. */
const nastyUnit = fc.oneof(
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('"', "\\", "{", "}", "[", "]", ":", ",", "\u0000", "\u2028", "é", "😀", " ", "a"),
);
/** A mix of valid field values and junk, to reach every branch of the schemas. */
const fieldValueArb: fc.Arbitrary<unknown> = fc.oneof(
  idArb,
  uuidArb,
  messageIdArb,
  conversationIdArb,
  timestampArb,
  messageTypeArb,
  fc.constantFrom("delivered", "read", "sent", "online", "offline", "RATE_LIMITED", "", "__proto__", "constructor"),
  fc.array(idArb, { maxLength: 3 }),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.string({ unit: nastyUnit, maxLength: 20 }),
  fc.jsonValue({ maxDepth: 3 }),
);
const shapedData = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(fc.constantFrom(...fieldNames), fieldValueArb, { maxKeys: 9 }),
  fc.dictionary(fc.oneof(fc.constantFrom(...fieldNames), fc.string()), fieldValueArb, { maxKeys: 6 }),
);
const eventArb = fc.oneof(
  fc.constantFrom(...clientEvents, ...serverEvents, "__proto__", "constructor", "toString", ""),
  fc.string({ maxLength: 100 }),
  fc.jsonValue({ maxDepth: 1 }),
);
/** {event, data} objects, with either key possibly absent, as JSON text. */
const shapedFrameText = fc
  .record({ event: eventArb, data: shapedData }, { noNullPrototype: true, requiredKeys: [] })
  .map((o) => JSON.stringify(o));
/** A valid frame with one byte flipped, inserted or removed. */
const mangledFrameText = fc
  .tuple(fc.oneof(clientFrameArb, serverFrameArb).map((f) => JSON.stringify(f)), fc.nat(), fc.string({ unit: nastyUnit, maxLength: 3 }), fc.nat({ max: 3 }))
  .map(([text, at, insert, cut]) => {
    const i = at % (text.length + 1);
    return text.slice(0, i) + insert + text.slice(i + cut);
  });

const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: nastyUnit }),
  fc.json(),
  fc.json({ stringUnit: "binary" }), // fast-check 4's replacement for fc.unicodeJson()
  fc.json({ stringUnit: "grapheme" }),
  shapedFrameText,
  mangledFrameText,
);

// ---- checks --------------------------------------------------------------------------------

/** The Result shape every decoder promises. */
function checkResult(r: Result<unknown, ApiError>): void {
  expect(typeof r).toBe("object");
  expect(r === null).toBe(false);
  if (r.ok === true) {
    expect(Object.keys(r).sort()).toEqual(["ok", "value"]);
    return;
  }
  expect(r.ok).toBe(false);
  expect(Object.keys(r).sort()).toEqual(["error", "ok"]);
  const { code, message, field } = r.error;
  expect(Object.hasOwn(ERROR_CODES, code), `unknown code ${String(code)}`).toBe(true);
  expect(typeof message).toBe("string");
  expect(message.trim().length).toBeGreaterThan(0);
  if (field !== undefined) {
    expect(typeof field).toBe("string");
    expect(field.length).toBeGreaterThan(0);
    expect(message, "the message names the field").toContain(field);
  }
}

function checkFrameResult(
  r: Result<{ event: string; data: unknown }, ApiError>,
  events: readonly string[],
  decode: (text: string) => Result<{ event: string; data: unknown }, ApiError>,
): void {
  checkResult(r);
  if (!r.ok) return;
  expect(events).toContain(r.value.event);
  expect(typeof r.value.data === "object" && r.value.data !== null && !Array.isArray(r.value.data)).toBe(true);
  // A decoded value is a fixed point: encoding and decoding it again gives it back.
  expect(decode(JSON.stringify(r.value))).toStrictEqual(r);
}

const utf8 = (text: string): number => new TextEncoder().encode(text).length;
/** Well-formed UTF-16 only (no lone surrogates): the byte count is then unambiguous. */
const wellFormedText = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), fc.json({ stringUnit: "binary" }));

// ---- (a) frames never throw ----------------------------------------------------------------

describe(`frame decoders never throw (seed ${seed})`, () => {
  const decoders = [
    ["decodeClientFrame", (t: string) => decodeClientFrame(t), clientEvents],
    ["decodeServerFrame", (t: string) => decodeServerFrame(t), serverEvents],
  ] as const;
  for (const [name, decode, events] of decoders) {
    it(`${name}: any text gives a well-formed Result (seed ${seed})`, () => {
      fc.assert(
        fc.property(anyText, (text) => {
          checkFrameResult(decode(text), events, decode);
        }),
        params(2000),
      );
    });

    it(`${name}: {event, data} objects with arbitrary data (seed ${seed})`, () => {
      fc.assert(
        fc.property(shapedFrameText, (text) => {
          checkFrameResult(decode(text), events, decode);
        }),
        params(2000),
      );
    });

    it(`${name}: a known event with arbitrary data (seed ${seed})`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...events), shapedData, (event, data) => {
          checkFrameResult(decode(JSON.stringify({ event, data })), events, decode);
        }),
        params(2000),
      );
    });

    it(`${name}: FRAME_TOO_LARGE iff the UTF-8 byte count is over the limit (seed ${seed})`, () => {
      const decodeAt = name === "decodeClientFrame" ? decodeClientFrame : decodeServerFrame;
      fc.assert(
        fc.property(wellFormedText, fc.nat({ max: 64 }), (text, max) => {
          const r = decodeAt(text, max);
          checkResult(r);
          const tooLarge = !r.ok && r.error.code === "FRAME_TOO_LARGE";
          expect(tooLarge).toBe(utf8(text) > max);
        }),
        params(),
      );
    });
  }
});

// ---- (b) round trips -----------------------------------------------------------------------

describe(`valid frames round-trip (seed ${seed})`, () => {
  it(`every generated client frame: decodeClientFrame(JSON.stringify(frame)) is the frame (seed ${seed})`, () => {
    fc.assert(
      fc.property(clientFrameArb, (frame) => {
        expect(decodeClientFrame(JSON.stringify(frame))).toStrictEqual({ ok: true, value: frame });
        expect(decodeClientFrame(encodeFrame(frame))).toStrictEqual({ ok: true, value: frame });
      }),
      params(1000),
    );
  });

  it(`every generated server frame: decodeServerFrame(encodeFrame(frame)) is the frame (seed ${seed})`, () => {
    fc.assert(
      fc.property(serverFrameArb, (frame) => {
        expect(decodeServerFrame(encodeFrame(frame))).toStrictEqual({ ok: true, value: frame });
      }),
      params(1000),
    );
  });

  it(`a valid client frame with unknown keys decodes to the frame without them (seed ${seed})`, () => {
    fc.assert(
      fc.property(
        clientFrameArb,
        fc.dictionary(fc.string().filter((k) => !fieldNames.includes(k) && k !== "__proto__"), fc.jsonValue({ maxDepth: 2 }), {
          minKeys: 1,
          maxKeys: 3,
        }),
        (frame, extra) => {
          const text = JSON.stringify({ event: frame.event, data: { ...extra, ...frame.data } });
          expect(decodeClientFrame(text)).toStrictEqual({ ok: true, value: frame });
        },
      ),
      params(),
    );
  });
});

// ---- (c) bodies and queries ----------------------------------------------------------------

const bodySchemas: readonly (readonly [string, z.ZodType])[] = [
  ["createUserBody", createUserBody],
  ["createSessionBody", createSessionBody],
  ["createGroupBody", createGroupBody],
  ["addMembersBody", addMembersBody],
  ["createMediaBody", createMediaBody],
  ["registerDeviceBody", registerDeviceBody],
];
const querySchemas: readonly (readonly [string, z.ZodType])[] = [
  ["lookupUserQuery", lookupUserQuery],
  ["historyQuery", historyQuery],
  ["inboxQuery", inboxQuery],
];
const bodyFieldNames = ["username", "password", "name", "member_ids", "user_ids", "content_type", "size", "filename", "platform", "token", "before", "limit"];
const bodyValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fieldValueArb,
  fc.integer(),
  fc.double(),
  fc.constantFrom("image/png", "apns", "fcm", "alice", "12345678", "  ", "50", "0", "101", "1e2", "-1", "NaN", "Infinity"),
);
const bodyText = fc.oneof(
  anyText,
  fc.dictionary(fc.constantFrom(...bodyFieldNames), bodyValueArb, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
);

describe(`decodeBody and decodeWith never throw (seed ${seed})`, () => {
  for (const [name, schema] of bodySchemas) {
    it(`decodeBody(${name}, any text) gives a well-formed Result (seed ${seed})`, () => {
      fc.assert(
        fc.property(bodyText, (text) => {
          checkResult(decodeBody(schema, text));
        }),
        params(1000),
      );
    });
  }

  it(`decodeBody: BODY_TOO_LARGE iff the UTF-8 byte count is over the limit (seed ${seed})`, () => {
    fc.assert(
      fc.property(wellFormedText, fc.nat({ max: 64 }), (text, max) => {
        const r = decodeBody(createUserBody, text, max);
        checkResult(r);
        expect(!r.ok && r.error.code === "BODY_TOO_LARGE").toBe(utf8(text) > max);
      }),
      params(),
    );
  });

  for (const [name, schema] of [...bodySchemas, ...querySchemas]) {
    it(`decodeWith(${name}, any value) gives a well-formed Result (seed ${seed})`, () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.anything({ withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true, withSparseArray: true, withTypedArray: true, withDate: true }),
            fc.dictionary(fc.constantFrom(...bodyFieldNames), bodyValueArb, { maxKeys: 6 }),
            fc.dictionary(fc.constantFrom(...bodyFieldNames), fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 })), { maxKeys: 4 }),
          ),
          (value) => {
            checkResult(decodeWith(schema, value));
          },
        ),
        params(1000),
      );
    });
  }

  it(`valid bodies round-trip through decodeBody (seed ${seed})`, () => {
    const usernameArb = fc.stringMatching(/^[a-z0-9_.-]{3,32}$/);
    const passwordArb = fc.string({ minLength: 8, maxLength: 64, unit: "binary" }).filter((p) => p.length >= 8 && p.length <= 256);
    const cases = fc.oneof(
      fc.record({ username: usernameArb, password: passwordArb }, plain).map((b) => [createUserBody, b] as const),
      fc.record({ username: usernameArb, password: passwordArb }, plain).map((b) => [createSessionBody, b] as const),
      fc.record({ user_ids: fc.array(idArb, { minLength: 1, maxLength: 20 }) }, plain).map((b) => [addMembersBody, b] as const),
      fc
        .record(
          {
            content_type: fc.stringMatching(/^[a-z0-9]{1,20}\/[a-z0-9.+-]{1,40}$/),
            size: fc.integer({ min: 1, max: LIMITS.mediaBytesMax }),
            filename: fc.string({ minLength: 1, maxLength: 100 }),
          },
          { noNullPrototype: true, requiredKeys: ["content_type", "size"] },
        )
        .map((b) => [createMediaBody, b] as const),
      fc
        .record({ platform: fc.constantFrom("apns", "fcm", "webpush", "webhook"), token: fc.string({ minLength: 1, maxLength: 200 }) }, plain)
        .map((b) => [registerDeviceBody, b] as const),
    );
    fc.assert(
      fc.property(cases, ([schema, body]) => {
        expect(decodeBody(schema, JSON.stringify(body))).toStrictEqual({ ok: true, value: body });
      }),
      params(),
    );
  });

  it(`history and inbox limits: any integer string 1..100 decodes to that number, others fail on limit (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.constantFrom(historyQuery, inboxQuery), fc.integer({ min: -1000, max: 1000 }), (schema, n) => {
        const r = decodeWith(schema, { limit: String(n) });
        if (n >= 1 && n <= 100) expect(r).toStrictEqual({ ok: true, value: { limit: n } });
        else {
          expect(r.ok).toBe(false);
          if (!r.ok) expect([r.error.code, r.error.field]).toEqual(["INVALID_FIELD", "limit"]);
        }
      }),
      params(),
    );
  });
});

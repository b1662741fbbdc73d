/**
 * Decoding at the edge. Every function here returns a Result and never throws on bad input:
 * the error carries a stable code and a sentence that names the field (`data.client_msg_id
 * must be a UUID`). Only decoded values reach a core.
 */
import type { z } from "zod";
import { LIMITS } from "../limits.js";
import { err, ok, type Result } from "../result.js";
import { apiError, type ApiError } from "./errors.js";
import {
  clientDataSchemas,
  serverDataSchemas,
  type ClientEvent,
  type ClientFrame,
  type ServerEvent,
  type ServerFrame,
} from "./frames.js";

/** Turns zod's first issue into our error: MISSING_FIELD, FIELD_TOO_LONG or INVALID_FIELD. */
export function issueToError(issue: z.core.$ZodIssue, prefix: string, input?: unknown): ApiError {
  const path = [prefix, ...issue.path.map(String)].filter((p) => p !== "").join(".");
  if (path === "") {
    // The value as a whole is wrong: there is no field to name.
    if (input === undefined) return apiError("MISSING_FIELD", "The input is required.");
    return apiError("INVALID_FIELD", `The input ${describe(issue)}.`);
  }
  const where = path;
  if (issue.path.length > 0 && valueAt(input, issue.path) === undefined && issue.code !== "custom") {
    return apiError("MISSING_FIELD", `${where} is required.`, where);
  }
  if (issue.code === "too_big" && issue.origin === "string") {
    return apiError("FIELD_TOO_LONG", `${where} must be at most ${String(issue.maximum)} characters.`, where);
  }
  if (issue.code === "too_big" && issue.origin === "array") {
    return apiError("INVALID_FIELD", `${where} must hold at most ${String(issue.maximum)} items.`, where);
  }
  if (issue.code === "too_small" && issue.origin === "string") {
    return apiError("INVALID_FIELD", `${where} must be at least ${String(issue.minimum)} characters.`, where);
  }
  if (issue.code === "too_small" && issue.origin === "array") {
    return apiError("INVALID_FIELD", `${where} must hold at least ${String(issue.minimum)} items.`, where);
  }
  return apiError("INVALID_FIELD", `${where} ${describe(issue)}.`, where);
}

/** The value at a zod issue path, or undefined when any step is missing. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = input;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `must be of type ${issue.expected}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_format":
      return issue.message.startsWith("Invalid") ? `is not a valid ${issue.format === "regex" ? "value" : issue.format}` : issue.message;
    case "too_big":
      return `must be at most ${String(issue.maximum)}`;
    case "too_small":
      return `must be at least ${String(issue.minimum)}`;
    case "invalid_union":
      return "does not match any allowed shape";
    case "unrecognized_keys":
      return `has unknown keys ${issue.keys.join(", ")}`;
    default:
      return issue.message;
  }
}

/** Validates an already-parsed value against a schema. */
export function decodeWith<S extends z.ZodType>(schema: S, value: unknown, prefix = ""): Result<z.infer<S>, ApiError> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return ok(parsed.data);
  const first = parsed.error.issues[0];
  if (first === undefined) return err(apiError("INVALID_FIELD", "The input is invalid."));
  return err(issueToError(first, prefix, value));
}

function utf8Bytes(text: string): number {
  // Exact UTF-8 length without TextEncoder allocation for the common ASCII case.
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes += 4; // A surrogate pair is one 4-byte code point.
        i++;
      } else bytes += 3; // A lone surrogate is encoded as U+FFFD: 3 bytes.
    } else bytes += 3;
  }
  return bytes;
}

function parseJson(text: string): Result<unknown, ApiError> {
  try {
    return ok(JSON.parse(text) as unknown);
  } catch {
    return err(apiError("MALFORMED_JSON", "The frame is not valid JSON."));
  }
}

function decodeEnvelope(
  text: string,
  frameBytesMax: number,
): Result<{ event: string; data: unknown }, ApiError> {
  if (text.length > frameBytesMax || utf8Bytes(text) > frameBytesMax) {
    return err(apiError("FRAME_TOO_LARGE", `The frame is larger than ${frameBytesMax} bytes.`));
  }
  const parsed = parseJson(text);
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return err(apiError("MALFORMED_FRAME", 'A frame must be a JSON object {"event", "data"}.'));
  }
  const record = value as Record<string, unknown>;
  if (record.event === undefined) {
    return err(apiError("MISSING_FIELD", "event is required and must be a string.", "event"));
  }
  if (typeof record.event !== "string") {
    return err(apiError("INVALID_FIELD", "event must be a string.", "event"));
  }
  if (record.data === undefined) {
    return err(apiError("MISSING_FIELD", "data is required and must be an object.", "data"));
  }
  if (typeof record.data !== "object" || record.data === null || Array.isArray(record.data)) {
    return err(apiError("INVALID_FIELD", "data must be an object.", "data"));
  }
  return ok({ event: record.event, data: record.data });
}

/** Decodes one client frame. Bad input gives an error naming the field; it never throws. */
export function decodeClientFrame(text: string, frameBytesMax: number = LIMITS.frameBytesMax): Result<ClientFrame, ApiError> {
  const envelope = decodeEnvelope(text, frameBytesMax);
  if (!envelope.ok) return envelope;
  const { event, data } = envelope.value;
  if (!Object.hasOwn(clientDataSchemas, event)) {
    return err(apiError("UNKNOWN_EVENT", `Unknown event ${JSON.stringify(event.slice(0, 64))}.`, "event"));
  }
  const schema = clientDataSchemas[event as ClientEvent];
  const decoded = decodeWith(schema, data, "data");
  if (!decoded.ok) return decoded;
  return ok({ event, data: decoded.value } as ClientFrame);
}

/** Decodes one server frame (for clients). */
export function decodeServerFrame(text: string, frameBytesMax: number = 4 * LIMITS.frameBytesMax): Result<ServerFrame, ApiError> {
  const envelope = decodeEnvelope(text, frameBytesMax);
  if (!envelope.ok) return envelope;
  const { event, data } = envelope.value;
  if (!Object.hasOwn(serverDataSchemas, event)) {
    return err(apiError("UNKNOWN_EVENT", `Unknown event ${JSON.stringify(event.slice(0, 64))}.`, "event"));
  }
  const decoded = decodeWith(serverDataSchemas[event as ServerEvent], data, "data");
  if (!decoded.ok) return decoded;
  return ok({ event, data: decoded.value } as ServerFrame);
}

/** Decodes a REST body from its raw text (size first, then JSON, then schema). */
export function decodeBody<S extends z.ZodType>(
  schema: S,
  text: string,
  bodyBytesMax: number = LIMITS.bodyBytesMax,
): Result<z.infer<S>, ApiError> {
  if (utf8Bytes(text) > bodyBytesMax) {
    return err(apiError("BODY_TOO_LARGE", `The body is larger than ${bodyBytesMax} bytes.`));
  }
  const parsed = parseJson(text);
  if (!parsed.ok) return err(apiError("MALFORMED_JSON", "The body is not valid JSON."));
  if (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value)) {
    return err(apiError("INVALID_FIELD", "The body must be a JSON object."));
  }
  return decodeWith(schema, parsed.value);
}

/** Encodes a server frame; the one place frames become text. */
export function encodeFrame(frame: ServerFrame | ClientFrame): string {
  return JSON.stringify(frame);
}

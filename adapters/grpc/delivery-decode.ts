/**
 * Decodes the JSON deliveries of a Deliver request into core/model.ts Delivery values. This
 * is an edge: the input comes from another node and may be anything, so every path returns a
 * result and nothing throws. A decoded value is rebuilt field by field (unknown fields are
 * dropped), so what reaches the gateway core has exactly the model's shape.
 */
import { deliveryReceiptData, newMessageData } from "../../core/protocol/frames.js";
import type { Delivery } from "../../core/model.js";

export type DecodeResult = { ok: true; deliveries: Delivery[] } | { ok: false; field: string; message: string };

type Fields = Record<string, unknown>;
class DecodeError extends Error {
  constructor(readonly field: string, readonly reason: string) {
    super(`${field} ${reason}`);
  }
}

/** Decodes every element or refuses the whole batch, naming the first bad field. */
export function decodeDeliveries(encoded: readonly string[]): DecodeResult {
  const deliveries: Delivery[] = [];
  for (let index = 0; index < encoded.length; index++) {
    const at = `deliveries[${index}]`;
    try {
      deliveries.push(decodeDelivery(parseJson(encoded[index], at), at));
    } catch (error) {
      if (error instanceof DecodeError) return { ok: false, field: error.field, message: error.message };
      throw error; // A bug in this decoder, not bad input.
    }
  }
  return { ok: true, deliveries };
}

function parseJson(text: string | undefined, at: string): unknown {
  if (typeof text !== "string") throw new DecodeError(at, "is not a string");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DecodeError(at, "is not valid JSON");
  }
}

function decodeDelivery(value: unknown, at: string): Delivery {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DecodeError(at, "is not an object");
  const v = value as Fields;
  const connection_id = str(v, "connection_id", at);
  switch (v.kind) {
    case "message":
      return {
        kind: "message",
        connection_id,
        user_id: str(v, "user_id", at),
        device_id: str(v, "device_id", at),
        message: schema(newMessageData, v, "message", at),
        prev_message_id: strOrNull(v, "prev_message_id", at),
      };
    case "receipt":
      return {
        kind: "receipt",
        connection_id,
        receipt: schema(deliveryReceiptData, v, "receipt", at),
        prev_message_id: strOrNull(v, "prev_message_id", at),
      };
    case "error":
      return {
        kind: "error",
        connection_id,
        code: str(v, "code", at),
        message: str(v, "message", at),
        client_msg_id: str(v, "client_msg_id", at),
        retryable: bool(v, "retryable", at),
      };
    case "typing":
      return {
        kind: "typing",
        connection_id,
        from: str(v, "from", at),
        conversation_id: str(v, "conversation_id", at),
        group_id: strOrNull(v, "group_id", at),
      };
    case "presence": {
      const status = v.status;
      if (status !== "online" && status !== "offline") throw new DecodeError(`${at}.status`, 'must be "online" or "offline"');
      const last_seen_ms = v.last_seen_ms;
      if (last_seen_ms !== null && !(typeof last_seen_ms === "number" && Number.isFinite(last_seen_ms))) {
        throw new DecodeError(`${at}.last_seen_ms`, "must be a finite number or null");
      }
      return { kind: "presence", connection_id, user_id: str(v, "user_id", at), status, last_seen_ms };
    }
    default:
      throw new DecodeError(`${at}.kind`, "must be one of message, receipt, error, typing, presence");
  }
}

function str(v: Fields, key: string, at: string): string {
  const field = v[key];
  if (typeof field !== "string") throw new DecodeError(`${at}.${key}`, "must be a string");
  return field;
}

function strOrNull(v: Fields, key: string, at: string): string | null {
  const field = v[key];
  if (field !== null && typeof field !== "string") throw new DecodeError(`${at}.${key}`, "must be a string or null");
  return field;
}

function bool(v: Fields, key: string, at: string): boolean {
  const field = v[key];
  if (typeof field !== "boolean") throw new DecodeError(`${at}.${key}`, "must be a boolean");
  return field;
}

type Schema<T> = {
  safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
};

function schema<T>(s: Schema<T>, v: Fields, key: string, at: string): T {
  const parsed = s.safeParse(v[key]);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue === undefined ? "" : issue.path.map((p) => `.${String(p)}`).join("");
  throw new DecodeError(`${at}.${key}${path}`, issue === undefined ? "is invalid" : issue.message);
}

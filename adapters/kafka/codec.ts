/**
 * How a LogRecord travels in a Kafka message: the key is the conversation key as UTF-8, the
 * value the record as JSON (core/model.ts says these shapes are stable, so a change there is
 * a schema migration here too).
 *
 * Rules: encoding cannot fail for a LogRecord. Decoding is the edge where bytes from the
 * broker come in, so it returns a result, never throws: a message that some other producer
 * wrote into our topic must not crash a router. The schema checks structure (field names,
 * kinds, enums), not the gateway's field rules, which were applied before the append.
 */
import { z } from "zod";
import type { LogRecord } from "../../core/model.js";
import { ackStatus, messageType } from "../../core/protocol/fields.js";
import { err, ok, type Result } from "../../core/result.js";

const origin = z.object({ gateway_id: z.string(), connection_id: z.string() });
const target = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("direct"), to: z.string() }),
  z.object({ kind: z.literal("group"), group_id: z.string() }),
]);
const sendRecord = z.object({
  kind: z.literal("send"),
  conversation_id: z.string(),
  sender_id: z.string(),
  sender_device_id: z.string(),
  origin,
  target,
  content: z.string(),
  type: messageType,
  client_msg_id: z.string(),
  accepted_at_ms: z.number(),
});
const ackRecord = z.object({
  kind: z.literal("ack"),
  conversation_id: z.string(),
  message_id: z.string(),
  user_id: z.string(),
  device_id: z.string(),
  status: ackStatus,
});
const logRecord = z.discriminatedUnion("kind", [sendRecord, ackRecord]);

export type DecodeErrorCode = "LOG_KAFKA_KEY_MISSING" | "LOG_KAFKA_VALUE_MISSING" | "LOG_KAFKA_VALUE_NOT_JSON" | "LOG_KAFKA_VALUE_NOT_A_RECORD";
export type DecodeError = { readonly code: DecodeErrorCode; readonly message: string };
export type Decoded = { readonly key: string; readonly record: LogRecord };

export function encodeRecord(record: LogRecord): Buffer {
  return Buffer.from(JSON.stringify(record), "utf8");
}

export function decodeMessage(key: Buffer | null, value: Buffer | null): Result<Decoded, DecodeError> {
  if (key === null) return err({ code: "LOG_KAFKA_KEY_MISSING", message: "the message has no key (every append is keyed by its conversation)" });
  if (value === null) return err({ code: "LOG_KAFKA_VALUE_MISSING", message: "the message has no value (a tombstone?)" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch (error) {
    return err({ code: "LOG_KAFKA_VALUE_NOT_JSON", message: `the value is not JSON: ${(error as Error).message}` });
  }
  const checked = logRecord.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const where = issue === undefined ? "" : ` at '${issue.path.join(".")}': ${issue.message}`;
    return err({ code: "LOG_KAFKA_VALUE_NOT_A_RECORD", message: `the value is not a LogRecord${where}` });
  }
  return ok({ key: key.toString("utf8"), record: checked.data });
}

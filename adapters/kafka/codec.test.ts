import { describe, expect, it } from "vitest";
import type { AckRecord, SendRecord } from "../../core/model.js";
import { decodeMessage, encodeRecord } from "./codec.js";

const send: SendRecord = {
  kind: "send",
  conversation_id: "d.u1.u2",
  sender_id: "u1",
  sender_device_id: "d1",
  origin: { gateway_id: "gw1", connection_id: "c1" },
  target: { kind: "direct", to: "u2" },
  content: "héllo ✓",
  type: "text",
  client_msg_id: "00000000-0000-4000-8000-000000000001",
  accepted_at_ms: 1_750_000_000_000,
};
const ack: AckRecord = { kind: "ack", conversation_id: "d.u1.u2", message_id: "1234567890123456789", user_id: "u2", device_id: "d2", status: "read" };

describe("LogKafka codec", () => {
  it("round-trips sends and acks, key and all", () => {
    for (const record of [send, ack]) {
      const decoded = decodeMessage(Buffer.from("d.u1.u2"), encodeRecord(record));
      expect(decoded).toEqual({ ok: true, value: { key: "d.u1.u2", record } });
    }
  });

  it("answers a typed error, never throws, for what is not one of our records", () => {
    const cases: [Buffer | null, Buffer | null, string][] = [
      [null, encodeRecord(send), "LOG_KAFKA_KEY_MISSING"],
      [Buffer.from("k"), null, "LOG_KAFKA_VALUE_MISSING"],
      [Buffer.from("k"), Buffer.from("{not json"), "LOG_KAFKA_VALUE_NOT_JSON"],
      [Buffer.from("k"), Buffer.from(JSON.stringify({ kind: "edit" })), "LOG_KAFKA_VALUE_NOT_A_RECORD"],
      [Buffer.from("k"), Buffer.from(JSON.stringify({ ...send, type: "video" })), "LOG_KAFKA_VALUE_NOT_A_RECORD"],
      [Buffer.from("k"), Buffer.from(JSON.stringify({ ...ack, status: undefined })), "LOG_KAFKA_VALUE_NOT_A_RECORD"],
    ];
    for (const [key, value, code] of cases) {
      const decoded = decodeMessage(key, value);
      expect(decoded.ok).toBe(false);
      if (!decoded.ok) expect(decoded.error.code).toBe(code);
    }
  });

  it("names the field that is wrong", () => {
    const decoded = decodeMessage(Buffer.from("k"), Buffer.from(JSON.stringify({ ...send, origin: { gateway_id: 1 } })));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error.message).toMatch(/origin\.gateway_id/);
  });
});

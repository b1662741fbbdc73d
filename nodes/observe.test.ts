import { describe, expect, it } from "vitest";
import type { AckRecord, SendRecord } from "../core/model.js";
import { Metrics } from "./metrics.js";
import { instrumentGateway } from "./observe.js";

const send = (accepted_at_ms: number): SendRecord => ({
  kind: "send",
  conversation_id: "d.a.b",
  sender_id: "a",
  sender_device_id: "d1",
  origin: { gateway_id: "gw", connection_id: "c1" },
  target: { kind: "direct", to: "b" },
  content: "hi",
  type: "text",
  client_msg_id: "00000000-0000-4000-8000-000000000001",
  accepted_at_ms,
});

describe("instrumentGateway", () => {
  it("times an acknowledged send's append from the gateway's accept into chat_stage_seconds{stage=append}, and nothing else", async () => {
    const metrics = new Metrics();
    const events = instrumentGateway(metrics, { now: () => 10_030 });
    events.appended?.(send(10_000), true);
    events.appended?.(send(9_000), false);
    const ack: AckRecord = { kind: "ack", conversation_id: "d.a.b", message_id: "1", user_id: "b", device_id: "d2", status: "delivered" };
    events.appended?.(ack, true);
    const text = await metrics.registry.getSingleMetricAsString("chat_stage_seconds");
    expect(text).toContain('chat_stage_seconds_count{stage="append"} 1');
    // 30 ms: above the 25 ms bucket, inside the 50 ms one.
    expect(text).toContain('chat_stage_seconds_bucket{le="0.025",stage="append"} 0');
    expect(text).toContain('chat_stage_seconds_bucket{le="0.05",stage="append"} 1');
  });
});

/**
 * Metrics from the gateway host's effects: what left on sockets and how long it took.
 * Bounded: at most `TRACKED_SENDS_MAX` sends are timed at once.
 */
import type { Clock } from "../core/ports/clock.js";
import { msFromIso } from "../core/model.js";
import type { GatewayHostEvents } from "./hosts/gateway-host.js";
import type { Metrics } from "./metrics.js";

const TRACKED_SENDS_MAX = 100_000;

export function instrumentGateway(metrics: Metrics, clock: Clock): GatewayHostEvents {
  const started = new Map<string, number>();
  return {
    frame_in: () => metrics.frames_in.inc(),
    appended: (record, ok) => {
      if (ok && record.kind === "send") metrics.stages.observe({ stage: "append" }, Math.max(0, clock.now() - record.accepted_at_ms) / 1000);
    },
    effect: (_connection, effect) => {
      if (effect.type === "append_to_log") {
        if (effect.record.kind === "send") {
          metrics.sends.inc();
          if (started.size < TRACKED_SENDS_MAX) started.set(effect.record.client_msg_id, clock.now());
        } else metrics.acks.inc({ status: effect.record.status });
        return;
      }
      if (effect.type !== "send_frame") return;
      const frame = effect.frame;
      if (frame.event === "new_message") {
        metrics.deliveries.inc();
        const sent_at = msFromIso(frame.data.sent_at);
        if (Number.isFinite(sent_at)) metrics.delivery_latency.observe(Math.max(0, clock.now() - sent_at) / 1000);
      } else if (frame.event === "delivery_receipt" && frame.data.status === "sent" && frame.data.client_msg_id !== undefined) {
        metrics.sent.inc();
        const t = started.get(frame.data.client_msg_id);
        if (t !== undefined) {
          started.delete(frame.data.client_msg_id);
          metrics.send_latency.observe((clock.now() - t) / 1000);
        }
      } else if (frame.event === "error") {
        metrics.frames_rejected.inc({ code: frame.data.code });
      }
    },
  };
}

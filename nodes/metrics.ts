/**
 * Prometheus metrics of a node (prom-client): counters for frames, sends, deliveries and
 * acks, latency histograms for the send path (append to `sent`) and the delivery path
 * (message ordered to new_message on a socket), gauges for connections and pending depth.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StatementCounter } from "../adapters/cassandra/statement-counter.js";
import type { LogKafkaStats } from "../adapters/kafka/log-kafka.js";

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class Metrics {
  readonly registry = new Registry();
  readonly frames_in = new Counter({ name: "chat_frames_in_total", help: "WebSocket frames received", registers: [this.registry] });
  readonly frames_rejected = new Counter({ name: "chat_frames_rejected_total", help: "Frames answered with an error", labelNames: ["code"], registers: [this.registry] });
  readonly sends = new Counter({ name: "chat_sends_total", help: "Sends appended to the log", registers: [this.registry] });
  readonly sent = new Counter({ name: "chat_sent_receipts_total", help: "`sent` receipts forwarded to senders", registers: [this.registry] });
  readonly deliveries = new Counter({ name: "chat_deliveries_total", help: "new_message frames written to sockets", registers: [this.registry] });
  readonly acks = new Counter({ name: "chat_acks_total", help: "Acks appended to the log", labelNames: ["status"], registers: [this.registry] });
  readonly router = new Counter({ name: "chat_router_events_total", help: "Router observations", labelNames: ["what"], registers: [this.registry] });
  readonly delivery_failures = new Counter({ name: "chat_delivery_failures_total", help: "Best-effort deliveries or pushes that failed (pending keeps the message)", registers: [this.registry] });
  readonly send_latency = new Histogram({ name: "chat_send_to_sent_seconds", help: "From a send frame to its `sent` receipt", buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  readonly delivery_latency = new Histogram({ name: "chat_delivery_seconds", help: "From a message's ordering to its new_message frame", buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  readonly connections = new Gauge({ name: "chat_connections", help: "Open WebSocket connections", registers: [this.registry] });
  readonly pending_depth = new Gauge({ name: "chat_pending_entries", help: "Entries in the pending store", registers: [this.registry] });

  /**
   * Where a message's time goes, each stage measured from the gateway's `accepted_at_ms` (the
   * same host clock on one box; across hosts it includes their clock skew): `append` is the
   * gateway's wait for the log's acks (from the send frame), `fetched` when a router's poll
   * handed the record to its core, `delivering` when the router sent its new_message to a
   * gateway. The gateway's chat_delivery_seconds is the last stage (to the socket).
   */
  readonly stages = new Histogram({ name: "chat_stage_seconds", help: "A send's path, by stage, from the gateway's accept", labelNames: ["stage"], buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  readonly router_calls = new Histogram({ name: "chat_router_call_seconds", help: "A router core's call, from effect to outcome", labelNames: ["call", "ok"], buckets: LATENCY_BUCKETS_S, registers: [this.registry] });

  /**
   * What this process sent to the services, read at scrape time: CQL statements by kind and
   * table (count, bytes, summed latency), and Kafka records, bytes and commits.
   */
  observeServices(sources: { readonly cql?: StatementCounter; readonly kafka?: LogKafkaStats }): void {
    const { cql, kafka } = sources;
    if (cql !== undefined) {
      for (const [field, help] of [
        ["count", "CQL statements sent"],
        ["errors", "CQL statements that failed"],
        ["request_bytes", "CQL request bytes"],
        ["response_bytes", "CQL response bytes"],
        ["latency_ms", "Summed CQL latency, ms"],
      ] as const) {
        new Gauge({
          name: `chat_cql_${field}`,
          help,
          labelNames: ["kind", "table"],
          registers: [this.registry],
          collect() {
            for (const [key, t] of cql.tallies) {
              const [kind, table] = key.split(":");
              this.set({ kind: kind ?? "", table: table ?? "" }, t[field]);
            }
          },
        });
      }
    }
    if (kafka !== undefined) {
      for (const field of ["produce_requests", "produced_records", "produced_bytes", "commits", "consumed_records", "fetched_batches"] as const) {
        new Gauge({ name: `chat_kafka_${field}`, help: `Kafka ${field.replace("_", " ")}`, registers: [this.registry], collect() { this.set(kafka[field]); } });
      }
    }
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

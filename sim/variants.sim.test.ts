/**
 * A simulator that cannot catch a broken core checks nothing. Each deliberately broken
 * variant must produce a violation within 500 seeds; the test prints which seed caught it.
 */
import { describe, expect, it } from "vitest";
import { runBatch } from "./batch.js";
import type { SimOptions } from "./options.js";

const variants: [string, Partial<SimOptions>][] = [
  ["router commits offsets before persisting", { router_variant: "commit_before_persist" }],
  ["router orders by the gateway's clock", { router_variant: "order_by_gateway_clock" }],
  ["router deletes pending entries on delivery, before the ack", { router_variant: "delete_pending_on_delivery" }],
  ["router deduplicates only in the expiring cache", { router_variant: "dedup_cache_only" }],
  ["router host persists concurrently but moves on before pending and inboxes are written", { router_variant: "persist_without_waiting" }],
  ["gateway answers sent before the log append is acknowledged", { gateway_variant: "sent_before_append" }],
];

describe("broken variants are caught", () => {
  for (const [name, patch] of variants) {
    it(`${name}: caught within 500 seeds`, () => {
      const report = runBatch(1, 500, patch, true);
      const caught = report.failures[0];
      expect(caught, `not caught in ${report.seeds} seeds`).toBeDefined();
      console.log(`${name}: caught at seed ${caught!.seed}: ${caught!.violation.slice(0, 160)}`);
    }, 300_000);
  }
});

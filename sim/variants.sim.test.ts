/**
 * A simulator that cannot catch a broken core checks nothing. Each deliberately broken
 * variant must produce a violation within 500 seeds, and among the violations of the seed
 * that catches it must be one of the invariants the bug breaks (a variant caught only by an
 * unrelated checker proves nothing about the checker that should have seen it). The test
 * prints which seed caught it.
 *
 * The variants issue 13 added are caught only thanks to a fault or workload class it also
 * added: the same seed with those classes off must then pass, which shows that the new
 * classes, not luck, caught it (the swarm before them missed the first in 300 seeds). The
 * membership variant's class is group joins and leaves.
 */
import { describe, expect, it } from "vitest";
import { runBatch } from "./batch.js";
import type { SimOptions } from "./options.js";
import { runSimulation } from "./run.js";
import { simOptions } from "./options.js";

type Variant = {
  readonly name: string;
  readonly patch: Partial<SimOptions>;
  /** The invariants (INVARIANTS.md numbers) the bug breaks; at least one must fire. */
  readonly breaks: readonly number[];
  /** Options that switch off the classes that catch it: the catching seed must then pass. */
  readonly without?: Partial<SimOptions>;
};

/** Issue 13's fault classes and its workload classes (the backlog, watch lists at the presence cap), off. */
const NEW_CLASSES_OFF: Partial<SimOptions> = { off_faults: new Set(["socket_frame_lost", "log_outage_long", "client_frame_burst"]), backlog: false, presence_cap: false };

const variants: readonly Variant[] = [
  { name: "router commits offsets before persisting", patch: { router_variant: "commit_before_persist" }, breaks: [1, 10] },
  { name: "router orders by the gateway's clock", patch: { router_variant: "order_by_gateway_clock" }, breaks: [3, 4] },
  { name: "router deletes pending entries on delivery, before the ack", patch: { router_variant: "delete_pending_on_delivery" }, breaks: [1, 7, 10] },
  { name: "router deduplicates only in the expiring cache", patch: { router_variant: "dedup_cache_only" }, breaks: [2, 5] },
  // Pending entries not yet written when sessions are looked up break the replay seam's
  // contiguity (README, "The replay seam"): a loss, or a message emitted out of order.
  { name: "router host persists concurrently but moves on before pending and inboxes are written", patch: { router_variant: "persist_without_waiting" }, breaks: [1, 3, 7, 10] },
  { name: "gateway answers sent before the log append is acknowledged", patch: { gateway_variant: "sent_before_append" }, breaks: [1, 2, 5] },
  {
    name: "gateway resync does not resend what it emitted (an ack lost on a live socket)",
    patch: { gateway_variant: "resync_skips_emitted" },
    breaks: [7, 10],
    without: NEW_CLASSES_OFF,
  },
  {
    name: "gateway records an ack as durable when its retry budget runs out (an outage past the budget)",
    patch: { gateway_variant: "ack_given_up_as_durable" },
    breaks: [7, 10],
    without: NEW_CLASSES_OFF,
  },
  {
    // A replay paced by acks outruns the frame bucket; invariant 10 judges a client refused
    // for rate on a connection where it sent no more than the burst besides acks.
    name: "gateway charges acks to the frame bucket (a replay of several pages, acks refused and the connection closed)",
    patch: { gateway_variant: "acks_rate_limited" },
    breaks: [10],
    without: NEW_CLASSES_OFF,
  },
  {
    // The base workload watches at most 3 users; only the drawn watch lists reach the cap.
    name: "gateway refuses a presence subscription that reaches exactly the cap (off by one)",
    patch: { gateway_variant: "subscription_cap_at_max" },
    breaks: [8],
    without: { presence_cap: false },
  },
  {
    // The client's guard hides it from the screen; invariant 6 judges the frames per
    // connection (history.wire_receipts). The router's own receipt guard (planted
    // receipt_ignores_store) is masked by this one and by the client's: its unit test in
    // core/router/guards.test.ts is what catches it.
    name: "gateway forwards a receipt that goes back (a late delivered after read)",
    patch: { gateway_variant: "receipt_goes_back" },
    breaks: [6],
  },
  {
    name: "gateway ends the pending scan at a full page (a backlog of several pages)",
    patch: { gateway_variant: "scan_stops_at_full_page" },
    breaks: [10],
    without: NEW_CLASSES_OFF,
  },
  {
    // Issue 12: a relay whose link is "bounded" in total drops what a region partition or a
    // region loss held up; without those classes the same seed passes.
    name: "cross-region relay drops a batch after its retry budget (a region partition or loss)",
    patch: { relay_variant: "relay_gives_up" },
    breaks: [1, 10],
    without: { off_faults: new Set(["region_partition", "region_loss"]) },
  },
  {
    // Issue 14: caught only because seeds draw a contract burst read late; without that
    // class no honest client comes near its allowance.
    name: "gateway refills the frame bucket by when it reads frames (a burst read late)",
    patch: { gateway_variant: "frames_limited_by_read_time" },
    breaks: [11],
    without: { contract_burst: false },
  },
  {
    name: "router commits past a record still in flight",
    patch: { router_variant: "commit_past_in_flight" },
    breaks: [1, 10],
  },
  // The per-message Paxos claim is gone (core/router/ordering.ts): a record's ID must be a
  // function of the log, from where its partition's chain stood at the committed offset.
  { name: "router restarts a partition's ID chain without its checkpoint", patch: { router_variant: "chain_ignores_checkpoint" }, breaks: [2, 3] },
  { name: "router numbers a new message from its own clock, not the partition's chain", patch: { router_variant: "id_from_router_clock" }, breaks: [2, 3, 5] },
  {
    // Caught only because seeds draw group joins and leaves: without them no group changes
    // between a message's ordering and its redelivery.
    name: "router fans a redelivered group send out to the group as it is now, not as it was when ordered",
    patch: { router_variant: "redeliver_to_current_members" },
    breaks: [9, 1],
    without: { membership: false },
  },
];

describe("broken variants are caught, by the invariant they break", () => {
  for (const v of variants) {
    it(`${v.name}: caught within 500 seeds, violating invariant ${v.breaks.join(" or ")}`, () => {
      const report = runBatch(1, 500, v.patch, true);
      const caught = report.failures[0];
      expect(caught, `not caught in ${report.seeds} seeds`).toBeDefined();
      console.log(`${v.name}: caught at seed ${caught!.seed}, invariants ${caught!.invariants.join(",")}: ${caught!.violation.slice(0, 160)}`);
      expect(caught!.invariants.filter((i) => v.breaks.includes(i)), `seed ${caught!.seed} violated ${caught!.invariants.join(",")}, none of ${v.breaks.join(",")}`).not.toEqual([]);
      if (v.without !== undefined) {
        const again = runSimulation(simOptions(caught!.seed, { ...v.patch, ...v.without }));
        expect(again.violations.map((x) => `[${x.invariant}] ${x.message}`), "the same seed without the new class still fails: the class is not what caught it").toEqual([]);
      }
    }, 600_000);
  }
});

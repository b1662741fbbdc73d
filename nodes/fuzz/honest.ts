/**
 * The honest side of the soak (and of any open-loop load that must be judged fairly): pairs of
 * clients that behave as a client written from the contract (docs/API.md) does, and a ledger
 * that tells apart what happened to every message.
 *
 * As the contract asks of a client:
 * - a send refused with a retryable `error` (`OVERLOADED`, `RATE_LIMITED`, `LOG_UNAVAILABLE`,
 *   `STORE_UNAVAILABLE`: nothing was appended) is sent again with the same `client_msg_id`
 *   after a pause that doubles with each refusal of that message (with jitter, capped);
 * - a send with no answer at all (neither `sent` nor `error`) is sent again after
 *   `clientSendRetryMs`, doubling up to `clientSendRetryMaxMs` (core/limits.ts), as the
 *   reference client does; the node deduplicates by `client_msg_id`;
 * - every `new_message` is acked `delivered`.
 *
 * The ledger keeps, per message, its first attempt, its attempts, its refusals and whether its
 * `sent` came, so the verdict can say "refused, then delivered" (the node shedding load as
 * documented) apart from "lost" — and, of the lost, "acknowledged with `sent`, never
 * delivered" (a broken promise) apart from "never accepted" (the client gave up first).
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { LIMITS } from "../../core/limits.js";

type Frame = { event: string; data: Record<string, unknown> };

export type Backoff = {
  /** First pause after a retryable refusal (ms); doubles with each further refusal of that message. */
  readonly refused_base_ms: number;
  readonly refused_max_ms: number;
  /** Resend a send with no answer after this long (ms), doubling up to the max. */
  readonly unanswered_ms: number;
  readonly unanswered_max_ms: number;
};

export const CONTRACT_BACKOFF: Backoff = {
  refused_base_ms: 250,
  refused_max_ms: 8_000,
  unanswered_ms: LIMITS.clientSendRetryMs,
  unanswered_max_ms: LIMITS.clientSendRetryMaxMs,
};

type Entry = {
  readonly sender: number;
  readonly frame: string;
  readonly first_at: number;
  attempts: number;
  refusals: number;
  accepted: boolean;
  /** Answered with a non-retryable error: the client gives it up. */
  failed: boolean;
  /** The resend scheduled for this message (a refusal's pause or the unanswered timer). */
  timer: ReturnType<typeof setTimeout> | null;
  /** The next wait for an unanswered send. */
  unanswered_ms: number;
};

/** Counts over the whole run (cumulative); `window_*` reset by `takeWindow`. */
export type HonestCounts = {
  /** Distinct messages the load sent (first attempts). */
  sent: number;
  /** Frames sent for them, first attempts and resends. */
  attempts: number;
  /** Messages whose `sent` receipt arrived. */
  accepted: number;
  delivered: number;
  /** Retryable refusals answered by a resend, all codes; and per code. */
  refusals: number;
  refusals_by_code: Record<string, number>;
  /** Distinct messages refused at least once. */
  refused_messages: number;
  /** Of the delivered, those that were refused at least once first. */
  refused_then_delivered: number;
  /** Resends of a send that had no answer within the unanswered timeout. */
  unanswered_resends: number;
  /** Non-retryable errors about the load's own sends (a client bug or the node's), per code. */
  errors_by_code: Record<string, number>;
  /** Error frames that named no message of ours (no client_msg_id, or one we never sent), per code. */
  errors_other: number;
  errors_other_by_code: Record<string, number>;
  /**
   * Retryable refusals of a resend whose message had already been delivered (its first attempt
   * was accepted, its `sent` was slow, the unanswered timer resent it): nothing to do.
   */
  late_refusals: number;
  /** A `new_message` for a message already delivered to that receiver (the contract allows a replay repeat). */
  duplicates: number;
  /** Honest sockets closed by the other side. */
  closed: number;
};

export type HonestVerdict = HonestCounts & {
  /** Sent and never delivered. */
  lost: number;
  /** Of the lost: the node had answered `sent` (durable), yet it never arrived: a broken promise. */
  lost_after_sent: number;
  /** Of the lost: refused at least once and never accepted. */
  lost_refused: number;
  /** Of the lost: refused with a non-retryable error (given up). */
  lost_error: number;
  /** Of the lost: never answered at all. */
  lost_unanswered: number;
};

const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

export class HonestLoad {
  private readonly entries = new Map<string, Entry>();
  /** client_msg_id -> sender socket of every delivered message (an error may still name one). */
  private readonly delivered_by = new Map<string, number>();
  private readonly latencies: number[] = [];
  private next_pair = 0;
  private stopped = false;
  readonly counts: HonestCounts = {
    sent: 0,
    attempts: 0,
    accepted: 0,
    delivered: 0,
    refusals: 0,
    refusals_by_code: {},
    refused_messages: 0,
    refused_then_delivered: 0,
    unanswered_resends: 0,
    errors_by_code: {},
    errors_other: 0,
    errors_other_by_code: {},
    late_refusals: 0,
    duplicates: 0,
    closed: 0,
  };

  /**
   * `sockets[2k]` sends to `users[2k + 1]` through `sockets[2k + 1]`; all sockets are open.
   * `random` draws the backoff's jitter (tests pass a fixed one).
   */
  constructor(
    private readonly sockets: readonly WebSocket[],
    private readonly users: readonly { user_id: string }[],
    private readonly backoff: Backoff = CONTRACT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {
    sockets.forEach((ws, i) => {
      ws.on("close", () => {
        if (!this.stopped) this.counts.closed++;
      });
      ws.on("message", (data) => this.onFrame(i, JSON.parse(data.toString()) as Frame));
    });
  }

  get pairs(): number {
    return this.sockets.length / 2;
  }

  /** Messages not yet delivered. */
  get outstanding(): number {
    return this.entries.size;
  }

  /** One new message from the next pair's sender (round robin). */
  sendNext(): void {
    const k = this.next_pair++ % this.pairs;
    const id = randomUUID();
    const frame = JSON.stringify({ event: "send_message", data: { to: this.users[2 * k + 1]!.user_id, content: `soak ${this.counts.sent}`, type: "text", client_msg_id: id } });
    const entry: Entry = { sender: 2 * k, frame, first_at: Date.now(), attempts: 0, refusals: 0, accepted: false, failed: false, timer: null, unanswered_ms: this.backoff.unanswered_ms };
    this.entries.set(id, entry);
    this.counts.sent++;
    this.attempt(id, entry);
  }

  /** Delivery latencies (from the first attempt) since the last call. */
  takeLatencies(): number[] {
    return this.latencies.splice(0);
  }

  /** Stops resending (the run is over); what is outstanding then is what the verdict judges. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) if (entry.timer !== null) clearTimeout(entry.timer);
  }

  verdict(): HonestVerdict {
    let lost_after_sent = 0;
    let lost_refused = 0;
    let lost_error = 0;
    let lost_unanswered = 0;
    for (const e of this.entries.values()) {
      if (e.accepted) lost_after_sent++;
      else if (e.failed) lost_error++;
      else if (e.refusals > 0) lost_refused++;
      else lost_unanswered++;
    }
    return { ...this.counts, refusals_by_code: { ...this.counts.refusals_by_code }, errors_by_code: { ...this.counts.errors_by_code }, errors_other_by_code: { ...this.counts.errors_other_by_code }, lost: this.entries.size, lost_after_sent, lost_refused, lost_error, lost_unanswered };
  }

  private attempt(id: string, entry: Entry): void {
    if (this.stopped) return;
    const ws = this.sockets[entry.sender]!;
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(entry.frame);
      entry.attempts++;
      this.counts.attempts++;
    }
    // Whatever happens to this attempt, a send that hears nothing is sent again later.
    this.schedule(id, entry, entry.unanswered_ms, true);
  }

  private schedule(id: string, entry: Entry, ms: number, unanswered: boolean): void {
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (!this.entries.has(id) || this.stopped) return;
      if (unanswered) {
        if (entry.accepted) return; // durable: delivery is the node's job now, not a resend's
        this.counts.unanswered_resends++;
        entry.unanswered_ms = Math.min(this.backoff.unanswered_max_ms, entry.unanswered_ms * 2);
      }
      this.attempt(id, entry);
    }, ms);
  }

  private onFrame(i: number, frame: Frame): void {
    const id = typeof frame.data.client_msg_id === "string" ? frame.data.client_msg_id : "";
    if (frame.event === "error") {
      const entry = this.entries.get(id);
      const code = String(frame.data.code);
      if (entry === undefined && this.delivered_by.get(id) === i) {
        if (frame.data.retryable === true) this.counts.late_refusals++;
        else bump(this.counts.errors_by_code, code);
        return;
      }
      if (entry === undefined || entry.sender !== i) {
        this.counts.errors_other++;
        bump(this.counts.errors_other_by_code, code);
        return;
      }
      if (frame.data.retryable !== true) {
        bump(this.counts.errors_by_code, code);
        entry.failed = true;
        if (entry.timer !== null) clearTimeout(entry.timer);
        entry.timer = null;
        return;
      }
      // Refused, nothing appended: the same frame again after a pause that doubles per refusal.
      this.counts.refusals++;
      bump(this.counts.refusals_by_code, code);
      if (entry.refusals === 0) this.counts.refused_messages++;
      entry.refusals++;
      const pause = Math.min(this.backoff.refused_max_ms, this.backoff.refused_base_ms * 2 ** (entry.refusals - 1));
      this.schedule(id, entry, Math.round(pause * (0.5 + this.random())), false);
      return;
    }
    if (frame.event === "delivery_receipt" && frame.data.status === "sent") {
      const entry = this.entries.get(id);
      if (entry !== undefined && entry.sender === i && !entry.accepted) {
        entry.accepted = true;
        this.counts.accepted++;
        if (entry.timer !== null) clearTimeout(entry.timer);
        entry.timer = null;
      }
      return;
    }
    if (frame.event !== "new_message") return;
    const ws = this.sockets[i]!;
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event: "ack", data: { message_id: frame.data.message_id, status: "delivered" } }));
    if (i % 2 !== 1) return;
    const entry = this.entries.get(id);
    if (entry === undefined) {
      this.counts.duplicates++;
      return;
    }
    if (entry.sender !== i - 1) return;
    this.entries.delete(id);
    this.delivered_by.set(id, entry.sender);
    if (entry.timer !== null) clearTimeout(entry.timer);
    // Its `sent` may still be on its way to the sender; delivered implies it was accepted.
    if (!entry.accepted) this.counts.accepted++;
    this.counts.delivered++;
    if (entry.refusals > 0) this.counts.refused_then_delivered++;
    this.latencies.push(Date.now() - entry.first_at);
  }
}

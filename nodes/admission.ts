/**
 * Send admission for the all-in-one node: how many log records may wait in front of its
 * routers before new sends are refused with the retryable OVERLOADED (acks are always taken:
 * they drain the backlog).
 *
 * Why the bound follows the drain rate. Two signals guard the routers: the log's backlog
 * (exact and current) and the routing lag (how long the sends a router's last poll found had
 * waited: late by a poll). With a fixed backlog bound larger than the lag bound allows (2,000
 * records is ~500 ms of work at this box's 4,000 records/s, the lag bound 250 ms), the lag
 * tripped first under overload; every send was refused until a poll reported a short lag,
 * by which time the routers had drained the backlog and idled, then every send was taken
 * again. In the side-by-side run at twice the sustainable rate (bench/results/peer.json,
 * 2026-12-03) refusals swung between 358 and 4,019 a second, deliveries between 1,273 and
 * 2,576, and the accepted messages' p50 was 607 ms. Bounding the backlog by what the routers
 * drain in `LAG_SHARE` of the lag bound makes the exact signal hold the queue just under the
 * late one: the lag bound becomes a backstop that a steady overload no longer reaches.
 */

/** The share of the lag bound the backlog may hold, in records at the measured drain rate. */
export const LAG_SHARE = 0.8;
/** A backlog this small is always allowed (an idle node's drain rate says nothing). */
export const BACKLOG_FLOOR = 200;

/**
 * The backlog (log records not yet fetched by a router) past which new sends are refused:
 * what the routers drain in LAG_SHARE of `lag_max_ms` at `drained_per_s`, at least
 * BACKLOG_FLOOR, at most `backlog_max` (0: no count bound). With `lag_max_ms` 0 (lag bound
 * off) the bound is `backlog_max` alone.
 */
export function backlogBound(drained_per_s: number, lag_max_ms: number, backlog_max: number): number {
  const cap = backlog_max > 0 ? backlog_max : Number.POSITIVE_INFINITY;
  if (lag_max_ms <= 0) return cap;
  return Math.min(cap, Math.max(BACKLOG_FLOOR, (drained_per_s * lag_max_ms * LAG_SHARE) / 1_000));
}

/**
 * Records the routers fetch, as a rate: `add` per poll, `sample` every `period_ms` (a timer
 * in the node); the rate is smoothed over about half a second.
 */
export class DrainMeter {
  private fetched = 0;
  private rate = 0;
  constructor(private readonly period_ms: number) {}
  add(records: number): void {
    this.fetched += records;
  }
  sample(): void {
    const now = (this.fetched * 1_000) / this.period_ms;
    this.fetched = 0;
    this.rate = this.rate === 0 ? now : 0.7 * this.rate + 0.3 * now;
  }
  get per_s(): number {
    return this.rate;
  }
}

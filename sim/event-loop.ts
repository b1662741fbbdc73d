/**
 * The discrete-event loop: events ordered by virtual time, ties broken by the order they
 * were scheduled (a sequence number), so a run is a pure function of its seed. Rules: time
 * never goes back; an event scheduled "in the past" runs at the current time; the loop is
 * bounded by a time limit and an event budget given to `run`.
 *
 * The heap is three parallel arrays (time, sequence number, callback) rather than an array
 * of event objects: a run schedules millions of events, and an object per event was garbage
 * the collector had to trace, with the long-lived heap array in old space pointing at each
 * new one (every such pointer is a remembered-set entry the next scavenge must visit). Times
 * and sequence numbers stay unboxed numbers in their arrays. The order is exactly the one
 * the object heap gave (same comparisons, same sift steps), so traces are unchanged.
 */
export class EventLoop {
  private readonly ats: number[] = [];
  private readonly seqs: number[] = [];
  private readonly fns: (() => void)[] = [];
  private seq = 0;
  now = 0;
  executed = 0;

  schedule(at_ms: number, fn: () => void): void {
    const at = Math.max(this.now, at_ms);
    const seq = this.seq++;
    const ats = this.ats;
    const seqs = this.seqs;
    const fns = this.fns;
    let i = ats.length;
    ats.push(at);
    seqs.push(seq);
    fns.push(fn);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pa = ats[parent]!;
      if (pa < at || (pa === at && seqs[parent]! < seq)) break;
      ats[i] = pa;
      seqs[i] = seqs[parent]!;
      fns[i] = fns[parent]!;
      i = parent;
    }
    ats[i] = at;
    seqs[i] = seq;
    fns[i] = fn;
  }

  after(delay_ms: number, fn: () => void): void {
    this.schedule(this.now + delay_ms, fn);
  }

  get pending(): number {
    return this.ats.length;
  }

  /** Removes the root (the caller read it first) and restores the heap. */
  private popRoot(): void {
    const ats = this.ats;
    const seqs = this.seqs;
    const fns = this.fns;
    const lastAt = ats.pop()!;
    const lastSeq = seqs.pop()!;
    const lastFn = fns.pop()!;
    const n = ats.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let bestAt = lastAt;
      let bestSeq = lastSeq;
      if (l < n) {
        const a = ats[l]!;
        const s = seqs[l]!;
        if (a < bestAt || (a === bestAt && s < bestSeq)) {
          m = l;
          bestAt = a;
          bestSeq = s;
        }
      }
      if (r < n) {
        const a = ats[r]!;
        const s = seqs[r]!;
        if (a < bestAt || (a === bestAt && s < bestSeq)) {
          m = r;
          bestAt = a;
          bestSeq = s;
        }
      }
      if (m === i) break;
      ats[i] = bestAt;
      seqs[i] = bestSeq;
      fns[i] = fns[m]!;
      i = m;
    }
    ats[i] = lastAt;
    seqs[i] = lastSeq;
    fns[i] = lastFn;
  }

  /** Runs events up to virtual time `until_ms`, stopping early when `stop()` says so. */
  run(until_ms: number, events_max: number, stop: () => boolean = () => false): void {
    const ats = this.ats;
    const fns = this.fns;
    while (ats.length > 0 && this.executed < events_max) {
      const at = ats[0]!;
      if (at > until_ms) break;
      const fn = fns[0]!;
      this.popRoot();
      this.now = at;
      this.executed++;
      fn();
      if (stop()) return;
    }
    if (this.now < until_ms && (ats.length === 0 || ats[0]! > until_ms)) this.now = until_ms;
  }
}

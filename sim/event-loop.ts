/**
 * The discrete-event loop: events ordered by virtual time, ties broken by the order they
 * were scheduled (a sequence number), so a run is a pure function of its seed. Rules: time
 * never goes back; an event scheduled "in the past" runs at the current time; the loop is
 * bounded by a time limit and an event budget given to `run`.
 */
type Event = { at: number; seq: number; fn: () => void };

export class EventLoop {
  private heap: Event[] = [];
  private seq = 0;
  now = 0;
  executed = 0;

  schedule(at_ms: number, fn: () => void): void {
    const event: Event = { at: Math.max(this.now, at_ms), seq: this.seq++, fn };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.at < event.at || (p.at === event.at && p.seq < event.seq)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = event;
  }

  after(delay_ms: number, fn: () => void): void {
    this.schedule(this.now + delay_ms, fn);
  }

  get pending(): number {
    return this.heap.length;
  }

  private pop(): Event | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      if (l < n) {
        const c = heap[l]!;
        if (c.at < best.at || (c.at === best.at && c.seq < best.seq)) {
          m = l;
          best = c;
        }
      }
      if (r < n) {
        const c = heap[r]!;
        if (c.at < best.at || (c.at === best.at && c.seq < best.seq)) {
          m = r;
          best = c;
        }
      }
      if (m === i) break;
      heap[i] = best;
      i = m;
    }
    heap[i] = last;
    return top;
  }

  /** Runs events up to virtual time `until_ms`, stopping early when `stop()` says so. */
  run(until_ms: number, events_max: number, stop: () => boolean = () => false): void {
    while (this.heap.length > 0 && this.executed < events_max) {
      const next = this.heap[0]!;
      if (next.at > until_ms) break;
      this.pop();
      this.now = next.at;
      this.executed++;
      next.fn();
      if (stop()) return;
    }
    if (this.now < until_ms && (this.heap.length === 0 || this.heap[0]!.at > until_ms)) this.now = until_ms;
  }
}

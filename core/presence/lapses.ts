/**
 * The lapse queue: a binary min-heap over a plain array, so that finding the next
 * connection to lapse costs O(log n) instead of a scan over every connection on every
 * heartbeat. Entries are never updated in place; the caller pushes a new one and treats
 * the old one as stale when it surfaces (lazy deletion), and rebuilds the heap when stale
 * entries pile up. The order is total (time, then user, then connection) so that two runs
 * of the same inputs pop in the same order.
 */
import type { LapseEntry } from "./state.js";

function before(a: LapseEntry, b: LapseEntry): boolean {
  if (a.at_ms !== b.at_ms) return a.at_ms < b.at_ms;
  if (a.user_id !== b.user_id) return a.user_id < b.user_id;
  return a.connection_id < b.connection_id;
}

function swap(heap: LapseEntry[], i: number, j: number): void {
  const a = heap[i] as LapseEntry;
  heap[i] = heap[j] as LapseEntry;
  heap[j] = a;
}

function siftUp(heap: LapseEntry[], index: number): void {
  let i = index;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i] as LapseEntry, heap[parent] as LapseEntry)) return;
    swap(heap, i, parent);
    i = parent;
  }
}

function siftDown(heap: LapseEntry[], index: number): void {
  let i = index;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let least = i;
    if (left < heap.length && before(heap[left] as LapseEntry, heap[least] as LapseEntry)) least = left;
    if (right < heap.length && before(heap[right] as LapseEntry, heap[least] as LapseEntry)) least = right;
    if (least === i) return;
    swap(heap, i, least);
    i = least;
  }
}

export function lapsesPush(heap: LapseEntry[], entry: LapseEntry): void {
  heap.push(entry);
  siftUp(heap, heap.length - 1);
}

export function lapsesPeek(heap: readonly LapseEntry[]): LapseEntry | undefined {
  return heap[0];
}

export function lapsesPop(heap: LapseEntry[]): LapseEntry | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last !== undefined) {
    heap[0] = last;
    siftDown(heap, 0);
  }
  return top;
}

/** Replaces the heap's contents with `entries`, in heap order (Floyd's O(n) build). */
export function lapsesRebuild(heap: LapseEntry[], entries: readonly LapseEntry[]): void {
  heap.length = 0;
  for (const entry of entries) heap.push(entry);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i);
}

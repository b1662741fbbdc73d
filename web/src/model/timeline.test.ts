import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  newestFromOthers,
  timelineAddLive,
  timelineApplyNewest,
  timelineApplyOlder,
  timelineEmpty,
  timelineHasOlder,
  type ChatMessage,
  type HistoryPage,
  type Timeline,
} from "./timeline.js";

const seed = Number(process.env.FC_SEED ?? 20261128);
const mid = (n: number): string => String(n).padStart(19, "0");
const msg = (n: number, from = "u0"): ChatMessage => ({
  message_id: mid(n),
  conversation_id: "d.u0.u1",
  from,
  content: `m${n}`,
  type: "text",
  sent_at: "2026-11-28T00:00:00.000Z",
  client_msg_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
});

/** A server holding messages 1..count: pages newest first, cursor = the oldest ID returned. */
function page(count: number, before: number | null, limit: number): HistoryPage {
  const top = before === null ? count : before - 1;
  const bottom = Math.max(1, top - limit + 1);
  const messages: ChatMessage[] = [];
  for (let n = top; n >= bottom; n--) messages.push(msg(n));
  return { messages, next_cursor: bottom > 1 ? String(bottom) : null };
}

const ids = (t: Timeline): number[] => t.messages.map((m) => Number(m.message_id));
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("timeline", () => {
  it("keeps live messages sorted by ID and drops repeats", () => {
    const t = timelineEmpty();
    expect(timelineAddLive(t, msg(3))).toBe(true);
    expect(timelineAddLive(t, msg(1))).toBe(true);
    expect(timelineAddLive(t, msg(2))).toBe(true);
    expect(timelineAddLive(t, msg(2))).toBe(false);
    expect(ids(t)).toEqual([1, 2, 3]);
  });

  it("places our own send by its ID among messages that came first", () => {
    const t = timelineEmpty();
    timelineAddLive(t, msg(10));
    timelineAddLive(t, msg(12));
    timelineAddLive(t, msg(11, "u1"));
    expect(ids(t)).toEqual([10, 11, 12]);
  });

  it("loads the newest page and then scrolls back to the start without gaps or repeats", () => {
    const t = timelineEmpty();
    timelineApplyNewest(t, page(120, null, 50));
    expect(ids(t)).toEqual(range(71, 120));
    expect(timelineHasOlder(t)).toBe(true);
    timelineApplyOlder(t, t.older_cursor!, page(120, Number(t.older_cursor), 50));
    timelineApplyOlder(t, t.older_cursor!, page(120, Number(t.older_cursor), 50));
    expect(ids(t)).toEqual(range(1, 120));
    expect(timelineHasOlder(t)).toBe(false);
    expect(t.history).toBe("complete");
  });

  it("drops live messages older than a first page that does not reach the start", () => {
    const t = timelineEmpty();
    timelineAddLive(t, msg(5)); // arrived before the chat was opened; may not join the page
    timelineAddLive(t, msg(121)); // arrived while the page was in flight
    timelineApplyNewest(t, page(120, null, 50));
    expect(ids(t)).toEqual(range(71, 121));
    timelineApplyOlder(t, t.older_cursor!, page(120, Number(t.older_cursor), 100));
    expect(ids(t)).toEqual(range(1, 121));
  });

  it("keeps everything when the first page reaches the start", () => {
    const t = timelineEmpty();
    timelineAddLive(t, msg(2));
    timelineApplyNewest(t, page(3, null, 50));
    expect(ids(t)).toEqual([1, 2, 3]);
    expect(t.history).toBe("complete");
  });

  it("an empty conversation is complete, and live messages stay", () => {
    const t = timelineEmpty();
    timelineAddLive(t, msg(1));
    timelineApplyNewest(t, { messages: [], next_cursor: null });
    expect(ids(t)).toEqual([1]);
    expect(t.history).toBe("complete");
  });

  it("a refresh that overlaps merges and keeps the older boundary", () => {
    const t = timelineEmpty();
    timelineApplyNewest(t, page(100, null, 50));
    const cursor = t.older_cursor;
    timelineApplyNewest(t, page(130, null, 50)); // 30 more happened while we were away
    expect(ids(t)).toEqual(range(51, 130));
    expect(t.older_cursor).toBe(cursor);
  });

  it("a refresh that leaves a hole replaces what we held", () => {
    const t = timelineEmpty();
    timelineApplyNewest(t, page(100, null, 50));
    timelineApplyNewest(t, page(300, null, 50)); // 200 happened: 101..250 would be missing
    expect(ids(t)).toEqual(range(251, 300));
    timelineApplyOlder(t, t.older_cursor!, page(300, Number(t.older_cursor), 100));
    expect(ids(t)).toEqual(range(151, 300));
  });

  it("drops an older page whose cursor is no longer ours", () => {
    const t = timelineEmpty();
    timelineApplyNewest(t, page(100, null, 50));
    const stale = t.older_cursor!;
    timelineApplyNewest(t, page(300, null, 50));
    expect(timelineApplyOlder(t, stale, page(100, Number(stale), 50))).toBe(0);
    expect(ids(t)).toEqual(range(251, 300));
  });

  it("merges a history status for our own message forward only", () => {
    const t = timelineEmpty();
    timelineAddLive(t, msg(1, "me"));
    timelineApplyNewest(t, { messages: [{ ...msg(1, "me"), status: "read" }], next_cursor: null });
    expect(t.messages[0]!.status).toBe("read");
    timelineApplyNewest(t, { messages: [{ ...msg(1, "me"), status: "delivered" }], next_cursor: null });
    expect(t.messages[0]!.status).toBe("read");
  });

  it("finds the newest message from someone else", () => {
    const t = timelineEmpty();
    expect(newestFromOthers(t, "me")).toBeNull();
    timelineAddLive(t, msg(1, "u0"));
    timelineAddLive(t, msg(2, "me"));
    expect(newestFromOthers(t, "me")?.message_id).toBe(mid(1));
  });

  it(`any mix of live arrivals, refreshes and scroll-back ends with every message once, in order (seed ${seed})`, () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("live" as const), count: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant("older" as const), limit: fc.integer({ min: 1, max: 100 }) }),
      fc.record({ kind: fc.constant("refresh" as const), missed: fc.integer({ min: 0, max: 120 }), limit: fc.integer({ min: 1, max: 100 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 100 }), fc.array(step, { maxLength: 30 }), (start, firstLimit, steps) => {
        let total = start;
        const t = timelineEmpty();
        timelineApplyNewest(t, page(total, null, firstLimit));
        for (const s of steps) {
          if (s.kind === "live") {
            // Live delivery: the next messages, in order, some repeated.
            for (let i = 0; i < s.count; i++) {
              total++;
              timelineAddLive(t, msg(total));
              if (i % 3 === 0) timelineAddLive(t, msg(total));
            }
          } else if (s.kind === "older") {
            if (timelineHasOlder(t)) timelineApplyOlder(t, t.older_cursor!, page(total, Number(t.older_cursor), s.limit));
          } else {
            total += s.missed; // a disconnect during which these happened and were not delivered
            timelineApplyNewest(t, page(total, null, s.limit));
          }
          // Always contiguous and unique, ending at the newest message.
          const held = ids(t);
          if (held.length > 0) expect(held).toEqual(range(held[0]!, total));
        }
        while (timelineHasOlder(t)) timelineApplyOlder(t, t.older_cursor!, page(total, Number(t.older_cursor), 50));
        expect(ids(t)).toEqual(range(1, total));
      }),
      { seed, numRuns: 300 },
    );
  });
});

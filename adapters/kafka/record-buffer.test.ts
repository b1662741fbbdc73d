import { describe, expect, it } from "vitest";
import type { ConsumedRecord, SendRecord } from "../../core/model.js";
import { RecordBuffer } from "./record-buffer.js";

const record: SendRecord = {
  kind: "send",
  conversation_id: "g.x",
  sender_id: "u1",
  sender_device_id: "d1",
  origin: { gateway_id: "gw1", connection_id: "c1" },
  target: { kind: "group", group_id: "x" },
  content: "hi",
  type: "text",
  client_msg_id: "00000000-0000-4000-8000-000000000000",
  accepted_at_ms: 0,
};
const at = (partition: number, offset: number): ConsumedRecord => ({ partition, offset, key: "g.x", record, generation: 1 });

describe("RecordBuffer", () => {
  it("holds at most records_max and says how much room is left", () => {
    const buffer = new RecordBuffer(3);
    buffer.push(at(0, 0));
    buffer.push(at(0, 1));
    expect(buffer.room()).toBe(1);
    buffer.push(at(1, 0));
    expect(buffer.room()).toBe(0);
    expect(() => buffer.push(at(1, 1))).toThrow(/full/);
    expect(buffer.count).toBe(3);
  });

  it("refuses an offset that does not move a partition forwards", () => {
    const buffer = new RecordBuffer(10);
    buffer.push(at(0, 5));
    expect(() => buffer.push(at(0, 5))).toThrow(/offset 5 after 5/);
    buffer.push(at(1, 0));
  });

  it("takes at most max, in offset order per partition, starting at another partition each call", () => {
    const buffer = new RecordBuffer(100);
    for (let offset = 0; offset < 3; offset++) for (const partition of [0, 1, 2]) buffer.push(at(partition, offset));
    const first = buffer.take(2);
    expect(first.map((r) => [r.partition, r.offset])).toEqual([
      [0, 0],
      [0, 1],
    ]);
    const second = buffer.take(4);
    expect(second.map((r) => [r.partition, r.offset])).toEqual([
      [1, 0],
      [1, 1],
      [1, 2],
      [2, 0],
    ]);
    const rest = buffer.take(100);
    expect(rest.map((r) => [r.partition, r.offset])).toEqual([
      [2, 1],
      [2, 2],
      [0, 2],
    ]);
    expect(buffer.count).toBe(0);
    expect(buffer.take(5)).toEqual([]);
  });

  it("wakes a wait on push, ends it after wait_ms otherwise, and clears everything on clear()", async () => {
    const buffer = new RecordBuffer(10);
    const started = performance.now();
    await buffer.wait(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);

    const waiting = buffer.wait(10_000);
    const pushed_at = performance.now();
    buffer.push(at(3, 7));
    await waiting;
    expect(performance.now() - pushed_at).toBeLessThan(1_000);

    buffer.clear();
    expect(buffer.count).toBe(0);
    expect(buffer.room()).toBe(10);
    buffer.push(at(3, 1));
    expect(buffer.take(1)[0]?.offset).toBe(1);
  });
});

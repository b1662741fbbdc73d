import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../core/limits.js";
import { TYPING_SEND_INTERVAL_MS, TYPING_SHOW_MS, typingActive, typingBookEmpty, typingSeen, typingShouldSend, typingStopped, typingSweep } from "./typing.js";

describe("typing", () => {
  it("sends at most once every 3.5 s, outside the server's 3 s window even with jitter", () => {
    expect(typingShouldSend(undefined, 0)).toBe(true);
    expect(typingShouldSend(1_000, 4_499)).toBe(false);
    expect(typingShouldSend(1_000, 4_500)).toBe(true);
    expect(TYPING_SEND_INTERVAL_MS).toBeGreaterThan(LIMITS.typingIntervalMs);
    expect(TYPING_SHOW_MS).toBeGreaterThan(TYPING_SEND_INTERVAL_MS);
  });

  it("shows typing for 5 s after the event, and a new event extends it", () => {
    const book = typingBookEmpty();
    typingSeen(book, "c1", "bob", 0);
    expect(typingActive(book, "c1", TYPING_SHOW_MS - 1)).toEqual(["bob"]);
    expect(typingActive(book, "c1", TYPING_SHOW_MS)).toEqual([]);
    typingSeen(book, "c1", "bob", 4_000);
    expect(typingActive(book, "c1", 8_000)).toEqual(["bob"]);
    expect(typingActive(book, "c2", 8_000)).toEqual([]);
  });

  it("a message ends the indicator, and sweeping tells when to redraw next", () => {
    const book = typingBookEmpty();
    typingSeen(book, "c1", "bob", 0);
    typingSeen(book, "c1", "carol", 1_000);
    typingStopped(book, "c1", "bob");
    expect(typingActive(book, "c1", 100)).toEqual(["carol"]);
    expect(typingSweep(book, 100)).toBe(1_000 + TYPING_SHOW_MS);
    expect(typingSweep(book, 10_000)).toBeNull();
    expect(book.size).toBe(0);
  });
});

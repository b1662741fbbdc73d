import { describe, expect, it } from "vitest";
import { byteSize, clockTime, dayKey, dayLabel, hueOf, initials, listTime, parseUsernames, presenceText, typingText } from "./format.js";

const T = (iso: string): number => Date.parse(iso);
const now = T("2026-11-28T15:00:00.000Z");

describe("format", () => {
  it("times in a list row", () => {
    expect(clockTime(T("2026-11-28T09:05:00Z"), "UTC")).toBe("09:05");
    expect(dayKey(T("2026-11-28T23:30:00Z"), "UTC")).toBe("2026-11-28");
    expect(dayKey(T("2026-11-28T23:30:00Z"), "Asia/Tokyo")).toBe("2026-11-29");
    expect(listTime(T("2026-11-28T09:05:00Z"), now, "UTC")).toBe("09:05");
    expect(listTime(T("2026-11-27T23:00:00Z"), now, "UTC")).toBe("Yesterday");
    expect(listTime(T("2026-11-24T10:00:00Z"), now, "UTC")).toBe("Tue");
    expect(listTime(T("2026-10-01T10:00:00Z"), now, "UTC")).toBe("1 Oct 2026");
    expect(listTime(0, now, "UTC")).toBe("");
  });

  it("day dividers and last seen", () => {
    expect(dayLabel(T("2026-11-28T01:00:00Z"), now, "UTC")).toBe("Today");
    expect(dayLabel(T("2026-11-27T01:00:00Z"), now, "UTC")).toBe("Yesterday");
    expect(presenceText("online", null, now, "UTC")).toBe("online");
    expect(presenceText("offline", T("2026-11-28T14:02:00Z"), now, "UTC")).toBe("last seen today at 14:02");
    expect(presenceText("offline", null, now, "UTC")).toBe("offline");
    expect(presenceText(null, null, now, "UTC")).toBe("");
  });

  it("sizes, initials, hues", () => {
    expect(byteSize(512)).toBe("512 B");
    expect(byteSize(1536)).toBe("1.5 KB");
    expect(byteSize(12 * 1024 * 1024)).toBe("12 MB");
    expect(initials("alice")).toBe("A");
    expect(initials("weekend trip")).toBe("WT");
    expect(initials("")).toBe("?");
    expect(hueOf("u1")).toBe(hueOf("u1"));
    expect(hueOf("u1")).toBeGreaterThanOrEqual(0);
  });

  it("typing words and username lists", () => {
    expect(typingText(["bob"], false)).toBe("typing…");
    expect(typingText(["bob"], true)).toBe("bob is typing…");
    expect(typingText(["bob", "carol"], true)).toBe("bob and carol are typing…");
    expect(typingText(["a", "b", "c"], true)).toBe("3 people are typing…");
    expect(parseUsernames(" Bob, carol;@dave bob ")).toEqual(["bob", "carol", "dave"]);
  });
});

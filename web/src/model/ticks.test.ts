import { describe, expect, it } from "vitest";
import { ownStatus, receiptBookEmpty, receiptRecord, tickLabel } from "./ticks.js";

describe("ticks", () => {
  it("a direct message goes sent -> delivered -> read and never back", () => {
    const book = receiptBookEmpty();
    expect(ownStatus(book, "m1", { kind: "direct" }, undefined)).toBe("sent");
    expect(receiptRecord(book, "m1", "bob", "delivered")).toBe(true);
    expect(ownStatus(book, "m1", { kind: "direct" }, undefined)).toBe("delivered");
    expect(receiptRecord(book, "m1", "bob", "read")).toBe(true);
    expect(receiptRecord(book, "m1", "bob", "delivered")).toBe(false);
    expect(ownStatus(book, "m1", { kind: "direct" }, undefined)).toBe("read");
  });

  it("a direct receipt without a user_id counts", () => {
    const book = receiptBookEmpty();
    receiptRecord(book, "m1", null, "read");
    expect(ownStatus(book, "m1", { kind: "direct" }, undefined)).toBe("read");
  });

  it("a group message is delivered only when every other member has it, read when all read", () => {
    const book = receiptBookEmpty();
    const audience = { kind: "group" as const, member_ids: ["me", "bob", "carol"], self: "me" };
    receiptRecord(book, "m1", "bob", "read");
    expect(ownStatus(book, "m1", audience, undefined)).toBe("sent");
    receiptRecord(book, "m1", "carol", "delivered");
    expect(ownStatus(book, "m1", audience, undefined)).toBe("delivered");
    receiptRecord(book, "m1", "carol", "read");
    expect(ownStatus(book, "m1", audience, undefined)).toBe("read");
  });

  it("a group whose members are unknown shows the history floor or sent", () => {
    const book = receiptBookEmpty();
    receiptRecord(book, "m1", "bob", "read");
    expect(ownStatus(book, "m1", { kind: "group", member_ids: null, self: "me" }, undefined)).toBe("sent");
    expect(ownStatus(book, "m1", { kind: "group", member_ids: null, self: "me" }, "delivered")).toBe("delivered");
  });

  it("the history status is a floor", () => {
    const book = receiptBookEmpty();
    receiptRecord(book, "m1", "bob", "delivered");
    expect(ownStatus(book, "m1", { kind: "direct" }, "read")).toBe("read");
    expect(ownStatus(book, "m1", { kind: "group", member_ids: ["me", "bob", "carol"], self: "me" }, "delivered")).toBe("delivered");
  });

  it("a group of one shows sent", () => {
    expect(ownStatus(receiptBookEmpty(), "m1", { kind: "group", member_ids: ["me"], self: "me" }, undefined)).toBe("sent");
  });

  it("labels ticks for the eye and the ear", () => {
    expect(tickLabel("sent")).toMatchObject({ glyph: "tick1", label: "Sent" });
    expect(tickLabel("delivered")).toMatchObject({ glyph: "tick2", label: "Delivered" });
    expect(tickLabel("read")).toMatchObject({ glyph: "tick2", label: "Read", className: "tick tick-read" });
  });
});

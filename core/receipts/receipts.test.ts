import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { receiptAdvance, receiptMax, receiptRank, receiptSteps } from "./index.js";
import type { ReceiptStatus } from "../protocol/frames.js";

const seed = Number(process.env.FC_SEED ?? 20261128);
const status = fc.constantFrom<ReceiptStatus>("sent", "delivered", "read");

describe("receipts", () => {
  it("moves forward and never back", () => {
    expect(receiptAdvance(null, "delivered")).toEqual({ status: "delivered", changed: true });
    expect(receiptAdvance("delivered", "sent")).toEqual({ status: "delivered", changed: false });
    expect(receiptAdvance("delivered", "read")).toEqual({ status: "read", changed: true });
    expect(receiptAdvance("read", "delivered")).toEqual({ status: "read", changed: false });
    expect(receiptAdvance("read", "read")).toEqual({ status: "read", changed: false });
  });

  it("spells out the skipped steps so read never comes without delivered", () => {
    expect(receiptSteps("sent", "read")).toEqual(["delivered", "read"]);
    expect(receiptSteps(null, "delivered")).toEqual(["sent", "delivered"]);
    expect(receiptSteps("read", "delivered")).toEqual([]);
  });

  it(`merge is a join-semilattice (seed ${seed})`, () => {
    fc.assert(
      fc.property(status, status, status, (a, b, c) => {
        expect(receiptMax(a, b)).toBe(receiptMax(b, a));
        expect(receiptMax(receiptMax(a, b), c)).toBe(receiptMax(a, receiptMax(b, c)));
        expect(receiptMax(a, a)).toBe(a);
      }),
      { seed },
    );
  });

  it(`any order of updates converges to the max and the shown statuses only rise (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(status, { maxLength: 20 }), (updates) => {
        let current: ReceiptStatus | null = null;
        const shown: ReceiptStatus[] = [];
        for (const u of updates) {
          const before: ReceiptStatus | null = current;
          const next = receiptAdvance(current, u);
          if (next.changed) shown.push(...receiptSteps(before, next.status));
          current = next.status;
        }
        for (let i = 1; i < shown.length; i++) {
          expect(receiptRank(shown[i]!)).toBe(receiptRank(shown[i - 1]!) + 1);
        }
        if (updates.length > 0) {
          expect(current).toBe(updates.reduce(receiptMax));
        }
      }),
      { seed, numRuns: 500 },
    );
  });
});

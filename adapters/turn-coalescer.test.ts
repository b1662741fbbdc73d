import { describe, expect, it } from "vitest";
import { TurnCoalescer } from "./turn-coalescer.js";

describe("TurnCoalescer", () => {
  it("answers the look-ups of one turn with one query per keys_max keys, and a later turn with its own", async () => {
    const queries: string[][] = [];
    const loader = new TurnCoalescer<number | null>(
      async (keys) => {
        queries.push([...keys]);
        return new Map(keys.filter((k) => k !== "missing").map((k) => [k, k.length]));
      },
      null,
      2,
    );
    const first = await Promise.all([loader.load("a"), loader.load("bb"), loader.load("a"), loader.load("missing")]);
    expect(first).toEqual([1, 2, 1, null]);
    expect(queries).toEqual([["a", "bb"], ["missing"]]);
    expect(await loader.load("ccc")).toBe(3);
    expect(queries).toHaveLength(3);
  });

  it("rejects every caller of a failed query, and only those", async () => {
    const loader = new TurnCoalescer<string>(
      async (keys) => {
        if (keys.includes("bad")) throw new Error("query failed");
        return new Map(keys.map((k) => [k, k]));
      },
      "",
      1,
    );
    const results = await Promise.allSettled([loader.load("bad"), loader.load("bad"), loader.load("good")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "fulfilled"]);
  });
});

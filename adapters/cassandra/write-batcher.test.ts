import { describe, expect, it } from "vitest";
import type { Client } from "cassandra-driver";
import { CqlWriteBatcher } from "./write-batcher.js";

type Sent = { kind: "execute" | "batch"; queries: string[]; logged?: boolean };

function fakeClient(fail: (queries: string[]) => boolean = () => false): { client: Client; sent: Sent[] } {
  const sent: Sent[] = [];
  const client = {
    execute: async (query: string) => {
      sent.push({ kind: "execute", queries: [query] });
      if (fail([query])) throw new Error("write failed");
    },
    batch: async (queries: { query: string }[], options: { logged?: boolean }) => {
      const list = queries.map((q) => q.query);
      sent.push({ kind: "batch", queries: list, logged: options.logged });
      if (fail(list)) throw new Error("batch failed");
    },
  } as unknown as Client;
  return { client, sent };
}

const s = (query: string) => ({ query, params: [] });

describe("CqlWriteBatcher", () => {
  it("sends the writes of one turn as unlogged batches of at most statements_max, never splitting a group", async () => {
    const { client, sent } = fakeClient();
    const batcher = new CqlWriteBatcher(client, { consistency: 6, statements_max: 3, pending_max: 100 });
    await Promise.all([batcher.write([s("a")]), batcher.write([s("b1"), s("b2")]), batcher.write([s("c1"), s("c2")]), batcher.write([s("d")])]);
    expect(sent).toEqual([
      { kind: "batch", queries: ["a", "b1", "b2"], logged: false },
      { kind: "batch", queries: ["c1", "c2", "d"], logged: false },
    ]);
  });

  it("sends a lone statement as a plain execute, and a group larger than statements_max alone", async () => {
    const { client, sent } = fakeClient();
    const batcher = new CqlWriteBatcher(client, { consistency: 6, statements_max: 2, pending_max: 100 });
    await batcher.write([s("only")]);
    await batcher.write([s("x1"), s("x2"), s("x3")]);
    expect(sent).toEqual([
      { kind: "execute", queries: ["only"] },
      { kind: "batch", queries: ["x1", "x2", "x3"], logged: false },
    ]);
  });

  it("fails every caller whose writes rode in a failed batch, and only those", async () => {
    const { client } = fakeClient((queries) => queries.includes("bad"));
    const batcher = new CqlWriteBatcher(client, { consistency: 6, statements_max: 2, pending_max: 100 });
    const results = await Promise.allSettled([batcher.write([s("bad")]), batcher.write([s("same-batch")]), batcher.write([s("next-batch")])]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "fulfilled"]);
  });

  it("refuses writes beyond pending_max at once instead of queueing without bound", async () => {
    const { client } = fakeClient();
    const batcher = new CqlWriteBatcher(client, { consistency: 6, statements_max: 2, pending_max: 3 });
    const accepted = batcher.write([s("a"), s("b"), s("c")]);
    await expect(batcher.write([s("d")])).rejects.toThrow(/pending_max/);
    await accepted;
  });
});

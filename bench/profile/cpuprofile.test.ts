import { describe, expect, it } from "vitest";
import { componentOf, summarise, type CpuProfile, type Resolver } from "./cpuprofile.js";
import { histogramQuantileMs, largestBucketMs, parsePrometheus } from "./metrics-text.js";

const resolve: Resolver = (url, line0) => (url === "" ? { file: "(native)", line: 0 } : { file: url.replace("file:///repo/", ""), line: line0 + 1 });
const frame = (functionName: string, url: string) => ({ functionName, url, scriptId: "0", lineNumber: 0, columnNumber: 0 });

// root ─┬ (idle)
//       ├ feed (router host) ─ runBatch (write batcher) ─ writev (native)
//       │                    └ emit (node:events) ─ parseJson (core/protocol)
//       └ (garbage collector)
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)", ""), children: [2, 3, 4] },
    { id: 2, callFrame: frame("(idle)", "") },
    { id: 3, callFrame: frame("feed", "file:///repo/nodes/hosts/router-host.ts"), children: [5, 7] },
    { id: 4, callFrame: frame("(garbage collector)", "") },
    { id: 5, callFrame: frame("runBatch", "file:///repo/adapters/sqlite/write-batcher.ts"), children: [6] },
    { id: 6, callFrame: frame("writev", "") },
    { id: 7, callFrame: frame("emit", "node:events"), children: [8] },
    { id: 8, callFrame: frame("parseJson", "file:///repo/core/protocol/decode.ts") },
  ],
  startTime: 1_000,
  endTime: 1_800,
  // t = 1000 (idle), 1100 runBatch, 1200 writev, 1300 GC, 1400 feed, 1500 parseJson, 1600 idle
  samples: [2, 5, 6, 4, 3, 8, 2],
  timeDeltas: [0, 100, 100, 100, 100, 100, 100],
};

describe("summarise", () => {
  it("charges each sample in the window to its innermost component and counts stacks inclusively", () => {
    const s = summarise(profile, { resolve, window: [1_100, 1_600], messages: 5 });
    expect(s.window.samples).toBe(5);
    expect(s.window.duration_ms).toBeCloseTo(0.5, 5);
    expect(s.idle_pct).toBe(0);
    const comp = new Map(s.components.map((c) => [c.component, c]));
    expect(comp.get("sqlite_commit")?.self_pct).toBe(20);
    expect(comp.get("socket_write")?.self_pct).toBe(20);
    expect(comp.get("gc")?.self_pct).toBe(20);
    expect(comp.get("router_host")?.self_pct).toBe(20);
    expect(comp.get("json_parse")?.self_pct).toBe(20); // node:events is transparent
    expect(comp.get("router_host")?.inclusive_pct).toBe(80);
    expect(comp.get("sqlite_commit")?.us_per_message).toBe(20);
    const fns = new Map(s.functions.map((f) => [f.function, f]));
    expect(fns.get("feed")?.total_pct).toBe(80);
    expect(fns.get("runBatch")?.total_pct).toBe(40);
    expect(fns.get("writev")?.place).toBe("(native)");
    // Everything under feed started in the router host.
    expect(s.entries.find((e) => e.component === "router_host")?.pct).toBe(80);
  });

  it("weights samples by the time to the next one and takes the whole profile without a window", () => {
    const s = summarise({ ...profile, timeDeltas: [0, 100, 300, 100, 100, 100, 100] }, { resolve });
    expect(s.window.whole_profile).toBe(true);
    expect(s.window.samples).toBe(7);
    const writev = s.functions.find((f) => f.function === "writev")!;
    expect(writev.self_ms).toBeCloseTo(0.1, 5);
    const runBatch = s.functions.find((f) => f.function === "runBatch")!;
    expect(runBatch.self_ms).toBeCloseTo(0.3, 5);
    expect(s.messages).toBeNull();
  });

  it("charges a stack of node internals only to node internals, inclusively too", () => {
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", ""), children: [2] },
        { id: 2, callFrame: frame("listOnTimeout", "node:internal/timers"), children: [3] },
        { id: 3, callFrame: frame("processTimers", "node:internal/timers") },
      ],
      startTime: 0,
      endTime: 200,
      samples: [2, 3],
      timeDeltas: [0, 100],
    };
    const s = summarise(p, { resolve });
    expect(s.components).toEqual([expect.objectContaining({ component: "node_internal", self_pct: 100, inclusive_pct: 100 })]);
    for (const g of s.groups) expect(g.inclusive_pct).toBeGreaterThanOrEqual(g.self_pct);
  });

  it("classifies frames by where their source lives", () => {
    const c = (name: string, url: string) => componentOf(frame(name, url), resolve(url, 0, 0));
    expect(c("x", "file:///repo/node_modules/zod/v4/core/schemas.js")).toBe("zod");
    expect(c("x", "file:///repo/node_modules/ws/lib/sender.js")).toBe("ws");
    expect(c("x", "file:///repo/node_modules/better-sqlite3/lib/index.js")).toBe("sqlite_other");
    expect(c("x", "file:///repo/core/gateway/step.ts")).toBe("gateway_core");
    expect(c("encodeFrame", "file:///repo/core/protocol/decode.ts")).toBe("json_stringify");
    expect(c("x", "node:internal/streams/writable")).toBeNull();
    expect(c("structuredClone", "")).toBeNull();
  });
});

describe("metrics text", () => {
  const a = parsePrometheus(['h_bucket{le="0.001"} 0', 'h_bucket{le="0.01"} 0', 'h_bucket{le="+Inf"} 0', "g 1"].join("\n"));
  const b = parsePrometheus(['# HELP h x', 'h_bucket{le="0.001"} 50', 'h_bucket{le="0.01"} 98', 'h_bucket{le="+Inf"} 100', "g 2"].join("\n"));
  it("reads samples and histogram quantiles between two scrapes", () => {
    expect(b.get("g")).toBe(2);
    expect(histogramQuantileMs({ t_us: 0, values: a }, { t_us: 1, values: b }, "h", 0.5)).toBe(1);
    expect(histogramQuantileMs({ t_us: 0, values: a }, { t_us: 1, values: b }, "h", 0.9)).toBe(10);
    expect(histogramQuantileMs({ t_us: 0, values: a }, { t_us: 1, values: b }, "h", 0.99)).toBe(Number.POSITIVE_INFINITY);
    expect(largestBucketMs({ t_us: 1, values: b }, "h")).toBe(10);
    expect(histogramQuantileMs({ t_us: 0, values: a }, { t_us: 1, values: a }, "h", 0.5)).toBeNull();
  });
});

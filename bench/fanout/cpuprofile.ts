/**
 * A small reader of V8 `.cpuprofile` files (what `node --cpu-prof` writes): self time per
 * function and per file, over the whole profile. A sample stands for the time until the next
 * one; it is main-thread wall time, so a synchronous native call (better-sqlite3's statements,
 * a socket write) is charged to the JavaScript function that made it. `(idle)` is the event
 * loop waiting, `(garbage collector)` main-thread GC, `(program)` unattributed native work.
 *
 * Run from TypeScript under tsx, a frame's position is in tsx's output, which is one line per
 * file (esbuild's minifyWhitespace). tsx keeps that output with its source map in its cache
 * (`$TMPDIR/tsx-$UID/`, JSON `{code, map}`), so positions are mapped back to the `.ts` line
 * through the cached entry of that file that best matches the frames' function names.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { SourceMap, type SourceMapPayload } from "node:module";
import { tmpdir, userInfo } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

export type Row = { name: string; ms: number; pct: number };

type Cached = { code: string; map: SourceMap; mtime: number };

/** tsx's cache entries by the source file they were made from. */
function tsxCache(): Map<string, Cached[]> {
  const out = new Map<string, Cached[]>();
  let dir: string;
  try {
    dir = join(tmpdir(), `tsx-${userInfo().uid}`);
  } catch {
    return out;
  }
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.endsWith(".pipe")) continue;
    try {
      const path = join(dir, name);
      const st = statSync(path);
      if (!st.isFile() || st.size > 20_000_000) continue;
      const entry = JSON.parse(readFileSync(path, "utf8")) as { code?: string; map?: string | SourceMapPayload };
      if (typeof entry.code !== "string" || entry.map === undefined) continue;
      const payload = (typeof entry.map === "string" ? JSON.parse(entry.map) : entry.map) as SourceMapPayload;
      const source = payload.sources?.[0];
      if (source === undefined || payload.sources.length !== 1) continue;
      const list = out.get(source) ?? [];
      list.push({ code: entry.code, map: new SourceMap(payload), mtime: st.mtimeMs });
      out.set(source, list);
    } catch {
      // not a cache entry we understand
    }
  }
  return out;
}

/** For each file, the cached build whose code has the frames' function names at their columns (ties: the newest). */
function pickBuilds(frames: readonly CallFrame[], cache: Map<string, Cached[]>): Map<string, Cached> {
  const byFile = new Map<string, CallFrame[]>();
  for (const cf of frames) {
    if (!cf.url.startsWith("file://") || cf.url.includes("/node_modules/")) continue;
    byFile.set(cf.url, [...(byFile.get(cf.url) ?? []), cf]);
  }
  const out = new Map<string, Cached>();
  for (const [url, list] of byFile) {
    const candidates = cache.get(fileURLToPath(url)) ?? [];
    let best: { c: Cached; score: number } | null = null;
    for (const c of candidates) {
      const lines = c.code.split("\n");
      let score = 0;
      for (const cf of list) {
        const name = cf.functionName.split(".").pop() ?? "";
        if (name === "") continue;
        const line = lines[cf.lineNumber] ?? "";
        if (line.slice(Math.max(0, cf.columnNumber - 80), cf.columnNumber + 40).includes(name)) score++;
      }
      if (best === null || score > best.score || (score === best.score && c.mtime > best.c.mtime)) best = { c, score };
    }
    if (best !== null) out.set(url, best.c);
  }
  return out;
}
/**
 * functions/files: self time. project: each sample charged to the innermost function of the
 * repository's own code on its stack (so a socket write inside `ws`, or a SQLite statement,
 * is charged to the project function that asked for it); samples with no project frame keep
 * their leaf's name (idle, GC, node internals).
 */
export type Summary = { total_ms: number; busy_ms: number; functions: Row[]; files: Row[]; project: Row[] };

function place(root: string, url: string): string {
  if (url === "") return "(native)";
  if (url.startsWith("file://")) {
    const path = relative(root, fileURLToPath(url));
    const nm = path.lastIndexOf("node_modules/");
    if (nm >= 0) {
      const rest = path.slice(nm + "node_modules/".length).split("/");
      return `${rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]} (node_modules)`;
    }
    return path;
  }
  return url;
}

/**
 * Self time per function (name + file:line) and per file, sorted, over the samples taken in
 * [from_us, to_us) of the monotonic clock (V8's profile timestamps are CLOCK_MONOTONIC in µs,
 * the clock of `process.hrtime`, so another process on the machine can give the window).
 */
export function summarize(file: string, root: string, top = 25, from_us = 0, to_us = Infinity): Summary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000; // a sample lasts until the next one
    at += p.timeDeltas[i] ?? 0;
    if (at < from_us || at >= to_us) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const builds = pickBuilds([...new Set([...self.keys()].map((id) => byId.get(id)!.callFrame))], tsxCache());
  const lineOf = (cf: CallFrame): number => {
    const build = builds.get(cf.url);
    if (build === undefined) return cf.lineNumber + 1;
    const e = build.map.findEntry(cf.lineNumber, cf.columnNumber) as { originalLine?: number };
    return e.originalLine !== undefined ? e.originalLine + 1 : cf.lineNumber + 1;
  };
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isProject = (cf: CallFrame): boolean => cf.url.startsWith("file://") && !cf.url.includes("/node_modules/");
  const fn = new Map<string, number>();
  const project = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of self) {
    const cf = byId.get(id)!.callFrame;
    total += ms;
    if (cf.functionName === "(idle)") idle += ms;
    const where = place(root, cf.url);
    const key = cf.url === "" ? cf.functionName || "(anonymous)" : `${cf.functionName || "(anonymous)"} ${where}:${lineOf(cf)}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    const fileKey = cf.url === "" ? cf.functionName || "(native)" : where;
    files.set(fileKey, (files.get(fileKey) ?? 0) + ms);
    let at: number | undefined = id;
    while (at !== undefined && !isProject(byId.get(at)!.callFrame)) at = parent.get(at);
    const owner = at === undefined ? key : (() => {
      const pf = byId.get(at)!.callFrame;
      return `${pf.functionName || "(anonymous)"} ${place(root, pf.url)}:${lineOf(pf)}`;
    })();
    project.set(owner, (project.get(owner) ?? 0) + ms);
  }
  const rows = (m: Map<string, number>): Row[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), pct: Number(((ms / Math.max(1, total)) * 100).toFixed(1)) }));
  return { total_ms: Math.round(total), busy_ms: Math.round(total - idle), functions: rows(fn), files: rows(files), project: rows(project) };
}

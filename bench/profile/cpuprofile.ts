/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes: a call tree of `nodes`, each with
 * a `callFrame`, and a stream of `samples` with `timeDeltas`) and says where the main
 * thread's time went inside a time window: the top functions by self time, and a breakdown
 * by component (SQLite, JSON, zod, WebSocket, gateway, router, GC, idle, ...).
 *
 * What a sample means: every interval V8 records the main thread's JavaScript stack. A
 * sample stands for the time until the next sample (as Chrome DevTools counts it). It is
 * wall time on the main thread, not CPU: a thread blocked in a synchronous call (SQLite's
 * COMMIT writing the WAL, a socket writev) is charged to the JavaScript function that made
 * the call, because V8 shows no frame for a native addon's methods (better-sqlite3's
 * `run`/`get`/`all`). `(idle)` is the event loop waiting for I/O, `(garbage collector)` is
 * GC on the main thread, `(program)` is native work V8 could not attribute to a function.
 *
 * Pure: no I/O except reading source maps through the `resolve` function given.
 */
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, relative, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";

export type CallFrame = { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
export type ProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[]; positionTicks?: { line: number; ticks: number }[] };
export type CpuProfile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

/** A frame's place in the repository: `file` relative to the root (or `node:...`, `(native)`), 1-based line. */
export type Place = { file: string; line: number };
/** Maps a frame's url and 0-based line/column to a readable place (source-mapped where a map exists). */
export type Resolver = (url: string, line0: number, column0: number) => Place;

/**
 * Components, finest first. Each frame belongs to one, or to none (`null`: transparent, its
 * time goes to the nearest caller that belongs to one): node's own JavaScript (streams, net,
 * events, timers) and anonymous builtins are transparent, so a socket write that `ws` makes
 * is counted as WebSocket work, and a JSON.parse inside the decoder as JSON.
 */
export const COMPONENTS = {
  idle: { label: "idle (event loop waiting for I/O)", group: "idle" },
  gc: { label: "garbage collector (main thread)", group: "GC" },
  program: { label: "V8 / native, unattributed ((program))", group: "V8 & node internals" },
  node_internal: { label: "node internals (streams, net, timers, microtasks) with no project or library caller", group: "V8 & node internals" },
  startup: { label: "module loading and compilation", group: "V8 & node internals" },
  sqlite_commit: { label: "SQLite group commit: WriteBatcher (BEGIN, SAVEPOINT, COMMIT and its WAL writes)", group: "SQLite" },
  sqlite_log: { label: "SQLite log: append and poll fetch (log-sqlite)", group: "SQLite" },
  sqlite_messages: { label: "SQLite message store (claims, messages)", group: "SQLite" },
  sqlite_pending: { label: "SQLite pending store", group: "SQLite" },
  sqlite_directory: { label: "SQLite directory (users, devices)", group: "SQLite" },
  sqlite_other: { label: "SQLite other (database, better-sqlite3's JavaScript)", group: "SQLite" },
  log_polling: { label: "log polling (pollWithin: fetch, wait, wake)", group: "log polling" },
  json_parse: { label: "JSON.parse of incoming frames (decode.parseJson)", group: "JSON parse/stringify" },
  json_stringify: { label: "JSON.stringify of outgoing frames (encodeFrame)", group: "JSON parse/stringify" },
  json_other: { label: "JSON parse/stringify elsewhere", group: "JSON parse/stringify" },
  zod: { label: "zod validation", group: "zod validation" },
  protocol: { label: "protocol decode/encode around JSON and zod (core/protocol)", group: "zod validation" },
  socket_write: { label: "socket write syscalls (writev, write*String)", group: "WebSocket (ws framing, sending, edge)" },
  ws: { label: "ws library (frame parsing, framing, send)", group: "WebSocket (ws framing, sending, edge)" },
  ws_edge: { label: "WebSocket edge (nodes/http/websocket)", group: "WebSocket (ws framing, sending, edge)" },
  gateway_core: { label: "gateway core (core/gateway, pure step)", group: "gateway (core + host)" },
  gateway_host: { label: "gateway host (nodes/hosts/gateway-host)", group: "gateway (core + host)" },
  router_core: { label: "router core (core/router, pure step)", group: "router (core + host)" },
  router_host: { label: "router host (nodes/hosts/router-host)", group: "router (core + host)" },
  cores_shared: { label: "shared cores (ids, model, pending, presence, receipts)", group: "other cores, hosts and in-memory adapters" },
  hosts_plumbing: { label: "host plumbing (tasks, timers)", group: "other cores, hosts and in-memory adapters" },
  wiring: { label: "all-in-one wiring (callbacks in nodes/all-in-one.ts)", group: "other cores, hosts and in-memory adapters" },
  memory_adapters: { label: "in-memory adapters (sessions, presence, gateway link with structuredClone)", group: "other cores, hosts and in-memory adapters" },
  metrics: { label: "metrics (prom-client, observe)", group: "metrics & logging" },
  logging: { label: "logging (pino)", group: "metrics & logging" },
  rest_api: { label: "REST API (fastify, routes)", group: "REST, auth, startup" },
  auth: { label: "auth and crypto (scrypt, tokens)", group: "REST, auth, startup" },
  other_library: { label: "other libraries", group: "other" },
  other: { label: "other project code", group: "other" },
} as const;
export type Component = keyof typeof COMPONENTS;

const SOCKET_WRITES = new Set(["writev", "writeBuffer", "writeUtf8String", "writeLatin1String", "writeAsciiString", "writeUcs2String", "shutdown"]);
const REST_LIBRARIES = /^(fastify|@fastify\/.*|find-my-way|avvio|light-my-request|ajv|ajv-formats|fast-json-stringify|fast-uri|toad-cache|safe-regex2|ret|fastq|reusify|process-warning|abstract-logging|rfdc|secure-json-parse|fast-querystring|json-schema-ref-resolver)$/;

function packageOf(file: string): string | null {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
  return m ? m[1]! : null;
}

/** The component of one frame at `place`, or null when it is transparent. */
export function componentOf(frame: CallFrame, place: Place): Component | null {
  const name = frame.functionName;
  if (name === "(idle)") return "idle";
  if (name === "(garbage collector)") return "gc";
  if (name === "(program)") return "program";
  if (name === "(root)") return null;
  const file = place.file;
  if (frame.url === "") {
    if (SOCKET_WRITES.has(name)) return "socket_write";
    if (name === "parse" || name === "stringify") return "json_other";
    return null; // builtins (RegExp, structuredClone, runMicrotasks, ...): the caller's
  }
  if (file.startsWith("node:")) {
    if (file.startsWith("node:internal/crypto")) return "auth";
    if (file.startsWith("node:internal/modules") || file.startsWith("node:internal/bootstrap") || file.startsWith("node:internal/deps/cjs-module-lexer")) return "startup";
    return null;
  }
  const pkg = packageOf(file);
  if (pkg !== null) {
    if (pkg === "better-sqlite3") return "sqlite_other";
    if (pkg === "zod") return "zod";
    if (pkg === "ws") return "ws";
    if (pkg === "prom-client" || pkg === "tdigest" || pkg === "bintrees") return "metrics";
    if (pkg === "pino" || pkg === "sonic-boom" || pkg === "thread-stream" || pkg.startsWith("pino-")) return "logging";
    if (REST_LIBRARIES.test(pkg)) return "rest_api";
    return "other_library";
  }
  if (file.startsWith("adapters/sqlite/")) {
    if (file.startsWith("adapters/sqlite/write-batcher")) return "sqlite_commit";
    if (file.startsWith("adapters/sqlite/log-sqlite")) return "sqlite_log";
    if (file.startsWith("adapters/sqlite/message-store-sqlite")) return "sqlite_messages";
    if (file.startsWith("adapters/sqlite/pending-store-sqlite")) return "sqlite_pending";
    if (file.startsWith("adapters/sqlite/directory-sqlite")) return "sqlite_directory";
    return "sqlite_other";
  }
  if (file.startsWith("adapters/log-polling")) return "log_polling";
  if (file.startsWith("adapters/memory/")) return "memory_adapters";
  if (file.startsWith("core/protocol/")) {
    if (name === "parseJson") return "json_parse";
    if (name === "encodeFrame") return "json_stringify";
    return "protocol";
  }
  if (file.startsWith("core/gateway/")) return "gateway_core";
  if (file.startsWith("core/router/")) return "router_core";
  if (file.startsWith("core/")) return "cores_shared";
  if (file.startsWith("nodes/hosts/gateway-host")) return "gateway_host";
  if (file.startsWith("nodes/hosts/router-host")) return "router_host";
  if (file.startsWith("nodes/hosts/")) return "hosts_plumbing";
  if (file.startsWith("nodes/http/websocket")) return "ws_edge";
  if (file.startsWith("nodes/http/")) return "rest_api";
  if (file.startsWith("nodes/observe") || file.startsWith("nodes/metrics")) return "metrics";
  if (file.startsWith("nodes/auth")) return "auth";
  if (file.startsWith("nodes/all-in-one")) return "wiring";
  return "other";
}

/**
 * A resolver for a profile of code compiled by tsc with source maps: `file://` URLs under
 * `buildDir` are mapped back to the TypeScript source (relative to `root`); other files are
 * made relative to `root`; `node:` URLs stay; native frames are `(native)`.
 */
export function sourceMapResolver(root: string): Resolver {
  const maps = new Map<string, { map: SourceMap; lines: string[] } | null>();
  const load = (path: string): { map: SourceMap; lines: string[] } | null => {
    if (!maps.has(path)) {
      try {
        const map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8")));
        maps.set(path, { map, lines: readFileSync(path, "utf8").split("\n") });
      } catch {
        maps.set(path, null);
      }
    }
    return maps.get(path) ?? null;
  };
  const cache = new Map<string, Place>();
  return (url, line0, column0) => {
    const key = `${url}:${line0}:${column0}`;
    const hit = cache.get(key);
    if (hit) return hit;
    let place: Place;
    if (url === "") place = { file: "(native)", line: 0 };
    else if (!url.startsWith("file://")) place = { file: url, line: line0 + 1 };
    else {
      const path = fileURLToPath(url);
      const m = load(path);
      const entry = m ? (m.map.findEntry(line0, column0) as Partial<{ originalSource: string; originalLine: number }>) : {};
      if (m && entry.originalSource !== undefined && entry.originalLine !== undefined) {
        const source = entry.originalSource.startsWith("file://") ? fileURLToPath(entry.originalSource) : resolvePath(dirname(path), entry.originalSource);
        place = { file: relative(root, source), line: entry.originalLine + 1 };
      } else place = { file: relative(root, path), line: line0 + 1 };
    }
    cache.set(key, place);
    return place;
  };
}

/** The source line (1-based, mapped) of a generated line (1-based), for `positionTicks`. */
export function mapLine(root: string, url: string, line1: number): Place {
  if (!url.startsWith("file://")) return { file: url, line: line1 };
  const path = fileURLToPath(url);
  try {
    const generated = readFileSync(path, "utf8").split("\n")[line1 - 1] ?? "";
    const column = generated.length - generated.trimStart().length;
    return sourceMapResolver(root)(url, line1 - 1, column);
  } catch {
    return { file: relative(root, path), line: line1 };
  }
}

export type FunctionRow = {
  function: string;
  place: string;
  component: Component;
  self_ms: number;
  self_pct: number;
  total_ms: number;
  total_pct: number;
  self_us_per_message: number | null;
  /** The line of the function with most samples (whole profile, from V8's positionTicks), and its share of the function's samples. */
  hottest_line: string | null;
  hottest_line_pct: number | null;
  /** That line's source text (trimmed). */
  hottest_code: string | null;
};
export type ComponentRow = { component: Component; label: string; group: string; self_ms: number; self_pct: number; busy_pct: number | null; us_per_message: number | null; inclusive_pct: number };
export type GroupRow = { group: string; self_ms: number; self_pct: number; busy_pct: number | null; us_per_message: number | null; inclusive_pct: number };
export type EntryRow = { component: Component; label: string; ms: number; pct: number; busy_pct: number | null };

export type Summary = {
  window: { start_us: number; end_us: number; duration_ms: number; samples: number; mean_interval_us: number; whole_profile: boolean };
  busy_ms: number;
  busy_pct: number;
  idle_pct: number;
  messages: number | null;
  /** Non-idle main-thread time per delivered message. */
  busy_us_per_message: number | null;
  groups: GroupRow[];
  components: ComponentRow[];
  /** Busy time by the outermost component on the stack: which kind of event-loop callback started the work. */
  entries: EntryRow[];
  functions: FunctionRow[];
};

export type SummariseOptions = {
  resolve: Resolver;
  /** [start, end) in the profile's clock (µs, CLOCK_MONOTONIC, like process.hrtime); the whole profile when absent. */
  window?: readonly [number, number];
  /** Delivered messages in the window, for per-message costs. */
  messages?: number;
  top?: number;
  /** For hottest lines: the repository root (source maps are read from disk). */
  root?: string;
};

/** Components that only pass work on (promise plumbing, timers): "who starts the work" looks past them to the next one. */
const NOT_ENTRIES = new Set<Component>(["node_internal", "program", "hosts_plumbing"]);

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/** Summarises `profile` (see the file's comment for what the numbers mean). */
export function summarise(profile: CpuProfile, options: SummariseOptions): Summary {
  const { resolve } = options;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const funcKey = (f: CallFrame): string => `${f.functionName}\u0000${f.url}\u0000${f.lineNumber}\u0000${f.columnNumber}`;
  /** comps: the components on the stack (passed down to callees); counted: those plus the sample's own (which may be the node_internal default). */
  type Info = { self: Component; outer: Component; funcs: Set<string>; comps: Set<Component>; counted: Set<Component>; key: string };
  const info = new Map<number, Info>();
  const infoOf = (id: number): Info => {
    const known = info.get(id);
    if (known) return known;
    // Root to leaf, iteratively (stacks can be deep).
    const chain: number[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) chain.push(cur);
    chain.reverse();
    let funcs = new Set<string>();
    let comps = new Set<Component>();
    let self: Component | null = null;
    let outer: Component | null = null;
    for (const nid of chain) {
      const cached = info.get(nid);
      if (cached) {
        ({ funcs, comps } = cached);
        self = cached.self;
        outer = cached.outer;
        continue;
      }
      const node = byId.get(nid)!;
      const f = node.callFrame;
      const c = componentOf(f, resolve(f.url, f.lineNumber, f.columnNumber));
      if (f.functionName !== "(root)") {
        funcs = new Set(funcs).add(funcKey(f));
      }
      if (c !== null) {
        comps = new Set(comps).add(c);
        self = c;
        if (outer === null || NOT_ENTRIES.has(outer)) outer = c;
      }
      const own: Component = self ?? "node_internal";
      info.set(nid, { self: own, outer: outer ?? "node_internal", funcs, comps, counted: comps.has(own) ? comps : new Set(comps).add(own), key: funcKey(f) });
    }
    return info.get(id)!;
  };

  // Timestamps and weights: sample i lasts until sample i+1 (the last until endTime).
  const n = profile.samples.length;
  const times = new Array<number>(n);
  let t = profile.startTime;
  for (let i = 0; i < n; i++) {
    t += Math.max(0, profile.timeDeltas[i] ?? 0);
    times[i] = t;
  }
  const whole = options.window === undefined;
  const [ws, we] = options.window ?? [profile.startTime, profile.endTime + 1];

  const selfByFunc = new Map<string, number>();
  const totalByFunc = new Map<string, number>();
  const frameOf = new Map<string, CallFrame>();
  const selfByComp = new Map<Component, number>();
  const inclByComp = new Map<Component, number>();
  const inclByGroup = new Map<string, number>();
  const byEntry = new Map<Component, number>();
  let total = 0;
  let samples = 0;
  for (let i = 0; i < n; i++) {
    const ti = times[i]!;
    if (ti < ws || ti >= we) continue;
    const next = i + 1 < n ? times[i + 1]! : profile.endTime;
    const w = Math.max(0, Math.min(next, we) - ti);
    const id = profile.samples[i]!;
    const node = byId.get(id);
    if (!node) continue;
    const inf = infoOf(id);
    total += w;
    samples++;
    selfByFunc.set(inf.key, (selfByFunc.get(inf.key) ?? 0) + w);
    frameOf.set(inf.key, node.callFrame);
    for (const k of inf.funcs) totalByFunc.set(k, (totalByFunc.get(k) ?? 0) + w);
    selfByComp.set(inf.self, (selfByComp.get(inf.self) ?? 0) + w);
    const groups = new Set<string>();
    for (const c of inf.counted) {
      inclByComp.set(c, (inclByComp.get(c) ?? 0) + w);
      groups.add(COMPONENTS[c].group);
    }
    for (const g of groups) inclByGroup.set(g, (inclByGroup.get(g) ?? 0) + w);
    if (inf.self !== "idle") byEntry.set(inf.outer, (byEntry.get(inf.outer) ?? 0) + w);
  }
  // Frames seen in the window but never as a leaf still need their call frame for totals.
  for (const node of profile.nodes) {
    const k = funcKey(node.callFrame);
    if (!frameOf.has(k)) frameOf.set(k, node.callFrame);
  }

  const idle = selfByComp.get("idle") ?? 0;
  const busy = total - idle;
  const messages = options.messages !== undefined && options.messages > 0 ? options.messages : null;
  const pct = (x: number): number => (total > 0 ? round((100 * x) / total, 2) : 0);
  const busyPct = (x: number, isIdle: boolean): number | null => (isIdle || busy <= 0 ? null : round((100 * x) / busy, 1));
  const perMsg = (x: number): number | null => (messages === null ? null : round(x / messages, 1));

  const components: ComponentRow[] = [...selfByComp.entries()]
    .map(([c, us]) => ({
      component: c,
      label: COMPONENTS[c].label,
      group: COMPONENTS[c].group,
      self_ms: round(us / 1000),
      self_pct: pct(us),
      busy_pct: busyPct(us, c === "idle"),
      us_per_message: c === "idle" ? null : perMsg(us),
      inclusive_pct: pct(inclByComp.get(c) ?? us),
    }))
    .sort((a, b) => b.self_ms - a.self_ms);

  const groupSelf = new Map<string, number>();
  for (const [c, us] of selfByComp) groupSelf.set(COMPONENTS[c].group, (groupSelf.get(COMPONENTS[c].group) ?? 0) + us);
  const groups: GroupRow[] = [...groupSelf.entries()]
    .map(([g, us]) => ({ group: g, self_ms: round(us / 1000), self_pct: pct(us), busy_pct: busyPct(us, g === "idle"), us_per_message: g === "idle" ? null : perMsg(us), inclusive_pct: pct(inclByGroup.get(g) ?? us) }))
    .sort((a, b) => b.self_ms - a.self_ms);

  const entries: EntryRow[] = [...byEntry.entries()]
    .map(([c, us]) => ({ component: c, label: COMPONENTS[c].label, ms: round(us / 1000), pct: pct(us), busy_pct: busyPct(us, false) }))
    .sort((a, b) => b.ms - a.ms);

  const sourceLine = (file: string, line: number): string | null => {
    if (options.root === undefined) return null;
    try {
      const text = readFileSync(resolvePath(options.root, file), "utf8").split("\n")[line - 1]?.trim() ?? "";
      return text === "" ? null : text.length > 80 ? `${text.slice(0, 77)}...` : text;
    } catch {
      return null;
    }
  };
  const hottest = (key: string): { line: string; pct: number; code: string | null } | null => {
    if (options.root === undefined) return null;
    const ticks = new Map<number, number>();
    let sum = 0;
    for (const node of profile.nodes) {
      if (funcKey(node.callFrame) !== key) continue;
      for (const p of node.positionTicks ?? []) {
        ticks.set(p.line, (ticks.get(p.line) ?? 0) + p.ticks);
        sum += p.ticks;
      }
    }
    const best = [...ticks.entries()].sort((a, b) => b[1] - a[1])[0];
    if (best === undefined || sum === 0) return null;
    const f = frameOf.get(key)!;
    const place = mapLine(options.root, f.url, best[0]);
    return { line: `${place.file}:${place.line}`, pct: round((100 * best[1]) / sum, 0), code: sourceLine(place.file, place.line) };
  };

  const functions: FunctionRow[] = [...selfByFunc.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, options.top ?? 30)
    .map(([key, us]) => {
      const f = frameOf.get(key)!;
      const place = resolve(f.url, f.lineNumber, f.columnNumber);
      const hot = f.url.startsWith("file://") ? hottest(key) : null;
      return {
        function: f.functionName === "" ? "(anonymous)" : f.functionName,
        place: place.file === "(native)" ? "(native)" : `${place.file}:${place.line}`,
        component: componentOf(f, place) ?? infoForKey(key),
        self_ms: round(us / 1000),
        self_pct: pct(us),
        total_ms: round((totalByFunc.get(key) ?? us) / 1000),
        total_pct: pct(totalByFunc.get(key) ?? us),
        self_us_per_message: f.functionName === "(idle)" ? null : perMsg(us),
        hottest_line: hot?.line ?? null,
        hottest_line_pct: hot?.pct ?? null,
        hottest_code: hot?.code ?? null,
      };
    });
  function infoForKey(key: string): Component {
    const node = profile.nodes.find((x) => funcKey(x.callFrame) === key);
    return node ? infoOf(node.id).self : "other";
  }

  return {
    window: { start_us: ws, end_us: Math.min(we, profile.endTime), duration_ms: round(total / 1000), samples, mean_interval_us: samples > 0 ? round(total / samples, 0) : 0, whole_profile: whole },
    busy_ms: round(busy / 1000),
    busy_pct: pct(busy),
    idle_pct: pct(idle),
    messages,
    busy_us_per_message: perMsg(busy),
    groups,
    components,
    entries,
    functions,
  };
}

/**
 * Per-connection memory attribution from two V8 heap snapshots of one server process: one
 * with no connections, one with `n` idle connections. V8 keeps an object's snapshot ID across
 * snapshots of the same process, so the objects in the second snapshot whose IDs are not in
 * the first are exactly what the connections (and anything else since) allocated and kept.
 * They are grouped by what they are (constructor, closure name, V8-internal kind) with their
 * count and self size per connection, and with who holds them: the most common retaining
 * edge ("GatewayState.streams", "WebSocket._socket", ...).
 *
 * Then each new object is given one owner layer: a forward walk from the per-connection
 * objects of each layer (ws's WebSocket/Receiver/Sender, net's Socket/TCP, the gateway's
 * ConnectionHost, ...) in a fixed order claims the new objects it reaches without passing
 * another layer's object; closures (and their contexts) belong to the file that defines them.
 *
 *   node --max-old-space-size=8192 --import tsx bench/density/heap.ts BEFORE AFTER N [OUT.json]
 */
import { readFileSync, writeFileSync } from "node:fs";

type Meta = { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]]; location_fields?: string[] };
type Raw = { snapshot: { meta: Meta; node_count: number }; nodes: number[]; edges: number[]; strings: string[]; locations?: number[] };

type Snapshot = {
  n: number;
  type: Uint8Array;
  name: Uint32Array;
  id: Uint32Array;
  size: Float64Array;
  firstEdge: Uint32Array;
  edgeType: Uint8Array;
  edgeName: Uint32Array;
  edgeTo: Uint32Array;
  strings: string[];
  nodeTypes: string[];
  edgeTypes: string[];
  /** node index -> "script_id:line" of a closure, when the snapshot has locations. */
  location: Map<number, string>;
  /** script_id -> script name, when it can be found. */
  scripts: Map<number, string>;
};

function load(path: string): Snapshot {
  const raw = JSON.parse(readFileSync(path, "utf8")) as Raw;
  const m = raw.snapshot.meta;
  const nf = m.node_fields.length;
  const ef = m.edge_fields.length;
  const [fType, fName, fId, fSize, fEdges] = ["type", "name", "id", "self_size", "edge_count"].map((k) => m.node_fields.indexOf(k)) as [number, number, number, number, number];
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map((k) => m.edge_fields.indexOf(k)) as [number, number, number];
  const n = raw.nodes.length / nf;
  const s: Snapshot = {
    n,
    type: new Uint8Array(n),
    name: new Uint32Array(n),
    id: new Uint32Array(n),
    size: new Float64Array(n),
    firstEdge: new Uint32Array(n + 1),
    edgeType: new Uint8Array(raw.edges.length / ef),
    edgeName: new Uint32Array(raw.edges.length / ef),
    edgeTo: new Uint32Array(raw.edges.length / ef),
    strings: raw.strings,
    nodeTypes: m.node_types[0],
    edgeTypes: m.edge_types[0],
    location: new Map(),
    scripts: new Map(),
  };
  let e = 0;
  for (let i = 0; i < n; i++) {
    const o = i * nf;
    s.type[i] = raw.nodes[o + fType]!;
    s.name[i] = raw.nodes[o + fName]!;
    s.id[i] = raw.nodes[o + fId]!;
    s.size[i] = raw.nodes[o + fSize]!;
    s.firstEdge[i] = e;
    e += raw.nodes[o + fEdges]!;
  }
  s.firstEdge[n] = e;
  for (let j = 0; j < s.edgeTo.length; j++) {
    s.edgeType[j] = raw.edges[j * ef + eType]!;
    s.edgeName[j] = raw.edges[j * ef + eName]!;
    s.edgeTo[j] = raw.edges[j * ef + eTo]! / nf;
  }
  const lf = m.location_fields ?? [];
  if (raw.locations !== undefined && lf.length > 0) {
    const [lObj, lScript, lLine] = ["object_index", "script_id", "line"].map((k) => lf.indexOf(k)) as [number, number, number];
    for (let k = 0; k < raw.locations.length; k += lf.length) s.location.set(raw.locations[k + lObj]! / nf, `${raw.locations[k + lScript]!}:${raw.locations[k + lLine]! + 1}`);
  }
  // Script names: a "Script" (code) node's "name" edge points at its URL string; its "id" is not
  // in the snapshot, but the closures' SharedFunctionInfo -> script edge lets us map a closure's
  // script_id to the Script node whose name we read (done lazily in scriptOf).
  return s;
}

const nodeType = (s: Snapshot, i: number): string => s.nodeTypes[s.type[i]!]!;
const edgeType = (s: Snapshot, j: number): string => s.edgeTypes[s.edgeType[j]!]!;
const edgeName = (s: Snapshot, j: number): string => {
  const t = edgeType(s, j);
  return t === "element" || t === "hidden" ? `[${s.edgeName[j]}]` : (s.strings[s.edgeName[j]!] ?? "?");
};

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const sourceMaps = new Map<string, { source: string; lines: (number | null)[] } | null>();

/** A compiled file's line -> its TypeScript source and line, from tsc's source map next to it. */
function toSource(jsPath: string, line: number | null): { file: string; line: number | null } | null {
  let map = sourceMaps.get(jsPath);
  if (map === undefined) {
    map = null;
    try {
      const raw = JSON.parse(readFileSync(`${jsPath}.map`, "utf8")) as { sources: string[]; mappings: string };
      const lines: (number | null)[] = [];
      let srcLine = 0;
      for (const generated of raw.mappings.split(";")) {
        let first: number | null = null;
        for (const segment of generated.split(",")) {
          if (segment === "") continue;
          const values: number[] = [];
          let value = 0;
          let shift = 0;
          for (const ch of segment) {
            const d = B64.indexOf(ch);
            value += (d & 31) << shift;
            if ((d & 32) !== 0) shift += 5;
            else {
              values.push(value & 1 ? -(value >>> 1) : value >>> 1);
              value = 0;
              shift = 0;
            }
          }
          if (values.length >= 4) {
            srcLine += values[2]!;
            first ??= srcLine;
          }
        }
        lines.push(first);
      }
      map = { source: raw.sources[0] ?? "", lines };
    } catch {
      map = null;
    }
    sourceMaps.set(jsPath, map);
  }
  if (map === null) return null;
  const file = /\.build\/(.*)\.js$/.exec(jsPath)?.[1];
  const original = line === null ? null : map.lines[line - 1];
  return { file: file !== undefined ? `${file}.ts` : map.source, line: original === null || original === undefined ? null : original + 1 };
}

/** "file:line" of a closure's definition: the TypeScript source when it ran compiled. */
function whereDefined(s: Snapshot, closure: number): string {
  const url = scriptUrl(s, closure);
  const line = Number(s.location.get(closure)?.split(":")[1] ?? Number.NaN);
  const path = url.replace(/^file:\/\//, "");
  const mapped = path.includes("/.build/") ? toSource(path, Number.isNaN(line) ? null : line) : null;
  if (mapped !== null) return `${mapped.file}${mapped.line === null ? "" : `:${mapped.line}`}`;
  return `${shortPath(url)}${Number.isNaN(line) || !url.includes("node_modules") ? "" : `:${line}`}`;
}

/** The file a closure was defined in (its source file when it ran compiled). */
function scriptOf(s: Snapshot, closure: number): string {
  const url = scriptUrl(s, closure);
  const path = url.replace(/^file:\/\//, "");
  return (path.includes("/.build/") ? toSource(path, null)?.file : undefined) ?? shortPath(url);
}

function scriptUrl(s: Snapshot, closure: number): string {
  for (let j = s.firstEdge[closure]!; j < s.firstEdge[closure + 1]!; j++) {
    if (edgeName(s, j) !== "shared") continue;
    const sfi = s.edgeTo[j]!;
    for (let k = s.firstEdge[sfi]!; k < s.firstEdge[sfi + 1]!; k++) {
      const kn = edgeName(s, k);
      if (kn !== "script" && kn !== "script_or_debug_info") continue;
      const script = s.edgeTo[k]!;
      for (let q = s.firstEdge[script]!; q < s.firstEdge[script + 1]!; q++) {
        if (edgeName(s, q) === "name" && nodeType(s, s.edgeTo[q]!) === "string") return s.strings[s.name[s.edgeTo[q]!]!] ?? "?";
      }
    }
  }
  return "(no script: bound functions)";
}

function shortPath(url: string): string {
  const p = url.replace(/^file:\/\//, "");
  const nm = p.lastIndexOf("node_modules/");
  if (nm >= 0) return p.slice(nm + "node_modules/".length);
  const m = /\/(core|adapters|nodes|bench|sim)\/.*$/.exec(p);
  return m ? m[0].slice(1) : p.replace(/^node:/, "node:");
}

/** What a node is, for grouping: its kind and name, with V8's noisy names folded. */
function groupKey(s: Snapshot, i: number): string {
  const t = nodeType(s, i);
  const name = s.strings[s.name[i]!] ?? "";
  switch (t) {
    case "object": {
      if (name !== "" && name !== "Object") return name;
      // A plain object is named by its first own properties: "{config, phase, scan, …}".
      const props: string[] = [];
      for (let j = s.firstEdge[i]!; j < s.firstEdge[i + 1]!; j++) {
        if (edgeType(s, j) !== "property") continue;
        const p = edgeName(s, j);
        if (p === "__proto__" || p.startsWith("<symbol")) continue;
        props.push(p);
      }
      return `Object {${props.slice(0, 4).join(", ")}${props.length > 4 ? ", …" : ""}}`;
    }
    case "closure":
      return `closure ${name === "" ? "(anonymous)" : name}`;
    case "string":
    case "concatenated string":
    case "sliced string":
      return "(string)";
    case "number":
      return "(heap number)";
    case "code":
      return `(code ${name.split(" ")[0] ?? ""})`;
    case "native":
      return `(native ${name.replace(/^Node \/ /, "")})`;
    case "array":
    case "hidden":
    case "object shape":
      return `(${t} ${name.replace(/\s*\/.*$/, "").replace(/^\(|\)$/g, "")})`;
    default:
      return `(${t} ${name})`;
  }
}

const WEAK = new Set(["weak", "shortcut"]);

/**
 * Layers, in claiming order: a layer's walk starts at its per-connection objects (matched by
 * group key) and stops at any other layer's starting objects.
 */
const LAYERS: { layer: string; starts: string[] }[] = [
  { layer: "gateway: ConnectionHost + core state (nodes/hosts/gateway-host.ts, core/gateway/state.ts)", starts: ["ConnectionHost"] },
  { layer: "timers: per-connection Timeout (gateway core set_timer, nodes/hosts/timers.ts)", starts: ["Timeout"] },
  { layer: "ws: WebSocket", starts: ["WebSocket"] },
  { layer: "ws: Receiver (a Writable)", starts: ["Receiver"] },
  { layer: "ws: Sender", starts: ["Sender"] },
  { layer: "net: Socket (a Duplex) and its TCP handle", starts: ["Socket", "TCP", "(native TCPSocketWrap)", "(native TCPWrap)"] },
  { layer: "http: upgrade IncomingMessage", starts: ["IncomingMessage"] },
];

export type Group = {
  key: string;
  count: number;
  bytes: number;
  per_connection_count: number;
  per_connection_bytes: number;
  held_by: { edge: string; share: number }[];
  /** The shortest strong path from a GC root to one new instance (for the biggest groups). */
  path?: string;
};

/** Shortest strong retaining path from a root (a synthetic node) to `target`, as "A.x -> B.y -> target". */
function pathTo(s: Snapshot, rev: { first: Uint32Array; from: Uint32Array; edge: Uint32Array }, target: number, maxVisit = 500_000): string {
  const prev = new Map<number, number>(); // node -> edge index used to reach it (backwards)
  prev.set(target, -1);
  const queue = [target];
  let found = -1;
  for (let q = 0; q < queue.length && queue.length < maxVisit; q++) {
    const i = queue[q]!;
    if (nodeType(s, i) === "synthetic") {
      found = i;
      break;
    }
    for (let r = rev.first[i]!; r < rev.first[i + 1]!; r++) {
      const j = rev.edge[r]!;
      const from = rev.from[r]!;
      if (WEAK.has(edgeType(s, j)) || prev.has(from)) continue;
      prev.set(from, j);
      queue.push(from);
    }
  }
  if (found === -1) return "(no strong path found)";
  const hops: string[] = [];
  let i = found;
  // prev.get(x) is the edge by which x retains the node it was reached from.
  while (i !== target && hops.length < 64) {
    const j = prev.get(i)!;
    const et = edgeType(s, j);
    hops.push(`${groupKey(s, i)}${et === "element" ? "[]" : et === "hidden" ? "[hidden]" : `.${edgeName(s, j)}`}`);
    i = s.edgeTo[j]!;
  }
  const shown = hops.slice(1);
  return `${shown.length > 8 ? "… -> " : ""}${shown.slice(-8).join(" -> ")}${shown.length > 0 ? " -> " : ""}${groupKey(s, target)}`;
}
export type LayerRow = { layer: string; bytes: number; per_connection_bytes: number; objects_per_connection: number };
export type Attribution = {
  connections: number;
  before: { nodes: number; bytes: number };
  after: { nodes: number; bytes: number };
  /** Self size of the objects that are new in the second snapshot, per connection. */
  new_bytes_per_connection: number;
  new_objects_per_connection: number;
  /** (after - before) total self size per connection (new minus freed). */
  delta_bytes_per_connection: number;
  groups: Group[];
  layers: LayerRow[];
};

export function attribute(beforePath: string, afterPath: string, connections: number): Attribution {
  const before = load(beforePath);
  const oldIds = new Set<number>();
  let beforeBytes = 0;
  for (let i = 0; i < before.n; i++) {
    oldIds.add(before.id[i]!);
    beforeBytes += before.size[i]!;
  }
  const beforeNodes = before.n;
  const s = load(afterPath);
  let afterBytes = 0;
  const isNew = new Uint8Array(s.n);
  for (let i = 0; i < s.n; i++) {
    afterBytes += s.size[i]!;
    // Synthetic and root nodes have small fixed IDs; only heap objects count.
    if (!oldIds.has(s.id[i]!) && nodeType(s, i) !== "synthetic") isNew[i] = 1;
  }
  oldIds.clear();

  // Group the new objects, with a closure's defining file in its key.
  const keyOf = new Map<number, string>();
  const key = (i: number): string => {
    let k = keyOf.get(i);
    if (k === undefined) {
      k = groupKey(s, i);
      if (k.startsWith("closure ")) k = `${k} (${whereDefined(s, i)})`;
      keyOf.set(i, k);
    }
    return k;
  };
  const groups = new Map<string, { count: number; bytes: number; held: Map<string, number>; example: Map<string, number> }>();
  let newBytes = 0;
  let newCount = 0;
  for (let i = 0; i < s.n; i++) {
    if (isNew[i] !== 1) continue;
    const k = key(i);
    const g = groups.get(k) ?? { count: 0, bytes: 0, held: new Map(), example: new Map() };
    g.count++;
    g.bytes += s.size[i]!;
    groups.set(k, g);
    newBytes += s.size[i]!;
    newCount++;
  }
  // Who holds the new objects: every strong edge into a new object, by "holder.edge".
  for (let i = 0; i < s.n; i++) {
    for (let j = s.firstEdge[i]!; j < s.firstEdge[i + 1]!; j++) {
      const to = s.edgeTo[j]!;
      if (isNew[to] !== 1 || WEAK.has(edgeType(s, j))) continue;
      const holder = groupKey(s, i);
      const et = edgeType(s, j);
      const label = `${holder}${et === "element" ? "[]" : et === "hidden" ? "[hidden]" : `.${edgeName(s, j)}`}`;
      const g = groups.get(key(to))!;
      g.held.set(label, (g.held.get(label) ?? 0) + 1);
      if (!g.example.has(label)) g.example.set(label, to);
    }
  }

  // Reverse edges, for retaining paths.
  const revFirst = new Uint32Array(s.n + 1);
  for (let j = 0; j < s.edgeTo.length; j++) revFirst[s.edgeTo[j]! + 1]!++;
  for (let i = 0; i < s.n; i++) revFirst[i + 1]! += revFirst[i]!;
  const fill = revFirst.slice(0, s.n);
  const revFrom = new Uint32Array(s.edgeTo.length);
  const revEdge = new Uint32Array(s.edgeTo.length);
  for (let i = 0; i < s.n; i++) {
    for (let j = s.firstEdge[i]!; j < s.firstEdge[i + 1]!; j++) {
      const to = s.edgeTo[j]!;
      const at = fill[to]!++;
      revFrom[at] = i;
      revEdge[at] = j;
    }
  }
  const rev = { first: revFirst, from: revFrom, edge: revEdge };

  // Layers: claim new objects by forward walks.
  const owner = new Int16Array(s.n).fill(-1);
  const startOf = new Int16Array(s.n).fill(-1);
  const keyToLayer = new Map<string, number>();
  LAYERS.forEach((l, li) => l.starts.forEach((k) => keyToLayer.set(k, li)));
  for (let i = 0; i < s.n; i++) {
    if (isNew[i] !== 1) continue;
    const li = keyToLayer.get(groupKey(s, i));
    if (li !== undefined) startOf[i] = li;
  }
  const closureLayers = new Map<string, number>();
  const layerNames = LAYERS.map((l) => l.layer);
  const claim = (starts: number[], li: number): void => {
    const stack = starts.filter((i) => owner[i] === -1);
    for (const i of stack) owner[i] = li;
    while (stack.length > 0) {
      const i = stack.pop()!;
      for (let j = s.firstEdge[i]!; j < s.firstEdge[i + 1]!; j++) {
        const to = s.edgeTo[j]!;
        if (isNew[to] !== 1 || owner[to] !== -1 || WEAK.has(edgeType(s, j))) continue;
        if (startOf[to] !== -1 && startOf[to] !== li) continue;
        // A closure belongs to the file that defines it, with what it alone reaches.
        if (nodeType(s, to) === "closure") continue;
        owner[to] = li;
        stack.push(to);
      }
    }
  };
  // Closures first, by defining file (they hold their contexts: the variables they capture).
  const closuresByFile = new Map<string, number[]>();
  for (let i = 0; i < s.n; i++) {
    if (isNew[i] !== 1 || nodeType(s, i) !== "closure") continue;
    const file = scriptOf(s, i);
    let list = closuresByFile.get(file);
    if (list === undefined) closuresByFile.set(file, (list = []));
    list.push(i);
  }
  LAYERS.forEach((_, li) => {
    claim(
      Array.from({ length: s.n }, (_, i) => i).filter((i) => startOf[i] === li),
      li,
    );
  });
  for (const [file, closures] of closuresByFile) {
    let li = closureLayers.get(file);
    if (li === undefined) {
      li = layerNames.length;
      layerNames.push(`closures defined in ${file} (and the contexts they capture)`);
      closureLayers.set(file, li);
    }
    claim(closures, li);
  }
  const layerBytes = new Map<number, { bytes: number; count: number }>();
  for (let i = 0; i < s.n; i++) {
    if (isNew[i] !== 1) continue;
    const li = owner[i]!;
    const e = layerBytes.get(li) ?? { bytes: 0, count: 0 };
    e.bytes += s.size[i]!;
    e.count++;
    layerBytes.set(li, e);
  }
  const per = (x: number): number => Math.round((x / connections) * 10) / 10;
  return {
    connections,
    before: { nodes: beforeNodes, bytes: beforeBytes },
    after: { nodes: s.n, bytes: afterBytes },
    new_bytes_per_connection: per(newBytes),
    new_objects_per_connection: per(newCount),
    delta_bytes_per_connection: per(afterBytes - beforeBytes),
    groups: [...groups]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .map(([k, g], rank) => {
        const total = [...g.held.values()].reduce((a, b) => a + b, 0);
        return {
          key: k,
          count: g.count,
          bytes: g.bytes,
          per_connection_count: per(g.count),
          per_connection_bytes: per(g.bytes),
          held_by: [...g.held]
            .sort((a, b) => b[1] - a[1])
            .filter(([, c], k) => k < 3 || c / Math.max(1, total) >= 0.05)
            .slice(0, 10)
            .map(([edge, c]) => ({ edge, share: Math.round((c / Math.max(1, total)) * 100) / 100 })),
          // The path of an instance held the most common way.
          ...(rank < 40 && g.count >= connections / 2 && g.held.size > 0 ? { path: pathTo(s, rev, g.example.get([...g.held].sort((a, b) => b[1] - a[1])[0]![0])!) } : {}),
        };
      })
      .sort((a, b) => b.bytes - a.bytes),
    layers: [...layerBytes]
      .map(([li, e]) => ({ layer: li === -1 ? "other (held by shared structures: Maps/Sets of all connections, caches, garbage not yet collected)" : layerNames[li]!, bytes: e.bytes, per_connection_bytes: per(e.bytes), objects_per_connection: per(e.count) }))
      .sort((a, b) => b.bytes - a.bytes),
  };
}

if (process.argv[1] !== undefined && /heap\.ts$/.test(process.argv[1])) {
  const [before, after, n, out] = process.argv.slice(2);
  if (before === undefined || after === undefined || n === undefined) {
    process.stderr.write("usage: heap.ts BEFORE.heapsnapshot AFTER.heapsnapshot CONNECTIONS [OUT.json]\n");
    process.exit(2);
  }
  const result = attribute(before, after, Number(n));
  if (out !== undefined) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  else {
    console.log(`new per connection: ${result.new_bytes_per_connection} B in ${result.new_objects_per_connection} objects; net delta ${result.delta_bytes_per_connection} B`);
    for (const l of result.layers) console.log(`${String(l.per_connection_bytes).padStart(8)} B ${String(l.objects_per_connection).padStart(6)} obj  ${l.layer}`);
    console.log("");
    for (const g of result.groups.slice(0, 60)) {
      console.log(`${String(g.per_connection_bytes).padStart(8)} B ${String(g.per_connection_count).padStart(6)}x  ${g.key}   <- ${g.held_by.map((h) => `${h.edge} ${h.share}`).join(", ")}`);
      if (g.path !== undefined) console.log(`${" ".repeat(26)}path: ${g.path}`);
    }
  }
}

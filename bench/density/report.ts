/**
 * bench/results/density.md from the run's result: the single-process table (node vs bare ws),
 * the box-wide run, the per-connection attribution from the heap snapshots, and what could be
 * dropped, with the measured size of each item.
 *
 *   npx tsx bench/density/report.ts    rewrites density.md from density.json (run.ts does it too)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Attribution, Group } from "./heap.js";
import type { Box, Single } from "./run.js";

export type Result = {
  at: string;
  node_version: string;
  cpu: string;
  cores: number;
  mem_total_kib: number;
  open_file_limit: number;
  seconds?: number;
  config: Record<string, number>;
  signup?: { rest_users: number; rest_seconds: number; rest_users_per_s: number; issued_with_node_secret: number };
  single_connections_cap?: { open_file_limit: number; server_files_before: number; headroom: number; cap: number };
  node?: Single;
  bare?: Single;
  bare_net?: Single;
  node_tsx?: Single;
  box?: Box | { skipped: string };
  attribution?: Record<string, Attribution>;
};

const GOAL_KB = 4;
const kib = (x: number): string => `${Math.round(x).toLocaleString("en-US")} KiB`;
const mib = (kibs: number): string => `${(kibs / 1024).toFixed(0)} MiB`;
const n = (x: number): string => Math.round(x).toLocaleString("en-US");
const kb = (kibPerConn: number): string => `${(kibPerConn * 1.024).toFixed(1)} KB`;

type Row = [string, (s: Single) => string, ((s: Single) => number)?];

function singleTable(columns: [string, Single][]): string {
  const idle = (s: Single): number => s.idle_samples.map((x) => x.rss_kib).sort((a, b) => a - b)[Math.floor(s.idle_samples.length / 2)] ?? 0;
  const rows: Row[] = [
    ["connections open (failed)", (s) => `${n(s.connections)} (${s.failed})`],
    ["connect time", (s) => `${s.connect_seconds} s (${n(s.connect_per_s)}/s)`],
    ["RSS before (after GC)", (s) => kib(s.before.rss_kib)],
    ["RSS idle (median of the samples)", (s) => kib(idle(s))],
    ["RSS after a forced GC", (s) => kib(s.after_gc.rss_kib)],
    ["**RSS per idle connection**", (s) => `**${kb(s.per_connection.rss_idle_kib)}** (${s.per_connection.rss_idle_kib} KiB)`, (s) => s.per_connection.rss_idle_kib * 1024],
    ["RSS per connection after GC", (s) => kb(s.per_connection.rss_after_gc_kib), (s) => s.per_connection.rss_after_gc_kib * 1024],
    ["whole idle RSS / connections (upper bound)", (s) => kb(s.per_connection.rss_idle_upper_bound_kib), (s) => s.per_connection.rss_idle_upper_bound_kib * 1024],
    ["live JS heap per connection (after GC)", (s) => `${n(s.per_connection.heap_used_b)} B`, (s) => s.per_connection.heap_used_b],
    ["committed V8 heap per connection", (s) => `${n(s.per_connection.heap_total_b)} B`, (s) => s.per_connection.heap_total_b],
    ["outside the V8 heap per connection", (s) => `${n(s.per_connection.outside_heap_b)} B`, (s) => s.per_connection.outside_heap_b],
    ["open files in the server after", (s) => n(s.after_gc.fds)],
    ["still open after idling", (s) => n(s.still_open_after_idle)],
  ];
  const [first, second] = columns;
  const diff = first !== undefined && second !== undefined;
  const out = [`| | ${columns.map(([label]) => label).join(" | ")} |${diff ? ` ${first[0]} − ${second[0]} |` : ""}`, `| --- |${columns.map(() => " --- |").join("")}${diff ? " --- |" : ""}`];
  for (const [label, f, value] of rows) {
    const d = diff && value !== undefined ? `${n(value(first[1]) - value(second[1]))} B` : "";
    out.push(`| ${label} | ${columns.map(([, s]) => f(s)).join(" | ")} |${diff ? ` ${d} |` : ""}`);
  }
  return out.join("\n");
}

function layer(a: Attribution | undefined, match: (layer: string) => boolean): number {
  if (a === undefined) return Number.NaN;
  return Math.round(a.layers.filter((l) => match(l.layer)).reduce((x, l) => x + l.per_connection_bytes, 0));
}

function count(a: Attribution | undefined, key: string): number {
  return group(a, key)?.per_connection_count ?? 0;
}
function group(a: Attribution | undefined, key: string): Group | undefined {
  return a?.groups.find((g) => g.key === key);
}
/** Per-connection bytes of the groups whose key matches, optionally only the share held through `via`. */
function bytes(a: Attribution | undefined, match: (key: string) => boolean, via?: (edge: string) => boolean): number {
  if (a === undefined) return Number.NaN;
  let sum = 0;
  for (const g of a.groups) {
    if (!match(g.key)) continue;
    if (via === undefined) sum += g.per_connection_bytes;
    else sum += g.per_connection_bytes * g.held_by.filter((h) => via(h.edge)).reduce((x, h) => x + h.share, 0);
  }
  return Math.round(sum);
}

function attributionSection(label: string, a: Attribution): string {
  const out = [
    `### ${label}: ${n(a.connections)} connections, ${n(a.new_bytes_per_connection)} B of new JS-heap objects per connection (${a.new_objects_per_connection} objects)`,
    "",
    "| layer (who owns the object) | B per connection | objects per connection |",
    "| --- | --- | --- |",
    ...a.layers.filter((l) => l.per_connection_bytes >= 4).map((l) => `| ${l.layer} | ${n(l.per_connection_bytes)} | ${l.objects_per_connection} |`),
    "",
    "| object (constructor, closure with its definition, or V8-internal kind) | B per conn. | per conn. | held by (share of the references) |",
    "| --- | --- | --- | --- |",
    ...a.groups
      .filter((g) => g.per_connection_bytes >= 16 && g.per_connection_count >= 0.4)
      .map((g) => `| \`${g.key.replace(/\|/g, "\\|")}\` | ${n(g.per_connection_bytes)} | ${g.per_connection_count} | ${g.held_by.map((h) => `\`${h.edge.replace(/\|/g, "\\|")}\` ${Math.round(h.share * 100)}%`).join(", ")} |`),
  ];
  const paths = a.groups.filter((g) => g.path !== undefined && g.per_connection_bytes >= 40 && !g.path.startsWith("… -> Timeout._idlePrev")).slice(0, 12);
  if (paths.length > 0) {
    out.push("", "Retaining paths (shortest from a GC root, one instance each):", "");
    for (const g of paths) out.push(`- \`${g.key}\`: \`${g.path}\``);
  }
  return out.join("\n");
}

function recommendations(r: Result, node: Attribution | undefined, bare: Attribution | undefined): string {
  const maps = bytes(node, (k) => k === "Map") + bytes(node, (k) => k === "(array )", (e) => e === "Map.table");
  const state = group(node, "Object {config, phase, scan, streams, …}");
  const eventsArray = bytes(node, (k) => k === "(array object properties)", (e) => e.includes("pong") && e.endsWith(".properties"));
  const listeners = layer(node, (l) => l.startsWith("closures defined in nodes/http/websocket.ts")) + eventsArray;
  const timer = layer(node, (l) => l.startsWith("timers:") || l.startsWith("closures defined in nodes/hosts/gateway-host.ts"));
  const sessions = bytes(node, (k) => k.startsWith("Object {value") || k.startsWith("Object {user_id, device_id, gateway_id"));
  const presence = bytes(node, (k) => k.startsWith("Object {connections, last_known_online_ms") || k.startsWith("Object {closed") || k.startsWith("Object {user_id, connection_id}"));
  const ws = layer(bare, (l) => l.startsWith("ws:") || l.includes("ws/lib/"));
  const net = layer(bare, (l) => l.startsWith("net:") || l.includes("(no script"));
  const na = (x: number): string => (Number.isNaN(x) ? "n/a" : `~${n(x)} B`);
  return [
    "Measured sizes are per connection, from the node's snapshot diff above (self sizes; a Map counts its hash table).",
    "",
    ...(r.node !== undefined && r.bare !== undefined
      ? [
          `**What it would take.** Items 1–4 below are the node's own per-connection objects, ${na(maps + listeners + timer + sessions + presence)} of its ${n(r.node.per_connection.heap_used_b)} B of live JS heap; without them it would hold about what the bare ws server holds (${n(r.bare.per_connection.heap_used_b)} B of JS heap, ${kb(r.bare.per_connection.rss_idle_kib)} RSS idle, ${kb(r.bare.per_connection.rss_after_gc_kib)} after GC). That is still above ${GOAL_KB} KB while idle: the goal also needs the WebSocket layer itself slimmer (item 5)${r.bare_net !== undefined ? ` — raw net sockets are at ${kb(r.bare_net.per_connection.rss_idle_kib)} idle, ${kb(r.bare_net.per_connection.rss_after_gc_kib)} after GC` : ""} — and less heap slack (item 6).`,
          "",
        ]
      : []),
    `1. **Seven empty Maps per connection in the gateway core** (\`core/gateway/state.ts\` \`gatewayInit\`: \`streams\`, \`sends\`, \`delivered\`, \`subscriptions\`, \`receipts_forwarded\`, \`acks_durable\`, \`ack_retries\`), plus the per-user Maps of the in-process session store and presence: Maps and their tables ${na(maps)}. An idle connection uses none of the seven. Create them on first use (\`null\` until then, or one shared frozen empty Map for reads) — the core is pure, so this is a local change in \`state.ts\`/\`step.ts\`; the simulator checks it. The state object itself is ${state !== undefined ? `${n(state.per_connection_bytes)} B` : "n/a"}; \`fake_ids\` (a Snowflake state only the broken variant uses) can be \`null\` in the correct one.`,
    `2. **Per-socket listener closures in \`nodes/http/websocket.ts\`** (\`pong\`, \`message\`, \`close\`, \`error\` at lines 79–89, the \`send\`/\`close\` sink at 61–71, the contexts they capture — which keep the upgrade's token check alive —, and ws's \`_events\` object outgrowing its in-object slots into a property array, ${na(eventsArray)}): ${na(listeners)} together. Define the handlers once at module level (\`function onMessage(this: WebSocket, data, isBinary)\`), find the connection through one field on the socket (or a single Map by socket), and let the \`ConnectionHost\` itself be the sink (its own \`send\`/\`close\` methods). The \`alive\` WeakMap (line 36) can be a boolean field on the connection.`,
    `3. **One Timeout per connection for the 30 s heartbeat** (\`set_timer\` → \`timers.at\` in \`nodes/hosts/gateway-host.ts\` line 339, \`nodes/hosts/timers.ts\`), its callback, and the \`now\`/\`deadline\` closures created on every \`run()\` (line 258–259) that the callback's context keeps alive: ${na(timer)}. One coarse timer wheel per gateway host (a 1 s tick over buckets of connection IDs) replaces 20,000 Timeouts by one; \`now\`/\`deadline\` can be methods.`,
    `4. **The in-process session store keeps a full copy of the identity per connection** (\`adapters/memory/session-store-memory.ts\`: \`{value: {...entry}, expires_at_ms}\` in a Map per user) ${na(sessions)}, and the presence core a record per user and per connection (${na(presence)}). In the all-in-one node (one gateway) the session entry could point at the gateway's own connection record instead of copying four strings.`,
    `5. **What the node cannot drop without leaving ws:** ws's objects (\`WebSocket\`, \`Receiver\` — a whole \`Writable\` with its stream state —, \`Sender\`, their closures) ${na(ws)} and net's \`Socket\` with its two stream states and the \`TCP\` handle ${na(net)}, plus Node's C++ \`TCPWrap\` and libuv handle outside the JS heap. That is the floor of any Node server on ws (the bare ws column). ${r.bare_net !== undefined ? `Raw net sockets after a hand-made upgrade, with no WebSocket objects, hold ${n(r.bare_net.per_connection.heap_used_b)} B of JS heap and ${kb(r.bare_net.per_connection.rss_idle_kib)} RSS per idle connection (${kb(r.bare_net.per_connection.rss_after_gc_kib)} after GC): a minimal frame parser on \`net.Socket\` in place of ws would give back most of ws's share. ` : ""}A native WebSocket server (uWebSockets.js, published by its authors outside the npm registry, so it would have to be vendored) would go lower still; not measured here.`,
    `6. **Heap slack and garbage while idle:** RSS per connection idle vs after a forced GC is ${r.node !== undefined ? `${kb(r.node.per_connection.rss_idle_kib)} vs ${kb(r.node.per_connection.rss_after_gc_kib)} for the node` : "n/a"}${r.bare !== undefined ? `, ${kb(r.bare.per_connection.rss_idle_kib)} vs ${kb(r.bare.per_connection.rss_after_gc_kib)} for bare ws` : ""}. The node's RSS keeps rising while idle (the samples above): 30 s after it opened, every connection's heartbeat timer fires, re-registers its session (a fresh \`{value: {...entry}}\` copy in the session store) and schedules a new Timeout with new closures — garbage per connection per 30 s that items 3 and 4 shrink. V8 gives committed heap back only after a full GC or when its memory reducer runs after a longer quiet spell.`,
    "",
    `Checked and not held per idle connection (objects per connection in the node's diff): the upgrade request \`IncomingMessage\` ${count(node, "IncomingMessage")}, \`ServerResponse\` ${count(node, "ServerResponse")}, \`HTTPParser\` ${count(node, "HTTPParser")} (returned to the pool), permessage-deflate state (off in both servers; \`PerMessageDeflate\` ${count(node, "PerMessageDeflate")}), zod objects (frames are decoded when they arrive, nothing per connection), socket read buffers (\`Buffer\`/\`Uint8Array\` ${count(node, "Buffer") + count(node, "Uint8Array")}). What the upgrade leaves behind is smaller: the token check \`{ok, claims}\` and its claims (${na(bytes(node, (k) => k.startsWith("Object {ok, claims") || k.startsWith("Object {user_id, device_id}")))}) stay reachable because the handshake callback's closures share the upgrade handler's context (\`check\` in \`nodes/http/websocket.ts\` line 46); the timer callback keeps its \`effect\` object the same way (gateway-host.ts line 339).`,
  ].join("\n");
}

export function markdown(r: Result): string {
  const a = r.attribution;
  const out: string[] = [
    "# Connection density",
    "",
    `\`make bench-density\` (bench/density/run.ts), ${r.at}, Node ${r.node_version}, ${r.cores} × ${r.cpu}, ${mib(r.mem_total_kib)} RAM, open-file limit ${n(r.open_file_limit)} per process${r.seconds !== undefined ? `; the run took ${r.seconds} s` : ""}.`,
    "Servers run compiled by tsc (as `make run` does); clients are separate processes (≤ " + n(r.config.PER_CLIENT ?? 0) + " sockets each) on 127.0.0.x source addresses, ≤ 5,000 sockets per address. RSS is VmRSS from /proc; \"after GC\" is after two full GCs forced through a preloaded probe (`--expose-gc`, bench/density/probe.ts; the node's code is not changed).",
    "",
  ];
  if (r.signup !== undefined) {
    out.push(
      `Tokens: ${n(r.signup.rest_users)} users signed up through the REST API (POST /api/v1/users + POST /api/v1/sessions, scrypt cost 1024) in ${r.signup.rest_seconds} s (${r.signup.rest_users_per_s}/s)` +
        (r.signup.issued_with_node_secret > 0 ? `; ${n(r.signup.issued_with_node_secret)} more tokens issued with the node's secret by its own token code (nodes/auth.ts), because sign-up is bounded in time — a connection verifies its token without the directory, so the server holds the same for both.` : "."),
      "",
    );
  }
  if (r.node !== undefined) {
    const goal = r.node.per_connection.rss_idle_kib * 1.024 <= GOAL_KB;
    out.push(
      `## One process: ${n(r.node.connections)} authenticated idle connections`,
      "",
      r.single_connections_cap !== undefined && r.single_connections_cap.cap < (r.config.CONNECTIONS ?? 0)
        ? `The process may hold ${n(r.single_connections_cap.open_file_limit)} open files and had ${r.single_connections_cap.server_files_before} before any connection (SQLite, the listening socket, epoll, pipes), so ${n(r.single_connections_cap.cap)} connections is the most it can take (with ${r.single_connections_cap.headroom} files of headroom), not 20,000.`
        : "",
      "",
      singleTable([["all-in-one node", r.node], ...(r.bare !== undefined ? ([["bare ws server", r.bare]] as [string, Single][]) : []), ...(r.bare_net !== undefined ? ([["raw net sockets (no ws)", r.bare_net]] as [string, Single][]) : [])]),
      "",
      `**Goal (≤ ${GOAL_KB} KB RSS per authenticated idle connection): ${goal ? "met" : "missed"}** — the node holds ${kb(r.node.per_connection.rss_idle_kib)} per connection${r.bare !== undefined ? `, ${(r.node.per_connection.rss_idle_kib / Math.max(0.01, r.bare.per_connection.rss_idle_kib)).toFixed(2)}× the bare ws server's ${kb(r.bare.per_connection.rss_idle_kib)}` : ""}${r.bare_net !== undefined ? `; raw net sockets with no WebSocket library take ${kb(r.bare_net.per_connection.rss_idle_kib)}` : ""}.`,
      "",
      "RSS while idle (KiB, every 2 s from the moment every socket was open):",
      "",
      `- node: ${r.node.idle_samples.map((s) => n(s.rss_kib)).join(", ")}`,
      ...(r.bare !== undefined ? [`- bare ws: ${r.bare.idle_samples.map((s) => n(s.rss_kib)).join(", ")}`] : []),
      ...(r.bare_net !== undefined ? [`- raw net: ${r.bare_net.idle_samples.map((s) => n(s.rss_kib)).join(", ")}`] : []),
      "",
    );
    if (r.node_tsx !== undefined) {
      out.push(
        `The node **under tsx** (how bench/load runs it) at ${n(r.node_tsx.connections)} connections: ${n(r.node_tsx.per_connection.heap_used_b)} B of live JS heap per connection, against ${n(r.node.per_connection.heap_used_b)} B compiled (at ${n(r.node.connections)}; ${a !== undefined && a.node !== undefined ? `${n(a.node.new_bytes_per_connection)} B in the compiled snapshot at ${n(a.node.connections)}` : ""}). tsx's esbuild transform runs with \`keepNames\` (named closures get an own \`name\` property) and adds a loader thread to the fixed cost; at 1,000 connections (bench-load's \`rss_per_idle_connection_kib\`) fixed costs and heap slack dominate any per-connection figure.`,
        "",
      );
    }
  }
  if (r.box !== undefined) {
    if ("skipped" in r.box) out.push("## The box", "", `Skipped: ${r.box.skipped}.`, "");
    else {
      const b = r.box;
      out.push(
        `## The box: ${n(b.open)} authenticated connections over ${b.servers} server processes`,
        "",
        `**${b.note}** Each process may hold ${n(r.open_file_limit)} files and needs a few dozen of its own, so 100,000 needs ${b.servers} processes of ≤ ${n(b.per_server_target)} connections, not 5 × 20,000.`,
        "",
        "| server | connections | RSS before | RSS idle | RSS per connection | RSS after GC | open files |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        ...b.per_server.map((s) => `| ${s.label} | ${n(s.connections)} | ${kib(s.before.rss_kib)} | ${kib(s.rss_idle_kib)} | ${kb(s.rss_per_connection_kib)} | ${kib(s.after_gc.rss_kib)} | ${n(s.fds)} |`),
        `| **all ${b.servers}** | **${n(b.open)}** (${b.failed} failed, ${n(b.still_open_after_idle)} still open after idling) | ${mib(b.servers_rss_before_kib)} | **${mib(b.servers_rss_kib)}** | ${kb((b.servers_rss_kib - b.servers_rss_before_kib) / Math.max(1, b.open))} | ${mib(b.per_server.reduce((x, s) => x + s.after_gc.rss_kib, 0))} | |`,
        "",
        `- Connecting took ${b.connect_seconds} s (${n(b.connect_per_s)}/s, all servers at once on ${r.cores} cores, clients included).`,
        `- Client side: ${b.clients.processes} processes, ${mib(b.clients.rss_kib)} RSS together.`,
        `- Kernel: TCP sockets in use ${n(b.box_before.tcp_inuse)} → ${n(b.box_after.tcp_inuse)} (both ends of every loopback connection), socket buffer memory ${n(b.box_after.tcp_mem_pages)} pages; slab ${mib(b.box_before.slab_kib)} → ${mib(b.box_after.slab_kib)} (sockets, inodes, epoll entries: kernel memory, not in any RSS); MemAvailable ${mib(b.box_before.mem_available_kib)} → ${mib(b.box_after.mem_available_kib)} (box-wide; other work on the machine moves it too).`,
        `- Ports: the clients used ${Math.ceil(b.open / 5000)} source addresses (127.0.0.x, ≤ 5,000 sockets each, within the 28,232 ephemeral ports per address); no connection failed for want of a port or a file${b.failed > 0 ? " — except the failures counted above" : ""}.`,
        "",
      );
    }
  }
  if (a !== undefined && Object.keys(a).length > 0) {
    out.push(
      "## Where a connection's memory goes",
      "",
      "Heap snapshots of a fresh server with no connections and with the snapshot count idle, diffed by object identity (V8 keeps an object's snapshot ID), grouped by constructor (plain objects by their first properties), with the references that hold them; each new object is then given to one owner by a walk from each layer's per-connection objects (bench/density/heap.ts). Self sizes, JS heap only: Node's C++ side (TCPWrap, the libuv handle) is in \"outside the V8 heap\" above.",
      "",
    );
    if (a.node !== undefined) out.push(attributionSection("All-in-one node", a.node), "");
    if (a.bare !== undefined) out.push(attributionSection("Bare ws server", a.bare), "");
    out.push("## What could be dropped", "", recommendations(r, a.node, a.bare), "");
  }
  return `${out.filter((l, i, all) => !(l === "" && all[i - 1] === "")).join("\n")}\n`;
}

if (process.argv[1] !== undefined && /report\.[jt]s$/.test(process.argv[1])) {
  const dir = fileURLToPath(new URL("../results/", import.meta.url));
  writeFileSync(join(dir, "density.md"), markdown(JSON.parse(readFileSync(join(dir, "density.json"), "utf8")) as Result));
}

/**
 * The connection-density benchmark (issue 9): resident memory per authenticated idle
 * WebSocket in one server process, against a bare ws server in the same run, where that
 * memory goes (heap snapshots), and how many authenticated connections the box holds.
 *
 *   make bench-density     (npx tsx bench/density/run.ts)
 *
 * Steps, each bounded in count and time (the whole run stops itself at DEADLINE_SECONDS):
 *  0. tsc compiles the repository into bench/density/.build: the servers run compiled, as
 *     `make run` does (tsx's transform costs more per connection; step 3 shows how much).
 *  1. The all-in-one node, one process: users signed up through the REST API (POST /users,
 *     POST /sessions) for up to SIGNUP_SECONDS; tokens for any rest are issued with the
 *     node's secret and token code (the server cannot tell: a connection verifies its token
 *     without the directory). Then CONNECTIONS authenticated WebSockets (capped so that the
 *     process stays under its open-file limit) from client processes on 127.0.0.x source
 *     addresses, held idle IDLE_SECONDS; RSS (VmRSS) before, sampled while idle, and after
 *     a forced full GC (the probe preloaded with --expose-gc; the node's code is untouched).
 *  2. The bare ws server (bench/density/bare.ts), same connections, same tokens; and the
 *     floor under ws: raw net sockets after a hand-made upgrade (BARE=net).
 *  3. Attribution: heap snapshots of each server with no connections and with
 *     SNAPSHOT_CONNECTIONS, diffed by object identity (heap.ts); and the node under tsx.
 *  4. The box: SERVERS all-in-one nodes (separate processes, separate data directories, one
 *     secret so the same tokens work on each), TOTAL connections spread over them.
 *
 * Writes bench/results/density.json and bench/results/density.md.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Attribution } from "./heap.js";
import { boxMem, buildDir, buildForBench, hardFileLimit, mintTokens, seedDirectory, openClients, procMem, root, running, signUp, sleep, startServer, type Clients, type Measure, type Server } from "./lib.js";
import { markdown } from "./report.js";
import { Tokens } from "../../nodes/auth.js";

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
};
const CONNECTIONS = env("CONNECTIONS", 20_000);
const SNAPSHOT_CONNECTIONS = env("SNAPSHOT_CONNECTIONS", 5_000);
const TOTAL = env("TOTAL", 100_000);
const SERVERS = env("SERVERS", 6);
const SIGNUP_SECONDS = env("SIGNUP_SECONDS", 90);
const IDLE_SECONDS = env("IDLE_SECONDS", 20);
const PER_CLIENT = env("PER_CLIENT", 10_000);
const DEADLINE_SECONDS = env("DEADLINE_SECONDS", 1_200);
/** Open files a server keeps free beyond what it had before the connections (SQLite WAL, a log file, an accept in flight). */
const FD_HEADROOM = 16;

const t0 = Date.now();
const log = (line: string): void => console.log(`[density ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);

const nodeEnv = (dir: string, secret: string): Record<string, string> => ({
  PORT: "0",
  DATA_DIR: dir,
  SECRET: secret,
  LOG_LEVEL: "warn",
  WEB_DIR: join(dir, "none"),
  PASSWORD_HASH_COST: "1024",
  REST_BURST: "100000",
  REST_PER_SECOND: "100000",
  // Every client of this bench is on loopback.
  CONNECTIONS_PER_ADDRESS_MAX: "0",
});
const wsUrl = (s: Server): string => `${s.url.replace(/^http/, "ws")}/ws`;

export type Sample = { t_s: number; rss_kib: number; heap_used: number; heap_total: number };
export type Single = {
  server: string;
  runtime: "compiled" | "tsx";
  connections: number;
  failed: number;
  connect_seconds: number;
  connect_per_s: number;
  /** After a forced GC, before any connection. */
  before: Measure;
  idle_samples: Sample[];
  /** After a forced GC with every connection open and idle. */
  after_gc: Measure;
  still_open_after_idle: number;
  clients: { processes: number; rss_kib: number };
  per_connection: {
    /** (median RSS while idle − RSS before) / connections. */
    rss_idle_kib: number;
    /** (RSS after GC − RSS before) / connections. */
    rss_after_gc_kib: number;
    /** Whole idle RSS / connections: an upper bound that includes the process's fixed cost. */
    rss_idle_upper_bound_kib: number;
    /** Live JS heap (after GC) per connection. */
    heap_used_b: number;
    /** Committed V8 heap per connection (live objects plus fragmentation and headroom). */
    heap_total_b: number;
    /** RSS growth not in the V8 heap: Node's C++ objects and libuv handles, malloc, buffers. */
    outside_heap_b: number;
  };
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]!;
};
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** GC, let freed pages go back, then read. */
async function settled(server: Server): Promise<Measure> {
  await server.measure(true);
  await sleep(2_000);
  return server.measure(false);
}

/** The most connections `server` can take and stay under its open-file limit. */
function fdCap(server: Server): number {
  return hardFileLimit() - procMem(server.pid).fds - FD_HEADROOM;
}

/** Connects `n` (from token `offset`), idles, measures: one row of the single-process table. */
async function single(server: Server, runtime: "compiled" | "tsx", tokensFile: string, offset: number, n: number, idleSeconds: number): Promise<Single> {
  const before = await settled(server);
  log(`${server.label}: before ${before.rss_kib} KiB RSS, ${before.fds} files; connecting ${n}`);
  const c0 = performance.now();
  const clients = await openClients(wsUrl(server), tokensFile, offset, n, PER_CLIENT, 600_000);
  try {
    const connectSeconds = (performance.now() - c0) / 1000;
    log(`${server.label}: ${clients.open} open, ${clients.failed} failed ${JSON.stringify(clients.errors)} in ${connectSeconds.toFixed(1)} s`);
    const samples: Sample[] = [];
    const i0 = performance.now();
    for (let k = 0; k < Math.ceil(idleSeconds / 2); k++) {
      await sleep(2_000);
      const m = await server.measure(false);
      samples.push({ t_s: Math.round((performance.now() - i0) / 100) / 10, rss_kib: m.rss_kib, heap_used: m.heap_used, heap_total: m.heap_total });
    }
    const after = await settled(server);
    const status = await clients.status();
    const open = clients.open;
    const per = (bytes: number): number => Math.round(bytes / Math.max(1, open));
    const result: Single = {
      server: server.label,
      runtime,
      connections: open,
      failed: clients.failed,
      connect_seconds: round1(connectSeconds),
      connect_per_s: Math.round(open / connectSeconds),
      before,
      idle_samples: samples,
      after_gc: after,
      still_open_after_idle: status.open,
      clients: { processes: clients.processes, rss_kib: status.rss_kib },
      per_connection: {
        rss_idle_kib: round1((median(samples.map((s) => s.rss_kib)) - before.rss_kib) / Math.max(1, open)),
        rss_after_gc_kib: round1((after.rss_kib - before.rss_kib) / Math.max(1, open)),
        rss_idle_upper_bound_kib: round1(median(samples.map((s) => s.rss_kib)) / Math.max(1, open)),
        heap_used_b: per(after.heap_used - before.heap_used),
        heap_total_b: per(after.heap_total - before.heap_total),
        outside_heap_b: per((after.rss_kib - before.rss_kib) * 1024 - (after.heap_total - before.heap_total)),
      },
    };
    log(`${server.label}: ${result.per_connection.rss_idle_kib} KiB RSS per idle connection (${result.per_connection.rss_after_gc_kib} after GC; JS heap ${result.per_connection.heap_used_b} B, outside the heap ${result.per_connection.outside_heap_b} B); ${status.open} still open`);
    return result;
  } finally {
    await clients.stop();
  }
}

/** Heap snapshots with no connections and with `n`; answers the two files. */
async function snapshots(server: Server, dir: string, tokensFile: string, offset: number, n: number): Promise<{ before: string; after: string; connections: number }> {
  const before = join(dir, `${server.label}-0.heapsnapshot`);
  const after = join(dir, `${server.label}-${n}.heapsnapshot`);
  await server.measure(true);
  await server.probe({ type: "snapshot", path: before }, 300_000);
  const clients = await openClients(wsUrl(server), tokensFile, offset, n, PER_CLIENT, 600_000);
  try {
    await sleep(5_000);
    await server.probe({ type: "snapshot", path: after }, 300_000);
    log(`${server.label}: snapshots with 0 and ${clients.open} connections`);
    return { before, after, connections: clients.open };
  } finally {
    await clients.stop();
  }
}

/** heap.ts in its own process (a snapshot parses into a few GB): the attribution as JSON. */
function analyse(before: string, after: string, n: number, out: string): Promise<Attribution> {
  return new Promise((ok, no) => {
    const child = spawn(process.execPath, ["--max-old-space-size=8192", "--import", "tsx", join(root, "bench/density/heap.ts"), before, after, String(n), out], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    running.add(child);
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.once("exit", (code) => {
      running.delete(child);
      clearTimeout(timer);
      if (code !== 0) no(new Error(`heap.ts exited ${code}`));
      else ok(JSON.parse(readFileSync(out, "utf8")) as Attribution);
    });
  });
}

export type BoxServer = { label: string; connections: number; failed: number; before: Measure; after_gc: Measure; rss_idle_kib: number; rss_per_connection_kib: number; fds: number };
export type Box = {
  servers: number;
  target: number;
  per_server_target: number;
  open: number;
  failed: number;
  still_open_after_idle: number;
  connect_seconds: number;
  connect_per_s: number;
  per_server: BoxServer[];
  servers_rss_kib: number;
  servers_rss_before_kib: number;
  clients: { processes: number; rss_kib: number };
  box_before: ReturnType<typeof boxMem>;
  box_after: ReturnType<typeof boxMem>;
  note: string;
};

async function box(work: string, firstDir: string, secret: string, tokensFile: string, tokens: readonly string[]): Promise<Box> {
  const perServer = Math.ceil(TOTAL / SERVERS);
  if (perServer > tokens.length) throw new Error(`box: ${perServer} connections per server but only ${tokens.length} tokens`);
  // Every token's device must be in each server's own directory (the first has them already).
  const verifier = new Tokens(secret);
  const identities = tokens.flatMap((token) => {
    const check = verifier.verify(token, Date.now());
    return check.ok ? [{ user_id: check.claims.user_id, device_id: check.claims.device_id }] : [];
  });
  const servers: Server[] = [];
  const clients: Clients[] = [];
  try {
    for (let i = 0; i < SERVERS; i++) {
      const dir = i === 0 ? firstDir : join(work, `node-box-${i}`);
      mkdirSync(dir, { recursive: true });
      if (i > 0) await seedDirectory(dir, identities);
      servers.push(await startServer(`node-${i}`, "nodes/all-in-one.ts", nodeEnv(dir, secret)));
    }
    await sleep(3_000);
    const before = await Promise.all(servers.map((s) => settled(s)));
    const boxBefore = boxMem();
    for (const [i, s] of servers.entries()) {
      const cap = fdCap(s);
      if (Math.min(perServer, TOTAL - i * perServer) > cap) throw new Error(`box: ${s.label} can hold ${cap} connections under its open-file limit, ${perServer} asked`);
    }
    log(`box: ${SERVERS} all-in-one nodes up (${before.reduce((a, m) => a + m.rss_kib, 0)} KiB RSS together); connecting ${TOTAL}`);
    const c0 = performance.now();
    // Every server gets the same token range: each is a separate server with its own users' sessions.
    const opened = await Promise.all(servers.map((s, i) => openClients(wsUrl(s), tokensFile, 0, Math.max(0, Math.min(perServer, TOTAL - i * perServer)), PER_CLIENT, 900_000)));
    clients.push(...opened);
    const connectSeconds = (performance.now() - c0) / 1000;
    const open = opened.reduce((a, c) => a + c.open, 0);
    log(`box: ${open} open, ${opened.reduce((a, c) => a + c.failed, 0)} failed in ${connectSeconds.toFixed(1)} s`);
    await sleep(10_000);
    const idle = servers.map((s) => procMem(s.pid).rss_kib);
    const after = await Promise.all(servers.map((s) => settled(s)));
    const boxAfter = boxMem();
    const status = await Promise.all(opened.map((c) => c.status()));
    const per_server = servers.map(
      (s, i): BoxServer => ({
        label: s.label,
        connections: opened[i]!.open,
        failed: opened[i]!.failed,
        before: before[i]!,
        after_gc: after[i]!,
        rss_idle_kib: idle[i]!,
        rss_per_connection_kib: round1((idle[i]! - before[i]!.rss_kib) / Math.max(1, opened[i]!.open)),
        fds: after[i]!.fds,
      }),
    );
    const result: Box = {
      servers: SERVERS,
      target: TOTAL,
      per_server_target: perServer,
      open,
      failed: opened.reduce((a, c) => a + c.failed, 0),
      still_open_after_idle: status.reduce((a, s) => a + s.open, 0),
      connect_seconds: round1(connectSeconds),
      connect_per_s: Math.round(open / connectSeconds),
      per_server,
      servers_rss_kib: idle.reduce((a, b) => a + b, 0),
      servers_rss_before_kib: before.reduce((a, m) => a + m.rss_kib, 0),
      clients: { processes: opened.reduce((a, c) => a + c.processes, 0), rss_kib: status.reduce((a, s) => a + s.rss_kib, 0) },
      box_before: boxBefore,
      box_after: boxAfter,
      note: `${SERVERS} separate all-in-one nodes: ${SERVERS} separate servers (own process, own SQLite data directory, own sessions and presence), sharing only a token secret; not one cluster.`,
    };
    log(`box: ${result.still_open_after_idle} connections still open after idling; servers ${Math.round(result.servers_rss_kib / 1024)} MiB RSS together, clients ${Math.round(result.clients.rss_kib / 1024)} MiB`);
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** Data directories, tokens and heap snapshots of this run; removed at the end, whatever happens. */
const work = mkdtempSync(join(tmpdir(), "density-"));

function abandon(why: string): never {
  console.error(`density: ${why}; stopping everything`);
  for (const child of running) child.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
  rmSync(buildDir, { recursive: true, force: true });
  process.exit(1);
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => abandon(`the run passed DEADLINE_SECONDS=${DEADLINE_SECONDS}`), DEADLINE_SECONDS * 1000);
  deadline.unref();
  process.on("SIGINT", () => abandon("interrupted"));
  process.on("SIGTERM", () => abandon("terminated"));
  const dirA = join(work, "node-a");
  mkdirSync(dirA);
  const secret = randomBytes(32).toString("base64url");
  const tokensFile = join(work, "tokens");
  const result: Record<string, unknown> = {
    bench: "density",
    at: new Date().toISOString(),
    node_version: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    mem_total_kib: Math.round(totalmem() / 1024),
    open_file_limit: hardFileLimit(),
    config: { CONNECTIONS, SNAPSHOT_CONNECTIONS, TOTAL, SERVERS, SIGNUP_SECONDS, IDLE_SECONDS, PER_CLIENT },
  };
  const save = (): void => {
    mkdirSync(join(root, "bench/results"), { recursive: true });
    writeFileSync(join(root, "bench/results/density.json"), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(root, "bench/results/density.md"), markdown(result as never));
  };
  try {
    log("compiling with tsc into bench/density/.build");
    await buildForBench();

    // 1. The node, one process.
    const node = await startServer("node", "nodes/all-in-one.ts", nodeEnv(dirA, secret));
    let n = CONNECTIONS;
    let tokens: string[];
    let signup: Record<string, number>;
    try {
      const s0 = performance.now();
      const viaRest = SIGNUP_SECONDS > 0 ? await signUp(node.url, n, 64, SIGNUP_SECONDS * 1000, (d) => log(`signed up ${d}`)) : [];
      const restSeconds = (performance.now() - s0) / 1000;
      const minted = mintTokens(secret, Math.max(0, Math.max(n, SNAPSHOT_CONNECTIONS, Math.ceil(TOTAL / Math.max(1, SERVERS))) - viaRest.length));
      await seedDirectory(dirA, minted.identities);
      tokens = [...viaRest, ...minted.tokens];
      writeFileSync(tokensFile, tokens.join("\n"));
      signup = { rest_users: viaRest.length, rest_seconds: round1(restSeconds), rest_users_per_s: Math.round(viaRest.length / Math.max(0.001, restSeconds)), issued_with_node_secret: tokens.length - viaRest.length };
      result.signup = signup;
      log(`tokens: ${viaRest.length} via REST sign-up in ${restSeconds.toFixed(0)} s, ${tokens.length - viaRest.length} issued with the node's secret`);
      await sleep(3_000);
      const cap = fdCap(node);
      result.single_connections_cap = { open_file_limit: hardFileLimit(), server_files_before: procMem(node.pid).fds, headroom: FD_HEADROOM, cap };
      if (n > cap) {
        log(`the node has ${procMem(node.pid).fds} files open: ${cap} connections keep it under its ${hardFileLimit()}-file limit (asked ${n})`);
        n = cap;
      }
      result.node = await single(node, "compiled", tokensFile, 0, n, IDLE_SECONDS);
    } finally {
      await node.stop();
    }
    save();

    // 2. The bare ws server, and the raw net floor under it, at the same count.
    for (const [key, mode] of [
      ["bare", "ws"],
      ["bare_net", "net"],
    ] as const) {
      const bare = await startServer(key === "bare" ? "bare" : "bare-net", "bench/density/bare.ts", { PORT: "0", BARE: mode });
      try {
        result[key] = await single(bare, "compiled", tokensFile, 0, n, IDLE_SECONDS);
      } finally {
        await bare.stop();
      }
      save();
    }

    // 3. Attribution (heap snapshots) and the node under tsx.
    const snaps: Record<string, { before: string; after: string; connections: number }> = {};
    if (SNAPSHOT_CONNECTIONS > 0) {
      for (const [label, script, e] of [
        ["node", "nodes/all-in-one.ts", nodeEnv(dirA, secret)],
        ["bare", "bench/density/bare.ts", { PORT: "0" }],
      ] as const) {
        const s = await startServer(label, script, e);
        try {
          await sleep(2_000);
          snaps[label] = await snapshots(s, work, tokensFile, 0, SNAPSHOT_CONNECTIONS);
        } finally {
          await s.stop();
        }
      }
      const tsxNode = await startServer("node-tsx", "nodes/all-in-one.ts", nodeEnv(dirA, secret), "tsx");
      try {
        await sleep(2_000);
        result.node_tsx = await single(tsxNode, "tsx", tokensFile, 0, SNAPSHOT_CONNECTIONS, 10);
      } finally {
        await tsxNode.stop();
      }
      save();
    }

    // 4. The box.
    if (TOTAL > 0 && SERVERS > 0) {
      const estimateKiB = SERVERS * 120 * 1024 + TOTAL * 40; // generous: 120 MiB a server, 40 KiB a connection (server and client sides)
      const available = boxMem().mem_available_kib;
      if (estimateKiB > 0.8 * available) result.box = { skipped: `an estimated ${Math.round(estimateKiB / 1024)} MiB needed, ${Math.round(available / 1024)} MiB available` };
      else result.box = await box(work, dirA, secret, tokensFile, tokens);
      save();
    }

    // 5. Attribution from the snapshots.
    const attribution: Record<string, Attribution> = {};
    for (const [label, s] of Object.entries(snaps)) {
      log(`analysing the ${label} snapshots`);
      const a = await analyse(s.before, s.after, s.connections, join(work, `${label}-attribution.json`));
      attribution[label] = { ...a, groups: a.groups.filter((g, i) => i < 60 || g.per_connection_bytes >= 8) };
      rmSync(s.before, { force: true });
      rmSync(s.after, { force: true });
    }
    result.attribution = attribution;
    result.seconds = Math.round((Date.now() - t0) / 1000);
    save();
    log(`wrote bench/results/density.json and density.md in ${result.seconds} s`);
  } finally {
    clearTimeout(deadline);
    for (const child of running) child.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
    rmSync(buildDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => abandon(e instanceof Error ? (e.stack ?? e.message) : String(e)));

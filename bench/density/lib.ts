/**
 * What the density benchmark's steps share: starting a server with the probe preloaded (and
 * its soft open-file limit raised to the hard one), asking the probe for a GC, statistics or a
 * heap snapshot, reading a process's memory from /proc, signing users up, and running client
 * processes that open and hold the WebSockets.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { randomInt } from "node:crypto";
import { Agent, request } from "node:http";
import { defaultLimits } from "../../core/limits.js";
import { opaqueId } from "../../core/ids/opaque.js";
import { Tokens } from "../../nodes/auth.js";
import { Database } from "../../adapters/sqlite/database.js";
import { DirectorySqlite } from "../../adapters/sqlite/directory-sqlite.js";
import type { ProbeReply, ProbeRequest, ProbeStats } from "./probe.js";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const here = join(root, "bench/density");

/** Runs `argv` through sh so that the soft open-file limit is raised to the hard limit first; `exec` keeps the pid. */
function spawnRaised(argv: readonly string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  return spawn("/bin/sh", ["-c", 'ulimit -Sn "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', ...argv], options);
}

// ---- /proc ------------------------------------------------------------------------------

export type ProcMem = { rss_kib: number; rss_anon_kib: number; rss_file_kib: number; fds: number };

export function procMem(pid: number): ProcMem {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? 0);
    let fds = -1;
    try {
      fds = readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      /* gone */
    }
    return { rss_kib: field("VmRSS"), rss_anon_kib: field("RssAnon"), rss_file_kib: field("RssFile"), fds };
  } catch {
    return { rss_kib: 0, rss_anon_kib: 0, rss_file_kib: 0, fds: -1 };
  }
}

/** Box-wide: /proc/meminfo (kB) and /proc/net/sockstat (TCP sockets in use, their buffer memory in pages). */
export function boxMem(): { mem_available_kib: number; slab_kib: number; sunreclaim_kib: number; tcp_inuse: number; tcp_tw: number; tcp_mem_pages: number } {
  const mi = readFileSync("/proc/meminfo", "utf8");
  const f = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(mi)?.[1] ?? 0);
  const ss = readFileSync("/proc/net/sockstat", "utf8");
  const tcp = /TCP: inuse (\d+) orphan \d+ tw (\d+) alloc \d+ mem (\d+)/.exec(ss);
  return { mem_available_kib: f("MemAvailable"), slab_kib: f("Slab"), sunreclaim_kib: f("SUnreclaim"), tcp_inuse: Number(tcp?.[1] ?? 0), tcp_tw: Number(tcp?.[2] ?? 0), tcp_mem_pages: Number(tcp?.[3] ?? 0) };
}

export function hardFileLimit(): number {
  const m = /^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? Number(m[1]) : 1024;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Rejects after `ms` with `what` in the message. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, no) => (timer = setTimeout(() => no(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

// ---- servers ----------------------------------------------------------------------------

export type Server = {
  readonly label: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  probe(request: { type: "stats" } | { type: "gc" } | { type: "snapshot"; path: string }, timeoutMs?: number): Promise<ProbeReply>;
  /** procMem plus the probe's statistics, after a full GC when `gc`. */
  measure(gc: boolean): Promise<Measure>;
  stop(): Promise<void>;
};

export type Measure = ProcMem & {
  heap_used: number;
  heap_total: number;
  external: number;
  array_buffers: number;
  /** V8's malloc'ed memory (outside the JS heap pages). */
  malloced: number;
};

/** Every server the benchmark started and has not stopped (stopped on exit, whatever happens). */
export const running = new Set<ChildProcess>();

/** Where `buildForBench` puts the compiled JavaScript (tsc, as `make build` makes dist/). */
export const buildDir = join(here, ".build");

/**
 * Starts `script` (a .ts path relative to the repository) with the probe preloaded; resolves on
 * `open http://...`. `runtime` "compiled" runs tsc's output in `buildDir` (what `make run`
 * runs); "tsx" runs the source under tsx (what bench/load does), whose esbuild transform
 * (keepNames) gives named closures a property each, so it costs more per connection.
 */
export function startServer(label: string, script: string, env: Record<string, string>, runtime: "compiled" | "tsx" = "compiled", startMs = 60_000): Promise<Server> {
  const argv =
    runtime === "tsx"
      ? [process.execPath, "--expose-gc", "--import", "tsx", "--import", pathToFileURL(join(here, "probe.ts")).href, join(root, script)]
      : [process.execPath, "--expose-gc", "--import", pathToFileURL(join(buildDir, "bench/density/probe.js")).href, join(buildDir, script.replace(/\.ts$/, ".js"))];
  const child = spawnRaised(argv, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  child.stderr!.on("data", (d: Buffer) => process.stderr.write(`[${label}] ${d.toString()}`));
  let nextId = 1;
  const waiting = new Map<number, (r: ProbeReply) => void>();
  child.on("message", (m: ProbeReply) => {
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  const probe: Server["probe"] = (request, timeoutMs = 120_000) => {
    const id = nextId++;
    const answer = new Promise<ProbeReply>((ok) => waiting.set(id, ok));
    child.send({ ...request, id } as ProbeRequest);
    return within(answer, timeoutMs, `${label} probe ${request.type}`);
  };
  const measure = async (gc: boolean): Promise<Measure> => {
    const r = await probe({ type: gc ? "gc" : "stats" });
    if (r.type !== "gc" && r.type !== "stats") throw new Error(`${label}: probe answered ${JSON.stringify(r)}`);
    const s: ProbeStats = r;
    return { ...procMem(child.pid!), heap_used: s.memory.heapUsed, heap_total: s.memory.heapTotal, external: s.memory.external, array_buffers: s.memory.arrayBuffers, malloced: s.heap.malloced_memory };
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  };
  return within(
    new Promise<Server>((ok, no) => {
      let out = "";
      let listening = false;
      child.stdout!.on("data", (d: Buffer) => {
        if (listening) return;
        out += d.toString();
        const m = /open (http:\/\/[0-9.:]+)/.exec(out);
        if (m === null) return;
        listening = true;
        ok({ label, child, pid: child.pid!, url: m[1]!, probe, measure, stop });
      });
      child.once("exit", (code) => no(new Error(`${label} (${script}) exited ${code} before listening`)));
    }),
    startMs,
    `${label} start`,
  );
}

// ---- accounts ---------------------------------------------------------------------------

/**
 * Tokens for `n` users that never signed up, issued with the node's own secret and token code
 * (nodes/auth.ts), as POST /api/v1/sessions would after checking a password. A connection
 * verifies its token without reading the directory, so the server holds exactly what a
 * signed-up user's connection holds. Used only for what the REST sign-up could not do in time.
 */
export type Identity = { readonly user_id: string; readonly device_id: string };

export function mintTokens(secret: string, n: number): { tokens: string[]; identities: Identity[] } {
  const tokens = new Tokens(secret);
  const draw = (): number => randomInt(0, 2 ** 32);
  const expires_at_ms = Date.now() + defaultLimits().tokenTtlMs;
  const identities = Array.from({ length: n }, () => ({ user_id: opaqueId("u", draw), device_id: opaqueId("d", draw) }));
  return { tokens: identities.map((id) => tokens.issue({ ...id, expires_at_ms })), identities };
}

/**
 * Writes the minted users and their devices into a node's SQLite file (created and migrated if
 * new): the gateway admits a token only for a device the directory knows and has not retired
 * (issue 14), so a token without its device row is refused with 401. Safe while the node
 * runs: a second connection in WAL mode, and the node caches a user's devices only once it
 * has read them, which it does at that user's first connection.
 */
export async function seedDirectory(dir: string, identities: readonly Identity[]): Promise<void> {
  const db = Database.open(join(dir, "chat.sqlite3"));
  try {
    const directory = new DirectorySqlite(db);
    const now = Date.now();
    for (let i = 0; i < identities.length; i += 1_000) {
      await Promise.all(
        identities.slice(i, i + 1_000).flatMap((id) => [
          directory.createUser({ user_id: id.user_id, username: `minted-${id.user_id}`, password_hash: "minted: no password signs in", created_at_ms: now }),
          directory.addDevice(id.user_id, id.device_id, now),
        ]),
      );
    }
  } finally {
    await db.close();
  }
}

function post(agent: Agent, base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const text = JSON.stringify(body);
  return new Promise((ok, no) => {
    const req = request(`${base}${path}`, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (data += d));
      res.on("end", () => {
        if ((res.statusCode ?? 0) >= 300) no(new Error(`POST ${path}: ${res.statusCode} ${data}`));
        else ok(JSON.parse(data) as Record<string, unknown>);
      });
      res.on("error", no);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`POST ${path}: no answer in 60 s`)));
    req.on("error", no);
    req.end(text);
  });
}

/**
 * Signs up to `n` users through the REST API (POST /users, then POST /sessions), `concurrency`
 * at a time, until `budgetMs` has passed; answers the tokens of those done. Its keep-alive
 * connections are closed before it answers, so they hold nothing in the server afterwards.
 */
export async function signUp(base: string, n: number, concurrency: number, budgetMs: number, progress: (done: number) => void): Promise<string[]> {
  const tokens: string[] = [];
  const tag = Date.now().toString(36);
  const password = "density-bench-password";
  const until = Date.now() + budgetMs;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n && Date.now() < until) {
      const username = `d${tag}_${next++}`;
      await post(agent, base, "/api/v1/users", { username, password });
      const s = await post(agent, base, "/api/v1/sessions", { username, password });
      tokens.push(String(s.token));
      if (tokens.length % 2_000 === 0) progress(tokens.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } finally {
    agent.destroy();
  }
  return tokens;
}

// ---- loopback source addresses ------------------------------------------------------------

/** Each 127.0.0.x source address holds at most this many client sockets (ephemeral ports are 32768-60999 per address). */
export const CONNECTIONS_PER_ADDRESS = 5_000;
let nextAddress = 20;
/** Fresh source addresses (never reused in a run, so no TIME_WAIT of a previous step is in the way). */
export function sourceAddresses(connections: number): string[] {
  const n = Math.ceil(connections / CONNECTIONS_PER_ADDRESS);
  if (nextAddress + n > 254) throw new Error("out of 127.0.0.x source addresses");
  const out = Array.from({ length: n }, (_, i) => `127.0.0.${nextAddress + i}`);
  nextAddress += n;
  return out;
}

// ---- client processes -----------------------------------------------------------------------

export type Clients = {
  readonly open: number;
  readonly failed: number;
  readonly errors: Record<string, number>;
  /** Wall time until the slowest client process had finished its handshakes. */
  readonly ms: number;
  readonly processes: number;
  /** Sum of the client processes' RSS after connecting. */
  readonly rss_kib: number;
  status(): Promise<{ open: number; closed: number; failed: number; rss_kib: number }>;
  stop(): Promise<void>;
};

type ClientLine = { phase: string; open: number; closed?: number; failed: number; errors: Record<string, number>; ms?: number; rss_kib: number };

/**
 * Opens `count` WebSockets to `wsUrl` with tokens [offset, offset+count) of `tokensFile`, from
 * client processes of at most `perProcess` sockets each, each on its own fresh source addresses.
 */
export async function openClients(wsUrl: string, tokensFile: string, offset: number, count: number, perProcess: number, timeoutMs: number): Promise<Clients> {
  const procs: { child: ChildProcess; lines: AsyncIterator<string> }[] = [];
  for (let from = 0; from < count; from += perProcess) {
    const n = Math.min(perProcess, count - from);
    const argv = [process.execPath, join(buildDir, "bench/density/client.js"), "--url", wsUrl, "--tokens", tokensFile, "--from", String(offset + from), "--count", String(n), "--local", sourceAddresses(n).join(","), "--concurrency", "100", "--max-seconds", String(Math.ceil(timeoutMs / 1000) + 600)];
    const child = spawnRaised(argv, { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    procs.push({ child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() });
  }
  const nextLine = async (p: (typeof procs)[number], ms: number): Promise<ClientLine> => {
    const r = await within(p.lines.next(), ms, "client process");
    if (r.done === true) throw new Error(`client process ${p.child.pid} ended (exit ${p.child.exitCode})`);
    return JSON.parse(r.value) as ClientLine;
  };
  const t0 = performance.now();
  const first = await Promise.all(procs.map((p) => nextLine(p, timeoutMs)));
  const errors: Record<string, number> = {};
  for (const l of first) for (const [k, v] of Object.entries(l.errors)) errors[k] = (errors[k] ?? 0) + v;
  const stop = async (): Promise<void> => {
    await Promise.all(
      procs.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL"); // the kernel closes the sockets; their TIME_WAIT is on addresses this run does not use again
        await exited;
      }),
    );
  };
  return {
    open: first.reduce((s, l) => s + l.open, 0),
    failed: first.reduce((s, l) => s + l.failed, 0),
    errors,
    ms: Math.round(Math.max(performance.now() - t0, ...first.map((l) => l.ms ?? 0))),
    processes: procs.length,
    rss_kib: first.reduce((s, l) => s + l.rss_kib, 0),
    async status() {
      for (const p of procs) p.child.stdin!.write("status\n");
      const ls = await Promise.all(procs.map((p) => nextLine(p, 30_000)));
      return { open: ls.reduce((s, l) => s + l.open, 0), closed: ls.reduce((s, l) => s + (l.closed ?? 0), 0), failed: ls.reduce((s, l) => s + l.failed, 0), rss_kib: ls.reduce((s, l) => s + l.rss_kib, 0) };
    },
    stop,
  };
}

/** Compiles the repository with tsc into `buildDir` (emitting even if someone's work in progress has type errors). */
export function buildForBench(): Promise<void> {
  return new Promise((ok, no) => {
    const tsc = spawn(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json"), "--outDir", buildDir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    tsc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    tsc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => tsc.kill("SIGKILL"), 300_000);
    tsc.once("exit", (code) => {
      clearTimeout(timer);
      for (const f of ["nodes/all-in-one.js", "bench/density/bare.js", "bench/density/client.js", "bench/density/probe.js"]) {
        try {
          readFileSync(join(buildDir, f));
        } catch {
          no(new Error(`tsc (exit ${code}) did not emit ${f}: ${out.slice(0, 2000)}`));
          return;
        }
      }
      if (code !== 0) process.stderr.write(`density: tsc exited ${code}, emitted anyway (first errors: ${out.split("\n").slice(0, 2).join(" | ")})\n`);
      ok();
    });
  });
}

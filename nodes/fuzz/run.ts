/**
 * The fuzz run: an all-in-one node in a child process (so that a crash is an exit we see,
 * not a test runner's problem), attackers sending seeded WebSocket frames and REST requests
 * (generate.ts) on loopback, and one honest pair of clients talking throughout. It reports
 * what the contract promises: no crash, no 5xx, every error in the contract's shape, close
 * codes only from the documented set, and the honest client served all along.
 *
 * Rules: the seed decides every input; timing does not (the server's answers interleave as
 * they will), so a replay sends the same inputs in the same order per connection. Every
 * wait has a deadline.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import { decodeServerFrame } from "../../core/protocol/decode.js";
import { ERROR_CODES, type ErrorCode } from "../../core/protocol/errors.js";
import { fuzzFrame, fuzzRequest, generator, type Draw, type Known } from "./generate.js";

export type FuzzOptions = {
  readonly seed: number;
  readonly frames: number;
  readonly requests: number;
  /** Attacker connections at once (each its own user). */
  readonly attackers?: number;
  /** REST requests in flight at once. */
  readonly rest_concurrency?: number;
  readonly log?: (line: string) => void;
};

export type FuzzReport = {
  readonly seed: number;
  readonly frames: number;
  readonly requests: number;
  readonly crashes: number;
  readonly status_5xx: number;
  /** Answers not in the contract's shape (first few kept, all counted). */
  readonly contract_violations: number;
  readonly violation_examples: readonly string[];
  readonly statuses: Record<string, number>;
  readonly close_codes: Record<string, number>;
  readonly error_codes: Record<string, number>;
  /** The honest pair: sends, deliveries, latency from the first attempt, retried refusals, other errors. */
  readonly live: { sent: number; delivered: number; p50_ms: number; p99_ms: number; closed: boolean; errors: number; retried: number };
  readonly rss_mb: { start: number; end: number };
  readonly healthy_after: boolean;
  readonly seconds: number;
};

/** Close codes the contract documents (API.md: close codes), plus a normal close. */
const CLOSE_CODES_DOCUMENTED = new Set([1000, 1001, 1007, 1008, 1009, 1013]);
const ROOT = resolve(new URL("../..", import.meta.url).pathname);

export type NodeProcess = { url: string; pid: number | undefined; child: ChildProcess; exited: () => boolean; stderr: () => string; stop(): Promise<void> };

/**
 * An all-in-one node in a child process on loopback, with the rate limits of REST off.
 * `env` adds or overrides node settings (a test's tiny admission limit); `port` 0 is any free one.
 */
export async function startNodeProcess(dir: string, options: { env?: Record<string, string>; port?: number } = {}): Promise<NodeProcess> {
  const env = {
    ...process.env,
    PORT: String(options.port ?? 0),
    DATA_DIR: dir,
    WEB_DIR: join(dir, "no-web"),
    LOG_LEVEL: "error",
    SECRET: randomBytes(32).toString("base64url"),
    PASSWORD_HASH_COST: "1024",
    // Rate limits are not what is fuzzed: without them every request reaches a handler.
    REST_BURST: "1000000",
    REST_PER_SECOND: "1000000",
    // As deployed (Makefile run, deploy/cluster.sh; docs/OPERATIONS.md "Memory"): with glibc's
    // default of 8 malloc arenas per core, 200,000 fuzzed frames took RSS from 123 to 428 MiB
    // while the JS heap in use stayed under 110 MiB; with 2, from 128 to 191 MiB.
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? "2",
    ...options.env,
  };
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "nodes/all-in-one.ts")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let exited = false;
  let stderr = "";
  child.on("exit", () => (exited = true));
  child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)));
  const url = await new Promise<string>((ok, no) => {
    let out = "";
    const timer = setTimeout(() => no(new Error(`fuzz: the node did not start within 60 s: ${stderr}`)), 60_000);
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    });
    child.on("exit", (code) => no(new Error(`fuzz: the node exited with ${code} while starting: ${stderr}`)));
  });
  return {
    url,
    pid: child.pid,
    child,
    exited: () => exited,
    stderr: () => stderr,
    stop: () =>
      new Promise<void>((ok) => {
        if (exited) return ok();
        child.once("exit", () => ok());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
      }),
  };
}

export function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Math.round(Number(m[1]) / 1024);
  } catch {
    return 0;
  }
}

async function rest(base: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? null : JSON.parse(text) };
}

export async function account(base: string, name: string): Promise<{ user_id: string; token: string }> {
  const created = await rest(base, "POST", "/api/v1/users", { username: name, password: "correct horse battery" });
  if (created.status !== 201) throw new Error(`fuzz: sign-up ${name}: ${created.status}`);
  const session = await rest(base, "POST", "/api/v1/sessions", { username: name, password: "correct horse battery" });
  return { user_id: session.json.user_id, token: session.json.token };
}

export function openSocket(base: string, token: string): Promise<WebSocket> {
  return new Promise((ok, no) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(token)}`, { maxPayload: 16 * 1024 * 1024 });
    ws.once("open", () => ok(ws));
    ws.once("error", no);
    ws.once("unexpected-response", (_req, res) => no(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "chat-fuzz-"));
  const node = await startNodeProcess(dir);
  const rss_start = rssMb(node.child.pid);
  const statuses: Record<string, number> = {};
  const close_codes: Record<string, number> = {};
  const error_codes: Record<string, number> = {};
  const examples: string[] = [];
  let violations = 0;
  let status_5xx = 0;
  const violation = (what: string): void => {
    violations++;
    if (examples.length < 10) examples.push(what.slice(0, 300));
  };
  try {
    const tag = Date.now().toString(36).slice(-5);
    const alice = await account(node.url, `fz_alice_${tag}`);
    const bob = await account(node.url, `fz_bob_${tag}`);
    const attackers = await Promise.all(Array.from({ length: options.attackers ?? 8 }, (_, i) => account(node.url, `fz_att${i}_${tag}`)));
    const groups: string[] = [];
    const conversations: string[] = [];
    for (let i = 0; i < 2; i++) {
      const g = await rest(node.url, "POST", "/api/v1/groups", { name: `fuzz ${i}`, member_ids: attackers.map((a) => a.user_id) }, attackers[0]!.token);
      groups.push(g.json.group_id);
      conversations.push(g.json.conversation_id);
    }
    const message_ids: string[] = [];
    const known: Known = { user_ids: [...attackers.map((a) => a.user_id), bob.user_id, alice.user_id], group_ids: groups, conversation_ids: conversations, message_ids };

    // ---- the honest pair ----------------------------------------------------------------
    const a = await openSocket(node.url, alice.token);
    const b = await openSocket(node.url, bob.token);
    const live = { sent: 0, delivered: 0, closed: false, errors: 0, retried: 0 };
    const sent_at = new Map<string, number>();
    const send = (id: string): void => {
      a.send(JSON.stringify({ event: "send_message", data: { to: bob.user_id, content: `still there? ${id}`, type: "text", client_msg_id: id } }));
    };
    const latencies: number[] = [];
    for (const ws of [a, b]) {
      ws.on("close", () => (live.closed = true));
      ws.on("message", (data) => {
        const frame = JSON.parse(data.toString()) as { event: string; data: Record<string, unknown> };
        if (frame.event === "error") {
          // As the contract asks of a client: a retryable refusal (OVERLOADED when the node is
          // busy) is sent again with the same client_msg_id after a pause; any other is a failure.
          const id = String(frame.data.client_msg_id ?? "");
          if (ws === a && frame.data.retryable === true && sent_at.has(id)) {
            live.retried++;
            setTimeout(() => send(id), 200);
          } else live.errors++;
        }
        if (ws === b && frame.event === "new_message") {
          ws.send(JSON.stringify({ event: "ack", data: { message_id: frame.data.message_id, status: "delivered" } }));
          const at = sent_at.get(String(frame.data.client_msg_id));
          if (at !== undefined && frame.data.from === alice.user_id) {
            sent_at.delete(String(frame.data.client_msg_id));
            live.delivered++;
            latencies.push(Date.now() - at);
          }
        }
      });
    }
    let fuzzing = true;
    const talk = (async () => {
      while (fuzzing && !live.closed) {
        const id = randomUUID();
        sent_at.set(id, Date.now());
        send(id);
        live.sent++;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const heartbeat = setInterval(() => {
      for (const ws of [a, b]) if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event: "heartbeat", data: {} }));
    }, 20_000);

    // ---- WebSocket attackers: each its own generator, derived from the seed ------------------
    let frames = 0;
    const per_attacker = Math.ceil(options.frames / attackers.length);
    const attack = async (index: number, r: Draw): Promise<void> => {
      let sent = 0;
      while (sent < per_attacker) {
        if (node.exited()) return;
        let ws: WebSocket;
        try {
          ws = await openSocket(node.url, attackers[index]!.token);
        } catch (error) {
          violation(`attacker ${index}: could not connect: ${String(error)}`);
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        let closed = false;
        ws.on("error", () => undefined);
        ws.on("close", (code) => {
          closed = true;
          bump(close_codes, String(code));
          if (!CLOSE_CODES_DOCUMENTED.has(code)) violation(`close code ${code} is not documented`);
        });
        ws.on("message", (data, binary) => {
          const text = data.toString();
          const decoded = binary ? null : decodeServerFrame(text);
          if (decoded === null || !decoded.ok) {
            violation(`server frame not in the contract: ${text}`);
            return;
          }
          const frame = decoded.value;
          if (frame.event === "error") {
            bump(error_codes, frame.data.code);
            if (!Object.hasOwn(ERROR_CODES, frame.data.code)) violation(`unknown error code ${frame.data.code}`);
            if (frame.data.code === "INTERNAL") status_5xx++;
          }
          if (frame.event === "delivery_receipt" || frame.event === "new_message") {
            if (message_ids.length < 1_000) message_ids.push(frame.data.message_id);
          }
        });
        // At most 400 frames per connection: a fresh bucket, and some traffic at connect time.
        for (let on_this = 0; on_this < 400 && sent < per_attacker && !closed; on_this++) {
          const f = fuzzFrame(r, known);
          ws.send(f.binary ? Buffer.from(f.text) : f.text, { binary: f.binary });
          sent++;
          frames++;
          if (on_this % 25 === 24) await new Promise((res) => setTimeout(res, 5));
        }
        await new Promise((res) => setTimeout(res, 20));
        if (!closed) {
          await new Promise<void>((res) => {
            ws.once("close", () => res());
            ws.close(1000);
            setTimeout(() => {
              ws.terminate();
              res();
            }, 3_000).unref();
          });
        }
      }
    };
    const seeds = generator(options.seed);
    const attacks = attackers.map((_, i) => attack(i, generator(Math.floor(seeds() * 2 ** 31))));

    // ---- REST -------------------------------------------------------------------------------
    let requests = 0;
    const rest_r = generator(Math.floor(seeds() * 2 ** 31));
    const tokens = { valid: [...attackers.map((x) => x.token)] };
    const queue = Array.from({ length: options.requests }, () => fuzzRequest(rest_r, known, tokens));
    const restWorker = async (): Promise<void> => {
      for (let request = queue.shift(); request !== undefined; request = queue.shift()) {
        if (node.exited()) return;
        let status: number;
        let text: string;
        try {
          const res = await fetch(`${node.url}${request.path}`, {
            method: request.method,
            headers: request.headers,
            body: request.body ?? undefined,
            signal: AbortSignal.timeout(30_000),
          });
          status = res.status;
          text = await res.text();
        } catch (error) {
          // fetch refuses some inputs itself (an invalid header value): not the node's doing.
          if (error instanceof TypeError && !String(error.cause ?? "").includes("ECONNRE")) continue;
          violation(`${request.method} ${request.path.slice(0, 80)}: no answer: ${String(error)}`);
          continue;
        }
        requests++;
        bump(statuses, String(status));
        if (status >= 500) {
          status_5xx++;
          violation(`${request.method} ${request.path.slice(0, 80)} answered ${status}: ${text.slice(0, 200)}`);
        }
        if (status >= 400 && request.method !== "HEAD") {
          let body: any = null;
          try {
            body = JSON.parse(text);
          } catch {
            // falls through to the violation below
          }
          const code = body?.error?.code as ErrorCode | undefined;
          const shaped =
            body !== null && typeof body === "object" && Object.keys(body).length === 1 && typeof body.error?.message === "string" && code !== undefined && Object.hasOwn(ERROR_CODES, code) && ERROR_CODES[code] === status;
          if (!shaped) violation(`${request.method} ${request.path.slice(0, 80)} answered ${status} not in the contract's shape: ${text.slice(0, 200)}`);
          if (code !== undefined) bump(error_codes, `rest:${code}`);
        }
      }
    };
    const progress = setInterval(() => log(`fuzz: ${frames} frames, ${requests} requests, ${violations} violations, live ${live.delivered}/${live.sent}`), 5_000);
    await Promise.all([...attacks, ...Array.from({ length: options.rest_concurrency ?? 8 }, restWorker)]);
    clearInterval(progress);

    // ---- the honest pair must still be served ----------------------------------------------
    fuzzing = false;
    await talk;
    const deadline = Date.now() + 20_000;
    while (sent_at.size > 0 && Date.now() < deadline && !live.closed) await new Promise((r) => setTimeout(r, 50));
    clearInterval(heartbeat);
    const healthy_after = !node.exited() && (await fetch(`${node.url}/healthz`).then((r) => r.status === 200, () => false));
    const rss_end = rssMb(node.child.pid);
    const crashes = node.exited() ? 1 : 0;
    if (crashes > 0) violation(`the node exited: ${node.stderr().slice(-2_000)}`);
    a.close();
    b.close();
    return {
      seed: options.seed,
      frames,
      requests,
      crashes,
      status_5xx,
      contract_violations: violations,
      violation_examples: examples,
      statuses,
      close_codes,
      error_codes,
      live: { ...live, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99) },
      rss_mb: { start: rss_start, end: rss_end },
      healthy_after,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The seed to run: FUZZ_SEED when set (a replay), else a fresh one. */
export function fuzzSeed(env: Record<string, string | undefined> = process.env): number {
  const given = env.FUZZ_SEED;
  if (given !== undefined && /^\d{1,10}$/.test(given)) return Number(given);
  return randomBytes(4).readUInt32BE(0) % 1_000_000_000;
}

/**
 * The load generator, in its own process: N connected users in explicit sender→receiver pairs
 * (user 2k writes to user 2k+1, so 1,000 connections are 500 pairs), 64-byte bodies, open
 * loop at fixed offered rates (sends are scheduled by the clock, never by answers), each step
 * bounded in time and followed by a bounded drain. It measures delivered messages per second
 * and the delivery latency (send time to the message's arrival on the receiver's socket, one
 * clock, this process). Prints one JSON line per event (see `Line` below).
 *
 * Three protocols, the same schedule:
 *   --protocol ours   (default) our API: sign-up and session over REST, `send_message` frames;
 *                     the receiver acks every `new_message` with `delivered`, as a client does.
 *   --protocol relay  (or --relay) the bare ws relay (bench/load/relay.ts): no accounts, no acks.
 *   --protocol xmpp   XMPP over WebSocket (RFC 7395, subprotocol "xmpp"): users registered
 *                     through ejabberd's HTTP API (POST /api/register), then <open/>, SASL
 *                     PLAIN, stream restart, resource bind, session, initial <presence/>;
 *                     messages are <message to='bare JID' type='chat' id=...><body/></message>.
 *
 *   generator.ts --url URL --users 1000 --rates 1000,2000 --seconds 8 [--warmup-seconds 5]
 *     [--warmup-rate R] [--drain-seconds 5] [--pause-seconds 2] [--idle-seconds 3]
 *     [--protocol ours|relay|xmpp] [--relay] [--xmpp-domain localhost] [--ws WS_URLS] [--signup-batch 50]
 *
 * Output lines (JSON, one per line): {phase:"accounts"} after sign-up (before any socket),
 * {phase:"connected"}, {phase:"idle"} with every connection open and idle for --idle-seconds,
 * then per step {phase:"step_start"}, {phase:"tick"} each second (cumulative counts of the
 * step), and the step's result ({phase:"warmup"} or {phase:"step"}).
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]!;
  if (a.startsWith("--")) args.set(a.slice(2), process.argv[i + 1]?.startsWith("--") === false ? process.argv[++i]! : "1");
}
type Protocol = "ours" | "relay" | "xmpp";
const protocol: Protocol = args.has("relay") ? "relay" : ((args.get("protocol") ?? "ours") as Protocol);
if (!["ours", "relay", "xmpp"].includes(protocol)) throw new Error(`unknown --protocol ${protocol}`);
const url = args.get("url")!;
const users = Number(args.get("users") ?? 1000);
const rates = (args.get("rates") ?? "1000").split(",").map(Number);
const seconds = Number(args.get("seconds") ?? 8);
/** Seconds of traffic before measuring (at --warmup-rate, else the first rate); 0 for none. */
const warmupSeconds = Number(args.get("warmup-seconds") ?? 0);
const warmupRate = Number(args.get("warmup-rate") ?? rates[0]);
/** After a step's sends, how long to wait at most for the rest of its messages. */
const drainSeconds = Number(args.get("drain-seconds") ?? 5);
/** Quiet time between steps (after the drain). */
const pauseSeconds = Number(args.get("pause-seconds") ?? 2);
/** Connections open and idle this long before the `idle` line (the orchestrator reads RSS then). */
const idleSeconds = Number(args.get("idle-seconds") ?? 3);
/** Gateways to spread WebSockets over (a cluster); the url's own host when absent. */
const wsUrls = (args.get("ws") ?? url.replace(/^http/, "ws") + "/ws").split(",");
const xmppDomain = args.get("xmpp-domain") ?? "localhost";
const BODY = "x".repeat(64);
const PASSWORD = "load-test-password";

/** user_id: what a sender addresses (our user ID, the relay's name, a bare JID). */
type Account = { user_id: string; token: string; username: string };

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function post(base: string, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function accounts(): Promise<Account[]> {
  if (protocol === "relay") return Array.from({ length: users }, (_, i) => ({ user_id: `u${i}`, token: `u${i}`, username: `u${i}` }));
  const out: Account[] = [];
  const tag = Date.now().toString(36);
  const batchSize = Number(args.get("signup-batch") ?? 50);
  for (let i = 0; i < users; i += batchSize) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(batchSize, users - i) }, async (_, j): Promise<Account> => {
        const username = `load${tag}_${i + j}`;
        if (protocol === "xmpp") {
          // ejabberd's mod_http_api `register` command (the listener allows it from loopback).
          await post(url, "/api/register", { user: username, host: xmppDomain, password: PASSWORD });
          return { user_id: `${username}@${xmppDomain}`, token: PASSWORD, username };
        }
        await post(url, "/api/v1/users", { username, password: PASSWORD });
        const s = await post(url, "/api/v1/sessions", { username, password: PASSWORD });
        return { user_id: s.user_id as string, token: s.token as string, username };
      }),
    );
    out.push(...batch);
  }
  return out;
}

// ---- per-step measurements (reset by each step) ----
const latencies: number[] = [];
let delivered = 0;
let sentOk = 0;
/** Sends of this step answered by an error (refused: a load generator does not retry). */
let refused = 0;
let errors = 0;
let errorsByCode: Record<string, number> = {};
/** Frames of any kind the server sent to any of the generator's sockets during the step. */
let framesIn = 0;
const sentAt = new Map<string, number>();
/** This step's sends: a late `sent` or error of the previous step's is not counted in this one. */
const stepIds = new Set<string>();
let closing = false;

function onDelivered(id: string): void {
  const t0 = sentAt.get(id);
  if (t0 === undefined) return;
  latencies.push(performance.now() - t0);
  sentAt.delete(id);
  delivered++;
}

function onError(code: string, id: string | undefined): void {
  errors++;
  errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
  if (id !== undefined && stepIds.has(id) && sentAt.delete(id)) refused++;
}

function onClose(code: number): void {
  if (!closing) onError(`ws_close_${code}`, undefined);
}

// ---- the three protocols: connect (with auth) and one message frame ----

let nextGateway = 0;
function connectOurs(a: Account): Promise<WebSocket> {
  const gateway = wsUrls[nextGateway++ % wsUrls.length]!;
  const ws = new WebSocket(`${gateway}?token=${encodeURIComponent(a.token)}`, { perMessageDeflate: false });
  ws.on("message", (data) => {
    framesIn++;
    const f = JSON.parse(data.toString()) as { event: string; data: Record<string, string> };
    if (f.event === "new_message") {
      onDelivered(f.data.client_msg_id!);
      if (protocol === "ours") ws.send(JSON.stringify({ event: "ack", data: { message_id: f.data.message_id, status: "delivered", conversation_id: f.data.conversation_id } }));
    } else if (f.event === "delivery_receipt") {
      if (f.data.status === "sent" && stepIds.has(f.data.client_msg_id!)) sentOk++;
    } else if (f.event === "error") onError(f.data.code ?? "UNKNOWN", f.data.client_msg_id);
  });
  ws.on("close", onClose);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.on("error", reject); // after the open: the close that follows is counted
  });
}

const XMPP_OPEN = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${xmppDomain}' version='1.0'/>`;
const attr = (tag: string, name: string): string | undefined => new RegExp(`\\s${name}=['"]([^'"]*)['"]`).exec(tag)?.[1];

/** RFC 7395 client: resolves once the session is bound and the initial presence is sent. */
function connectXmpp(a: Account): Promise<WebSocket> {
  const gateway = wsUrls[nextGateway++ % wsUrls.length]!;
  const ws = new WebSocket(gateway, "xmpp", { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    let ready = false;
    const seen: string[] = [];
    const timer = setTimeout(() => fail(new Error(`${a.username}: XMPP handshake timed out (socket state ${ws.readyState}); received: ${seen.join(" ") || "nothing"}`)), 30_000);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      if (!ready) reject(e);
    };
    ws.on("message", (data) => {
      framesIn++;
      const s = data.toString();
      if (ready) {
        // Every frame is one complete stanza (RFC 7395 §3.3.3).
        if (s.startsWith("<message")) {
          const head = s.slice(0, s.indexOf(">"));
          const id = attr(head, "id");
          if (attr(head, "type") === "error") onError(`xmpp:${/<error[^>]*>\s*<([a-zA-Z-]+)/.exec(s)?.[1] ?? "error"}`, id);
          else if (id !== undefined) onDelivered(id);
        } else if (s.startsWith("<stream:error") || s.includes("<stream:error")) onError(`xmpp-stream:${/<stream:error[^>]*>\s*<([a-zA-Z-]+)/.exec(s)?.[1] ?? "error"}`, undefined);
        return;
      }
      seen.push(s.slice(0, 200));
      if (s.startsWith("<stream:features")) {
        if (s.includes("<mechanisms")) {
          if (!s.includes("<mechanism>PLAIN</mechanism>")) return fail(new Error(`${a.username}: the server offers no SASL PLAIN: ${s}`));
          ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${a.username}\0${a.token}`).toString("base64")}</auth>`);
        } else if (s.includes("<bind")) ws.send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>load</resource></bind></iq>`);
      } else if (s.startsWith("<success")) ws.send(XMPP_OPEN); // stream restart after SASL
      else if (s.startsWith("<failure") || s.includes("<stream:error") || s.startsWith("<close")) fail(new Error(`${a.username}: ${s}`));
      else if (s.startsWith("<iq")) {
        const head = s.slice(0, s.indexOf(">"));
        const id = attr(head, "id");
        if (attr(head, "type") !== "result") return fail(new Error(`${a.username}: ${s}`));
        if (id === "bind1") ws.send(`<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`);
        else if (id === "sess1") {
          // Available: messages to the bare JID go to this resource, not to offline storage.
          ws.send("<presence/>");
          ready = true;
          clearTimeout(timer);
          resolve(ws);
        }
      }
    });
    ws.once("open", () => ws.send(XMPP_OPEN));
    ws.on("error", (e) => fail(e)); // after the handshake: the close that follows is counted
    ws.on("close", (code) => {
      fail(new Error(`${a.username}: closed ${code} during the handshake`));
      onClose(code);
    });
  });
}

const connect = protocol === "xmpp" ? connectXmpp : connectOurs;

function frame(to: Account, id: string): string {
  if (protocol === "xmpp") return `<message to='${to.user_id}' type='chat' id='${id}'><body>${BODY}</body></message>`;
  return JSON.stringify({ event: "send_message", data: { to: to.user_id, content: BODY, type: "text", client_msg_id: id } });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round2 = (x: number): number => Number(x.toFixed(2));

/** One open-loop step at `rate` for `step_seconds`, then a bounded drain; its measurements. */
async function step(sockets: WebSocket[], list: Account[], rate: number, step_seconds: number, phase: "warmup" | "step"): Promise<Record<string, unknown>> {
  latencies.length = 0;
  delivered = 0;
  sentOk = 0;
  refused = 0;
  errors = 0;
  errorsByCode = {};
  framesIn = 0;
  sentAt.clear();
  stepIds.clear();
  const pairs = Math.floor(sockets.length / 2);
  const total = rate * step_seconds;
  const cpu0 = process.cpuUsage();
  emit({ phase: "step_start", step_phase: phase, offered_per_s: rate, seconds: step_seconds });
  const start = performance.now();
  let n = 0;
  let nextTick = 1;
  const tick = (): void => {
    const t = (performance.now() - start) / 1000;
    if (t < nextTick) return;
    nextTick = Math.floor(t) + 1;
    emit({ phase: "tick", t: Math.floor(t), sent: n, delivered, refused, errors });
  };
  const idPrefix = `${Date.now().toString(36)}.`;
  // Open loop: every 5 ms, send whatever the clock says is due. Bounded by count and time.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      for (; n < due; n++) {
        const from = 2 * (n % pairs); // even users send, each to the next (odd) user
        const id = protocol === "xmpp" ? idPrefix + n : randomUUID();
        sentAt.set(id, performance.now());
        stepIds.add(id);
        sockets[from]!.send(frame(list[from + 1]!, id));
      }
      tick();
      if (n >= total || performance.now() - start > step_seconds * 1000 + 2_000) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  const sendWindow = (performance.now() - start) / 1000;
  // Let the tail arrive (bounded), then measure.
  const drainStart = performance.now();
  const drainUntil = drainStart + drainSeconds * 1000;
  while (delivered + refused < n && performance.now() < drainUntil) {
    await sleep(50);
    tick();
  }
  const drainMs = performance.now() - drainStart;
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const sorted = [...latencies].sort((a, b) => a - b);
  const result = {
    phase,
    protocol,
    offered_per_s: rate,
    seconds: step_seconds,
    sent: n,
    /** Our API's `sent` receipts for this step's sends; null where the protocol has none (XMPP, without XEP-0198/0184). */
    sent_ok: protocol === "xmpp" ? null : sentOk,
    delivered,
    delivered_per_s: Math.round(delivered / Math.max(sendWindow, elapsed)),
    p50_ms: round2(percentile(sorted, 50)),
    p90_ms: round2(percentile(sorted, 90)),
    p99_ms: round2(percentile(sorted, 99)),
    max_ms: round2(sorted.length > 0 ? sorted[sorted.length - 1]! : NaN),
    /** Sent, not refused, and not on the receiver's socket by the end of the bounded drain. */
    undelivered: n - delivered - refused,
    /** Sends answered by an error frame (OVERLOADED, RATE_LIMITED, ...), never retried. */
    refused,
    /** Sent minus delivered, refused included (the name bench-load has always used). */
    lost_in_window: n - delivered,
    errors,
    errors_by_code: errorsByCode,
    frames_in: framesIn,
    drain_ms: Math.round(drainMs),
    generator_cpu_pct: Math.round(((cpu.user + cpu.system) / 1000 / (elapsed * 1000)) * 100),
  };
  sentAt.clear();
  stepIds.clear();
  await sleep(pauseSeconds * 1000);
  return result;
}

async function main(): Promise<void> {
  if (users < 2) throw new Error("--users must be at least 2 (one sender→receiver pair)");
  const list = await accounts();
  emit({ phase: "accounts", users: list.length, protocol });
  const sockets: WebSocket[] = [];
  for (let i = 0; i < list.length; i += 100) sockets.push(...(await Promise.all(list.slice(i, i + 100).map((a) => connect(a)))));
  emit({ phase: "connected", connections: sockets.length, pairs: Math.floor(sockets.length / 2) });
  await sleep(idleSeconds * 1000); // idle: the orchestrator reads RSS now
  emit({ phase: "idle" });
  await sleep(1_000);
  // Warm-up (not measured): JIT, connection pools, caches, and a cluster's consumer-group
  // rebalances after start-up would otherwise land in the first measured step.
  if (warmupSeconds > 0) emit(await step(sockets, list, warmupRate, warmupSeconds, "warmup"));
  for (const rate of rates) emit(await step(sockets, list, rate, seconds, "step"));
  closing = true;
  for (const ws of sockets) {
    if (protocol === "xmpp" && ws.readyState === WebSocket.OPEN) ws.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    ws.close();
  }
  await sleep(200);
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`generator: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

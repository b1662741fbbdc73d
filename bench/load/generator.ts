/**
 * The load generator, in its own process: N connected users, 1:1 traffic (user i writes to
 * user i+1), 64-byte bodies, open loop at fixed offered rates (sends are scheduled by the
 * clock, never by answers), each step bounded in time. It measures delivered messages per
 * second and the delivery latency (send time to new_message on the recipient's socket, one
 * clock, this process). Prints one JSON line per step.
 *
 *   generator.ts --url URL --users 1000 --rates 1000,2000 --seconds 8 [--warmup-seconds 5] [--relay] [--ws WS_URLS] [--signup-batch 50]
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]!;
  if (a.startsWith("--")) args.set(a.slice(2), process.argv[i + 1]?.startsWith("--") === false ? process.argv[++i]! : "1");
}
const url = args.get("url")!;
const users = Number(args.get("users") ?? 1000);
const rates = (args.get("rates") ?? "1000").split(",").map(Number);
const seconds = Number(args.get("seconds") ?? 8);
const relay = args.has("relay");
/** Seconds of traffic at the first rate before measuring; 0 for none. */
const warmupSeconds = Number(args.get("warmup-seconds") ?? 0);
/** Gateways to spread WebSockets over (a cluster); the REST url's own host when absent. */
const wsUrls = (args.get("ws") ?? url.replace(/^http/, "ws") + "/ws").split(",");
const BODY = "x".repeat(64);

type Account = { user_id: string; token: string };

async function post(path: string, body: unknown): Promise<any> {
  const res = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function accounts(): Promise<Account[]> {
  if (relay) return Array.from({ length: users }, (_, i) => ({ user_id: `u${i}`, token: `u${i}` }));
  const out: Account[] = [];
  const tag = Date.now().toString(36);
  const batchSize = Number(args.get("signup-batch") ?? 50);
  for (let i = 0; i < users; i += batchSize) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(batchSize, users - i) }, async (_, j) => {
        const username = `load${tag}_${i + j}`;
        await post("/api/v1/users", { username, password: "load-test-password" });
        const s = await post("/api/v1/sessions", { username, password: "load-test-password" });
        return { user_id: s.user_id as string, token: s.token as string };
      }),
    );
    out.push(...batch);
  }
  return out;
}

const latencies: number[] = [];
let delivered = 0;
let sentOk = 0;
let errors = 0;
const sentAt = new Map<string, number>();
/** This step's sends: a late `sent` of the previous step's is not counted in this one. */
const stepIds = new Set<string>();

let nextGateway = 0;
function connect(a: Account): Promise<WebSocket> {
  const gateway = wsUrls[nextGateway++ % wsUrls.length]!;
  const ws = new WebSocket(`${gateway}?token=${encodeURIComponent(a.token)}`, { perMessageDeflate: false });
  ws.on("message", (data) => {
    const f = JSON.parse(data.toString()) as { event: string; data: Record<string, string> };
    if (f.event === "new_message") {
      const t0 = sentAt.get(f.data.client_msg_id!);
      if (t0 !== undefined) {
        latencies.push(performance.now() - t0);
        sentAt.delete(f.data.client_msg_id!);
        delivered++;
      }
      if (!relay) ws.send(JSON.stringify({ event: "ack", data: { message_id: f.data.message_id, status: "delivered", conversation_id: f.data.conversation_id } }));
    } else if (f.event === "delivery_receipt" && f.data.status === "sent" && stepIds.has(f.data.client_msg_id!)) sentOk++;
    else if (f.event === "error") errors++;
  });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One open-loop step at `rate` for `step_seconds`, then a bounded drain; its measurements. */
async function step(sockets: WebSocket[], list: Account[], rate: number, step_seconds: number): Promise<Record<string, number | string>> {
  latencies.length = 0;
  delivered = 0;
  sentOk = 0;
  errors = 0;
  sentAt.clear();
  stepIds.clear();
  const total = rate * step_seconds;
  const start = performance.now();
  let n = 0;
  // Open loop: every 5 ms, send whatever the clock says is due. Bounded by count and time.
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      for (; n < due; n++) {
        const from = n % sockets.length;
        const to = (from + 1) % sockets.length;
        const client_msg_id = randomUUID();
        sentAt.set(client_msg_id, performance.now());
        stepIds.add(client_msg_id);
        sockets[from]!.send(JSON.stringify({ event: "send_message", data: { to: list[to]!.user_id, content: BODY, type: "text", client_msg_id } }));
      }
      if (n >= total || performance.now() - start > step_seconds * 1000 + 2_000) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const sendWindow = (performance.now() - start) / 1000;
  // Let the tail arrive (bounded), then measure.
  const drainUntil = performance.now() + 5_000;
  while (delivered < n && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
  const sorted = [...latencies].sort((a, b) => a - b);
  const result = {
    phase: "step",
    offered_per_s: rate,
    sent: n,
    sent_ok: sentOk,
    delivered,
    delivered_per_s: Math.round(delivered / Math.max(sendWindow, (performance.now() - start) / 1000)),
    p50_ms: Number(percentile(sorted, 50).toFixed(2)),
    p99_ms: Number(percentile(sorted, 99).toFixed(2)),
    lost_in_window: n - delivered,
    errors,
  };
  await new Promise((r) => setTimeout(r, 2_000));
  return result;
}

async function main(): Promise<void> {
  const list = await accounts();
  process.stdout.write(`${JSON.stringify({ phase: "accounts", users: list.length })}\n`);
  const sockets: WebSocket[] = [];
  for (let i = 0; i < list.length; i += 100) sockets.push(...(await Promise.all(list.slice(i, i + 100).map(connect))));
  process.stdout.write(`${JSON.stringify({ phase: "connected", connections: sockets.length })}\n`);
  await new Promise((r) => setTimeout(r, 3_000)); // idle: the orchestrator reads RSS now
  process.stdout.write(`${JSON.stringify({ phase: "idle" })}\n`);
  await new Promise((r) => setTimeout(r, 1_000));
  // Warm-up (not measured): JIT, connection pools, caches, and a cluster's consumer-group
  // rebalances after start-up would otherwise land in the first measured step.
  if (warmupSeconds > 0) process.stdout.write(`${JSON.stringify({ ...(await step(sockets, list, rates[0]!, warmupSeconds)), phase: "warmup" })}\n`);
  for (const rate of rates) process.stdout.write(`${JSON.stringify(await step(sockets, list, rate, seconds))}\n`);
  for (const ws of sockets) ws.close();
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`generator: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

/**
 * The fault run against the real cluster (`make cluster-up` first; `make cluster-fault`):
 * steady 1:1 traffic from users spread over both gateways; mid-run one gateway and one
 * router are killed with SIGKILL and restarted. Clients reconnect (to the other gateway)
 * and retry unanswered sends with their client_msg_id, as the client core does. At the end
 * the clients' histories go to the same invariant checkers the simulator uses.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { checkAll } from "../invariants/index.js";
import type { DisplayEvent, History, SendOp, Violation } from "../invariants/history.js";
import { Socket, signUp, type Account } from "./testing/api-client.js";
import type { Endpoints } from "./testing/cluster-smoke.js";

const DIR = ".cluster";
let gwHttp: string[] = [];
const t0 = Date.now();
const now = (): number => Date.now() - t0;

/**
 * What the run does to the cluster while traffic flows: actions at set times, then traffic
 * stops at `traffic_ms` and the run heals (every send answered, every message delivered, or
 * `heal_ms` passes) before the checkers judge the histories.
 */
export type FaultPlan = {
  readonly traffic_ms: number;
  readonly heal_ms: number;
  readonly actions: readonly { readonly at_ms: number; readonly label: string; run(): void | Promise<void> }[];
};

/** The classic run: kill -9 one gateway and one router at 3 s, restart them at 6 s, traffic for 12 s. */
export function killAndRestart(kill: () => void, restart: () => void): FaultPlan {
  return {
    traffic_ms: 12_000,
    heal_ms: 60_000,
    actions: [
      { at_ms: 3_000, label: "kill -9 a gateway and a router", run: kill },
      { at_ms: 6_000, label: "restart them", run: restart },
    ],
  };
}
export type FaultReport = { sends: number; ok: number; deliveries: number; healed_ms: number; violations: Violation[] };

type Unanswered = { to: string; content: string; index: number; last_sent_ms: number };
type Client = { account: Account; device_id: string; gateway: number; socket: Socket | null; connection: number; sends: SendOp[]; displays: DisplayEvent[]; unanswered: Map<string, Unanswered>; seen: Set<string>; timeline: string[] };

/** Like the client core: an unanswered send is sent again, with the same client_msg_id, after this long. */
const RESEND_AFTER_MS = 3_000;

function resend(c: Client, client_msg_id: string, p: Unanswered): void {
  p.last_sent_ms = Date.now();
  c.socket?.send("send_message", { to: p.to, content: p.content, type: "text", client_msg_id });
}

async function connect(c: Client): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const g = (c.gateway + attempt) % gwHttp.length;
    try {
      const s = await Socket.open(gwHttp[g]!, c.account.token);
      c.socket = s;
      c.gateway = g;
      c.connection++;
      const connection = c.connection;
      c.timeline.push(`t=${now()} connection ${connection} on gw-${g}`);
      s.onFrame((frame) => {
        const f = frame as { event: string; data: Record<string, string> };
        if (f.event === "new_message") {
          if (!c.seen.has(f.data.message_id!)) {
            c.seen.add(f.data.message_id!);
            c.displays.push({ device: { user_id: c.account.user_id, device_id: c.device_id }, conversation_id: f.data.conversation_id!, message_id: f.data.message_id!, from: f.data.from!, client_msg_id: f.data.client_msg_id!, content: f.data.content!, at: now(), connection, via: "new_message" });
          }
          s.send("ack", { message_id: f.data.message_id, status: "delivered", conversation_id: f.data.conversation_id });
        } else if (f.event === "delivery_receipt" && f.data.status === "sent") {
          const pending = c.unanswered.get(f.data.client_msg_id!);
          if (pending === undefined) return;
          c.unanswered.delete(f.data.client_msg_id!);
          const op = c.sends[pending.index]!;
          c.sends[pending.index] = { ...op, outcome: "ok", message_id: f.data.message_id!, completed_at: now() };
          c.displays.push({ device: { user_id: c.account.user_id, device_id: c.device_id }, conversation_id: f.data.conversation_id!, message_id: f.data.message_id!, from: c.account.user_id, client_msg_id: f.data.client_msg_id!, content: pending.content, at: now(), connection, via: "own" });
        } else if (f.event === "error" && String(f.data.retryable) === "true" && f.data.client_msg_id !== undefined) {
          // LOG_UNAVAILABLE, OVERLOADED: the same send again shortly (the broker may be restarting).
          const pending = c.unanswered.get(f.data.client_msg_id);
          if (pending !== undefined) pending.last_sent_ms = Date.now() - RESEND_AFTER_MS + 500;
        }
      });
      s.ws.on("close", () => {
        if (c.socket === s) {
          c.timeline.push(`t=${now()} connection ${connection} closed`);
          c.socket = null;
          setTimeout(() => void connect(c), 200);
        }
      });
      // Retry everything unanswered, same client_msg_id.
      for (const [client_msg_id, p] of c.unanswered) resend(c, client_msg_id, p);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`${c.account.username} could not reconnect`);
}

/**
 * The nodes of `make cluster-up` (deploy/cluster.sh), by name: signal them through their
 * pidfiles and start them again with the same ports and environment.
 */
export function clusterNodes() {
  const secret = readFileSync(`${DIR}/secret`, "utf8").trim();
  const services = Object.fromEntries(
    execFileSync("deploy/services.sh", ["env"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.startsWith("export "))
      .map((l) => l.slice(7).split("="))
      .map(([k, ...v]) => [k!, v.join("=").replace(/^"|"$/g, "")]),
  );
  // The same environment and ports deploy/cluster.sh gave each node (it writes them down).
  const started = JSON.parse(readFileSync(`${DIR}/nodes.json`, "utf8")) as { common: Record<string, string>; nodes: Record<string, { script: string; env: Record<string, string> }> };
  const common = { SECRET: secret, ...started.common, ...services };
  const roles = started.nodes;
  const pid = (name: string): number => Number(readFileSync(`${DIR}/${name}.pid`, "utf8"));
  const alive = (name: string): boolean => {
    try {
      process.kill(pid(name), 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    signal(name: string, signal: NodeJS.Signals): void {
      process.kill(pid(name), signal);
    },
    /** Resolves once the node's process is gone (bounded: then SIGKILL). */
    async exited(name: string, within_ms = 20_000): Promise<void> {
      const deadline = Date.now() + within_ms;
      while (alive(name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (alive(name)) process.kill(pid(name), "SIGKILL");
      while (alive(name)) await new Promise((r) => setTimeout(r, 50));
    },
    restart(name: string): void {
      const role = roles[name];
      if (role === undefined) throw new Error(`no cluster node ${name}`);
      const out = openSync(`${DIR}/${name}.log`, "a");
      const child = spawn(process.execPath, [`dist/nodes/${role.script}.js`], { env: { ...process.env, ...common, ...role.env }, stdio: ["ignore", out, out], detached: true });
      child.unref();
      writeFileSync(`${DIR}/${name}.pid`, String(child.pid));
    },
  };
}

export async function runClusterFault(endpoints: Endpoints, plan: FaultPlan, say: (line: string) => void = (l) => void process.stdout.write(`${l}\n`)): Promise<FaultReport> {
  gwHttp = endpoints.gateways.map((g) => g.replace(/^ws/, "http").replace(/\/ws$/, ""));
  const tag = Date.now().toString(36);
  const accounts = await Promise.all(Array.from({ length: 6 }, (_, i) => signUp(endpoints.api, `fault${tag}_${i}`)));
  const clients: Client[] = accounts.map((account, i) => ({ account, device_id: account.device_id, gateway: i % 2, socket: null, connection: 0, sends: [], displays: [], unanswered: new Map(), seen: new Set(), timeline: [] }));
  for (const c of clients) await connect(c);
  let n = 0;
  // Until the end of healing: unanswered sends go again (an error frame, or a lost `sent`).
  const retrier = setInterval(() => {
    for (const c of clients) for (const [client_msg_id, p] of c.unanswered) if (Date.now() - p.last_sent_ms >= RESEND_AFTER_MS) resend(c, client_msg_id, p);
  }, 250);
  const sender = setInterval(() => {
    for (const [i, c] of clients.entries()) {
      // Sender FIFO per conversation: one unanswered send per client at a time.
      if (c.socket === null || c.unanswered.size > 0) continue;
      const to = clients[(i + 1) % clients.length]!.account.user_id;
      const client_msg_id = randomUUID();
      const content = `n${n++}`;
      c.unanswered.set(client_msg_id, { to, content, index: c.sends.length, last_sent_ms: Date.now() });
      const pair = [c.account.user_id, to].sort();
      c.sends.push({ device: { user_id: c.account.user_id, device_id: c.device_id }, conversation_id: `d.${pair[0]}.${pair[1]}`, client_msg_id, content, invoked_at: now(), outcome: "info", message_id: null, completed_at: null });
      c.socket.send("send_message", { to, content, type: "text", client_msg_id });
    }
  }, 20);
  const actions = plan.actions.map(
    (a) =>
      new Promise<void>((done) =>
        setTimeout(() => {
          say(`t=${now()} ms: ${a.label}`);
          Promise.resolve()
            .then(() => a.run())
            .then(
              () => done(),
              (e: unknown) => {
                say(`t=${now()} ms: ${a.label} failed: ${e instanceof Error ? e.message : String(e)}`);
                done();
              },
            );
        }, a.at_ms),
      ),
  );
  await new Promise((r) => setTimeout(r, plan.traffic_ms));
  clearInterval(sender);
  // Actions still running (a broker restart) finish before healing is timed.
  await Promise.all(actions);
  // Heal: wait until every send is answered and every message reached its recipient.
  const healed_at = now();
  const deadline = Date.now() + plan.heal_ms;
  const okIds = (): string[] => clients.flatMap((c) => c.sends.filter((s) => s.outcome === "ok").map((s) => s.message_id!));
  while (Date.now() < deadline) {
    const unanswered = clients.reduce((k, c) => k + c.unanswered.size, 0);
    const missing = okIds().filter((id) => !clients.some((c) => c.displays.some((d) => d.via === "new_message" && d.message_id === id)));
    if (unanswered === 0 && missing.length === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  clearInterval(retrier);
  const quiescent_at = now();
  const conversations = [...new Set(clients.flatMap((c) => c.sends.map((s) => s.conversation_id)))];
  const history: Record<string, string[]> = {};
  for (const conv of conversations) {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await clients[0]!.account.rest.call("GET", `/api/v1/conversations/${conv}/messages?limit=100${cursor === null ? "" : `&before=${cursor}`}`);
      if (page.status !== 200) {
        // Only members may read; use a member's account.
        const member = clients.find((c) => conv.includes(c.account.user_id))!;
        const p2 = await member.account.rest.call("GET", `/api/v1/conversations/${conv}/messages?limit=100${cursor === null ? "" : `&before=${cursor}`}`);
        ids.push(...p2.json.messages.map((m: { message_id: string }) => m.message_id));
        cursor = p2.json.next_cursor;
      } else {
        ids.push(...page.json.messages.map((m: { message_id: string }) => m.message_id));
        cursor = page.json.next_cursor;
      }
    } while (cursor !== null);
    history[conv] = ids.reverse();
  }
  const h: History = {
    devices: clients.map((c) => ({ user_id: c.account.user_id, device_id: c.device_id })),
    memberships: conversations.flatMap((conv) => conv.split(".").slice(1).map((user_id) => ({ conversation_id: conv, user_id, joined_at: null, left_at: null }))),
    sends: clients.flatMap((c) => c.sends),
    displays: clients.flatMap((c) => c.displays),
    receipts: [],
    acks: [],
    received: [],
    final: { quiescent: true, quiescent_at, healed_at, history, pending: [], connected: clients.filter((c) => c.socket !== null).map((c) => ({ user_id: c.account.user_id, device_id: c.device_id })) },
    delivery_bound_ms: plan.heal_ms,
    presence_bound_ms: plan.heal_ms,
  };
  const violations = checkAll(h);
  if (violations.length > 0) explain(clients, history, say);
  const ok = h.sends.filter((s) => s.outcome === "ok").length;
  const deliveries = h.displays.filter((d) => d.via === "new_message").length;
  say(`${h.sends.length} sends (${ok} ok), ${deliveries} deliveries, healed in ${quiescent_at - healed_at} ms`);
  for (const c of clients) {
    const s = c.socket;
    c.socket = null;
    await s?.close();
  }
  return { sends: h.sends.length, ok, deliveries, healed_ms: quiescent_at - healed_at, violations };
}

/** On a failed run: what each undelivered message went through, and each client's connections. */
function explain(clients: Client[], history: Record<string, string[]>, say: (line: string) => void): void {
  for (const c of clients) {
    for (const s of c.sends) {
      if (s.outcome !== "ok") continue;
      const recipient = clients.find((r) => r !== c && s.conversation_id.includes(r.account.user_id))!;
      if (recipient.seen.has(s.message_id!)) continue;
      const stored = history[s.conversation_id]?.includes(s.message_id!) === true;
      say(`  undelivered ${s.content} ${s.message_id} ${c.account.username} -> ${recipient.account.username}: invoked t=${s.invoked_at}, sent t=${s.completed_at}, in history: ${stored}`);
    }
  }
  for (const c of clients) say(`  ${c.account.username}: ${c.timeline.join("; ")}`);
}

/** As a program against `make cluster-up`: kills and restarts gw-1 and router-0 by their pidfiles. */
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const endpoints = JSON.parse(readFileSync(`${DIR}/endpoints.json`, "utf8")) as Endpoints;
  const nodes = clusterNodes();
  runClusterFault(
    endpoints,
    killAndRestart(
      () => {
        nodes.signal("gw-1", "SIGKILL");
        nodes.signal("router-0", "SIGKILL");
      },
      () => {
        nodes.restart("gw-1");
        nodes.restart("router-0");
      },
    ),
  ).then(
    (r) => {
      for (const v of r.violations.slice(0, 10)) process.stdout.write(`  [${v.invariant} ${v.name}] ${v.message}\n`);
      process.stdout.write(r.violations.length === 0 ? "10 invariants hold: 1 passed, 0 failed\n" : `${r.violations.length} violations: 0 passed, 1 failed\n`);
      process.exit(r.violations.length === 0 ? 0 : 1);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}

/**
 * The fan-out client: N members of one group, each with its own WebSocket, in this process
 * (one clock for send and arrival). Every member acks every `new_message` copy with
 * `delivered`, as the contract asks (docs/API.md, rule 4). An open-loop schedule sends group
 * messages at a fixed rate, the sender rotating among the members; each message's latency is
 * measured from its scheduled send time (so a late send is charged, not hidden) to its arrival
 * on each member's socket: the first member, the last member (the metric of issue 9), and
 * every member's delivery.
 *
 * Two servers, the same client: the all-in-one node (accounts and the group over REST) and the
 * bare group relay of group-relay.ts (no accounts; every connected socket is a member).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import WebSocket from "ws";

export type Member = { index: number; user_id: string; token: string; ws: WebSocket | null };

export type StepResult = {
  offered_per_s: number;
  seconds: number;
  /** Messages of earlier steps not yet fully delivered when this step began (0 for a clean start). */
  backlog_at_start: number;
  /** Group messages sent in the step (rate × seconds) and `sent` receipts received for them. */
  sent: number;
  sent_ok: number;
  /** Scheduled send to the sender's `sent` (durable in the node). */
  sent_p50_ms: number | null;
  sent_p99_ms: number | null;
  /** Recipients per message (members − the sender). */
  recipients: number;
  /** Sends answered by an `error` (OVERLOADED, RATE_LIMITED, ...): refused, never delivered; the latencies below are over the others. */
  refused: number;
  /** Accepted messages that reached every recipient before the drain ended, and those that did not. */
  fully_delivered: number;
  not_fully_delivered: number;
  /** First copies of new_message (message, member) received, of sent × recipients expected. */
  deliveries: number;
  deliveries_expected: number;
  delivered_per_s: number;
  duplicates: number;
  /** Scheduled send → the first member's new_message. */
  first_p50_ms: number | null;
  first_p99_ms: number | null;
  /** Scheduled send → the LAST member's new_message (messages never fully delivered count as infinite: null if they reach the percentile). */
  last_p50_ms: number | null;
  last_p99_ms: number | null;
  last_max_ms: number | null;
  /** LAST p99 counting each never-completed message as completing at the drain's end: a lower bound, always a number. */
  last_p99_at_least_ms: number | null;
  /** Scheduled send → each member's new_message, over all deliveries. */
  member_p50_ms: number | null;
  member_p99_ms: number | null;
  /** `delivered` receipts the senders got back (one per member per message, in groups). */
  receipts_delivered: number;
  errors: number;
  errors_by_code: Record<string, number>;
  /** From the end of the sends until every message was fully delivered (or the drain bound). */
  drain_ms: number;
  /** Server CPU (user + system, its whole process tree) from the step's first send to the end of its drain. */
  server_cpu_ms: number;
  /** Per accepted (not refused) message, and per member delivery. */
  server_cpu_us_per_message: number | null;
  server_cpu_us_per_delivery: number | null;
  /** This client process: CPU share of one core over the step, event-loop delay, worst send lag behind schedule. */
  client_cpu_pct: number;
  client_loop_delay_p99_ms: number;
  send_lag_max_ms: number;
  /** The whole box over the step: % of all cores busy (any process), and % of the time some task waited for a CPU (PSI). */
  machine_busy_pct: number;
  machine_cpu_pressure_pct: number | null;
  /** The server's own counters (the probe given to step), as increases from the step's start to the end of its sends and of its drain. */
  server_counters?: { at_sends_end: Record<string, number>; at_drain_end: Record<string, number> };
};

/** Reads some of a server's counters (e.g. from /metrics); may fail (then nothing is recorded). */
export type Probe = () => Promise<Record<string, number>>;

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) out[k] = Math.round(v - (a[k] ?? 0));
  return out;
}

async function tryProbe(probe: Probe | undefined): Promise<Record<string, number> | null> {
  if (probe === undefined) return null;
  try {
    return await probe();
  } catch {
    return null;
  }
}

/**
 * The whole machine, to tell a slow server from a busy box (other work shares these cores):
 * busy jiffies of all CPUs (/proc/stat) and the time some task waited for a CPU
 * (/proc/pressure/cpu, µs; absent on kernels without PSI).
 */
function machine(): { busy_ticks: number; total_ticks: number; pressure_us: number | null } {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    let pressure_us: number | null = null;
    try {
      pressure_us = Number(/^some .*total=(\d+)/m.exec(readFileSync("/proc/pressure/cpu", "utf8"))?.[1] ?? NaN);
      if (!Number.isFinite(pressure_us)) pressure_us = null;
    } catch {
      pressure_us = null;
    }
    return { busy_ticks: total - idle, total_ticks: total, pressure_us };
  } catch {
    return { busy_ticks: 0, total_ticks: 0, pressure_us: null };
  }
}

type Track = { t0: number; sender: number; got: Uint8Array; count: number; first: number; last: number; sentAt: number; refused: boolean };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number): number => Number(x.toFixed(2));

/** Nearest-rank percentile of ascending `sorted`; null when empty or when it lands on a never-delivered (Infinity) entry. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return Number.isFinite(v) ? round(v) : null;
}

async function post(base: string, path: string, body: unknown, token?: string): Promise<any> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

async function get(base: string, path: string, token: string): Promise<any> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

export class FanoutClient {
  readonly members: Member[] = [];
  group_id = "";
  conversation_id = "";
  private closing = false;
  private readonly tracks = new Map<string, Track>();
  // Per-step counters (reset by each step).
  private stepIds = new Set<string>();
  private memberLatencies: number[] = [];
  private deliveries = 0;
  private duplicates = 0;
  private receiptsDelivered = 0;
  private sentOk = 0;
  private sentLatencies: number[] = [];
  private errors = 0;
  private errorsByCode: Record<string, number> = {};
  private pendingComplete = 0;
  /** Messages of any step not yet received by every recipient (a backlog a later step starts with). */
  private incomplete = 0;
  /** Acks of this loop turn, sent together after the turn's reads (see onFrame). */
  private acks: { ws: WebSocket; text: string }[] = [];
  private acksScheduled = false;

  constructor(
    private readonly base: string,
    private readonly mode: "node" | "relay",
    private readonly size: number,
  ) {}

  /** Node: sign up `size` users and sign each in (one device each), then one group of all of them. Relay: names only. */
  async setup(log: (s: string) => void): Promise<void> {
    if (this.mode === "relay") {
      for (let i = 0; i < this.size; i++) this.members.push({ index: i, user_id: `u${i}`, token: `u${i}`, ws: null });
      this.group_id = "g";
      this.conversation_id = "g.g";
      return;
    }
    const tag = Date.now().toString(36);
    const password = "fanout-bench-password";
    const t0 = performance.now();
    const accounts = await pool(
      Array.from({ length: this.size }, (_, i) => i),
      32,
      async (i) => {
        const username = `fan${tag}_${i}`;
        await post(this.base, "/api/v1/users", { username, password });
        const s = await post(this.base, "/api/v1/sessions", { username, password });
        return { index: i, user_id: s.user_id as string, token: s.token as string, ws: null } satisfies Member;
      },
    );
    this.members.push(...accounts);
    log(`signed up ${this.size} users in ${Math.round(performance.now() - t0)} ms`);
    // The creator counts as a member; at most 500 in all, and an add-members call takes at most
    // 500 IDs (core/limits.ts), so the group is created with the first batch and grown in batches.
    const creator = this.members[0]!;
    const others = this.members.slice(1).map((m) => m.user_id);
    const batch = 250;
    const created = await post(this.base, "/api/v1/groups", { name: "fanout bench", member_ids: others.slice(0, batch) }, creator.token);
    this.group_id = created.group_id as string;
    this.conversation_id = (created.conversation_id as string | undefined) ?? "";
    for (let i = batch; i < others.length; i += batch) await post(this.base, `/api/v1/groups/${encodeURIComponent(this.group_id)}/members`, { user_ids: others.slice(i, i + batch) }, creator.token);
    const group = await get(this.base, `/api/v1/groups/${encodeURIComponent(this.group_id)}`, creator.token);
    const count = (group.member_ids as string[]).length;
    if (count !== this.size) throw new Error(`the group has ${count} members, expected ${this.size}`);
    log(`group ${this.group_id} with ${count} members`);
  }

  async connectAll(log: (s: string) => void): Promise<void> {
    const wsBase = `${this.base.replace(/^http/, "ws")}/ws`;
    const t0 = performance.now();
    await pool(this.members, 50, (m) => this.connect(wsBase, m));
    log(`${this.members.length} WebSockets open in ${Math.round(performance.now() - t0)} ms`);
  }

  private connect(wsBase: string, m: Member): Promise<void> {
    const ws = new WebSocket(`${wsBase}?token=${encodeURIComponent(m.token)}`, { perMessageDeflate: false });
    m.ws = ws;
    ws.on("message", (data) => this.onFrame(m, ws, data.toString()));
    ws.on("close", (code) => {
      if (!this.closing) this.onError(`ws_close_${code}`);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`member ${m.index}: WebSocket did not open in 30 s`)), 30_000);
      ws.once("open", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private onFrame(m: Member, ws: WebSocket, text: string): void {
    const now = performance.now();
    const f = JSON.parse(text) as { event: string; data: Record<string, string> };
    if (f.event === "new_message") {
      // Ack every copy (a repeat too), with the conversation so the gateway routes it directly.
      // The acks of one loop turn are written after all of the turn's reads (setImmediate runs
      // right after the poll phase): 500 members share this process, and writing each ack
      // before reading the next member's socket would charge one member's ack syscall to the
      // next member's arrival time. Each member still acks each message within the same turn.
      this.acks.push({ ws, text: JSON.stringify({ event: "ack", data: { message_id: f.data.message_id, status: "delivered", conversation_id: f.data.conversation_id } }) });
      if (!this.acksScheduled) {
        this.acksScheduled = true;
        setImmediate(this.flushAcks);
      }
      const t = this.tracks.get(f.data.client_msg_id!);
      if (t === undefined) return;
      if (t.got[m.index] === 1) {
        if (this.stepIds.has(f.data.client_msg_id!)) this.duplicates++;
        return;
      }
      t.got[m.index] = 1;
      t.count++;
      const latency = now - t.t0;
      if (t.count === 1) t.first = latency;
      if (t.count === this.size - 1) {
        t.last = latency;
        this.incomplete--;
        if (this.stepIds.has(f.data.client_msg_id!)) this.pendingComplete--;
      }
      if (this.stepIds.has(f.data.client_msg_id!)) {
        this.deliveries++;
        this.memberLatencies.push(latency);
      }
    } else if (f.event === "delivery_receipt") {
      const id = f.data.client_msg_id;
      if (f.data.status === "sent" && id !== undefined && this.stepIds.has(id)) {
        const t = this.tracks.get(id);
        if (t !== undefined && t.sentAt < 0) {
          t.sentAt = now - t.t0;
          this.sentOk++;
          this.sentLatencies.push(t.sentAt);
        }
      } else if (f.data.status === "delivered") this.receiptsDelivered++;
    } else if (f.event === "error") {
      this.onError(f.data.code ?? "UNKNOWN");
      // A send answered by an error (OVERLOADED, RATE_LIMITED, ...) was refused: nothing was
      // stored, no member will get it, and a load generator does not retry.
      const id = f.data.client_msg_id;
      const t = id === undefined ? undefined : this.tracks.get(id);
      if (t !== undefined && !t.refused && t.last < 0 && t.count === 0) {
        t.refused = true;
        this.incomplete--;
        if (this.stepIds.has(id!)) this.pendingComplete--;
      }
    }
  }

  private readonly flushAcks = (): void => {
    this.acksScheduled = false;
    const acks = this.acks;
    this.acks = [];
    for (const a of acks) if (a.ws.readyState === WebSocket.OPEN) a.ws.send(a.text);
  };

  private onError(code: string): void {
    this.errors++;
    this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
  }

  /**
   * One open-loop step: `rate` group messages per second for `seconds` (rate × seconds
   * messages, each at its scheduled time), then a drain until every message reached every
   * recipient or `drainSeconds` passed. `serverCpuMs` reads the server's CPU time so far.
   */
  async step(rate: number, seconds: number, drainSeconds: number, serverCpuMs: () => number, probe?: Probe): Promise<StepResult> {
    // Earlier steps' messages still incomplete stay tracked (they are the backlog); the rest go.
    for (const [id, t] of this.tracks) if (t.last >= 0 || t.refused) this.tracks.delete(id);
    const backlog_at_start = this.incomplete;
    this.stepIds = new Set();
    this.memberLatencies = [];
    this.sentLatencies = [];
    this.deliveries = 0;
    this.duplicates = 0;
    this.receiptsDelivered = 0;
    this.sentOk = 0;
    this.errors = 0;
    this.errorsByCode = {};
    const total = Math.round(rate * seconds);
    this.pendingComplete = total;
    const counters0 = await tryProbe(probe);
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const cpuClient0 = process.cpuUsage();
    const machine0 = machine();
    const cpuServer0 = serverCpuMs();
    const start = performance.now();
    let sendLagMax = 0;
    // Open loop: message n is due at start + n / rate; a timer wakes at the next due time and
    // sends whatever is due. Bounded by count (total) and by time (seconds + 5 s).
    for (let n = 0; n < total; ) {
      const now = performance.now();
      if (now - start > (seconds + 5) * 1000) break;
      const dueAt = start + (n * 1000) / rate;
      if (now < dueAt) {
        await sleep(Math.max(0, dueAt - now - 0.5));
        continue;
      }
      for (; n < total && start + (n * 1000) / rate <= performance.now(); n++) {
        const scheduled = start + (n * 1000) / rate;
        const sender = this.members[n % this.members.length]!;
        const id = randomUUID();
        this.stepIds.add(id);
        this.tracks.set(id, { t0: scheduled, sender: sender.index, got: new Uint8Array(this.size), count: 0, first: -1, last: -1, sentAt: -1, refused: false });
        // The sender never receives its own message: mark it so "all recipients" is size − 1.
        this.tracks.get(id)!.got[sender.index] = 1;
        this.incomplete++;
        sendLagMax = Math.max(sendLagMax, performance.now() - scheduled);
        sender.ws!.send(JSON.stringify({ event: "send_group_message", data: { group_id: this.group_id, content: `fanout ${n} ${"x".repeat(48)}`, type: "text", client_msg_id: id } }));
      }
    }
    const sendsEnd = performance.now();
    this.pendingComplete -= total - this.stepIds.size; // sends the time bound cut off
    const countersSends = await tryProbe(probe);
    const drainDeadline = sendsEnd + drainSeconds * 1000;
    while (this.pendingComplete > 0 && performance.now() < drainDeadline) await sleep(10);
    const end = performance.now();
    const cpuServer = serverCpuMs() - cpuServer0;
    const cpuClient = process.cpuUsage(cpuClient0);
    const machine1 = machine();
    const countersEnd = await tryProbe(probe);
    loop.disable();

    const sent = this.stepIds.size;
    const firsts: number[] = [];
    const lasts: number[] = [];
    let fully = 0;
    let refused = 0;
    // Latencies are over the accepted messages (those not refused with an error).
    const accepted = [...this.stepIds].filter((id) => {
      const r = this.tracks.get(id)!.refused;
      if (r) refused++;
      return !r;
    });
    for (const id of accepted) {
      const t = this.tracks.get(id)!;
      firsts.push(t.first >= 0 ? t.first : Infinity);
      lasts.push(t.last >= 0 ? t.last : Infinity);
      if (t.last >= 0) fully++;
    }
    const asc = (a: number, b: number): number => a - b;
    firsts.sort(asc);
    lasts.sort(asc);
    this.memberLatencies.sort(asc);
    this.sentLatencies.sort(asc);
    const recipients = this.size - 1;
    const finiteLasts = lasts.filter(Number.isFinite);
    // A lower bound for LAST when some messages never completed: count them as complete at the drain's end.
    const bounded = accepted.map((id) => {
      const t = this.tracks.get(id)!;
      return t.last >= 0 ? t.last : end - t.t0;
    });
    bounded.sort(asc);
    return {
      offered_per_s: rate,
      seconds,
      backlog_at_start,
      sent,
      sent_ok: this.sentOk,
      sent_p50_ms: percentile(this.sentLatencies, 50),
      sent_p99_ms: percentile(this.sentLatencies, 99),
      recipients,
      refused,
      fully_delivered: fully,
      not_fully_delivered: sent - refused - fully,
      deliveries: this.deliveries,
      deliveries_expected: (sent - refused) * recipients,
      delivered_per_s: Math.round(this.deliveries / ((end - start) / 1000)),
      duplicates: this.duplicates,
      first_p50_ms: percentile(firsts, 50),
      first_p99_ms: percentile(firsts, 99),
      last_p50_ms: percentile(lasts, 50),
      last_p99_ms: percentile(lasts, 99),
      last_max_ms: sent - refused - fully > 0 ? null : finiteLasts.length > 0 ? round(finiteLasts[finiteLasts.length - 1]!) : null,
      last_p99_at_least_ms: percentile(bounded, 99),
      member_p50_ms: percentile(this.memberLatencies, 50),
      member_p99_ms: percentile(this.memberLatencies, 99),
      receipts_delivered: this.receiptsDelivered,
      errors: this.errors,
      errors_by_code: { ...this.errorsByCode },
      drain_ms: Math.round(end - sendsEnd),
      server_cpu_ms: Math.round(cpuServer),
      server_cpu_us_per_message: sent - refused > 0 ? Math.round((cpuServer * 1000) / (sent - refused)) : null,
      server_cpu_us_per_delivery: this.deliveries > 0 ? round((cpuServer * 1000) / this.deliveries) : null,
      client_cpu_pct: Math.round(((cpuClient.user + cpuClient.system) / 1000 / (end - start)) * 100),
      client_loop_delay_p99_ms: round(loop.percentile(99) / 1e6),
      send_lag_max_ms: round(sendLagMax),
      machine_busy_pct: Math.round(((machine1.busy_ticks - machine0.busy_ticks) / Math.max(1, machine1.total_ticks - machine0.total_ticks)) * 100),
      ...(counters0 !== null && countersSends !== null && countersEnd !== null
        ? { server_counters: { at_sends_end: delta(counters0, countersSends), at_drain_end: delta(counters0, countersEnd) } }
        : {}),
      machine_cpu_pressure_pct: machine0.pressure_us !== null && machine1.pressure_us !== null ? Math.round(((machine1.pressure_us - machine0.pressure_us) / 1000 / (end - start)) * 100) : null,
    };
  }

  /** Messages of earlier steps still not received by every recipient. */
  backlog(): number {
    return this.incomplete;
  }

  /** Waits until every tracked message reached every recipient, or `ms` passed; the backlog left. */
  async waitBacklog(ms: number): Promise<number> {
    const deadline = performance.now() + ms;
    while (this.incomplete > 0 && performance.now() < deadline) await sleep(20);
    return this.incomplete;
  }

  /** Closes every socket and waits (bounded) for the closes. */
  async close(): Promise<void> {
    this.closing = true;
    const closes = this.members.map((m) =>
      m.ws === null || m.ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise<void>((r) => m.ws!.once("close", () => r())),
    );
    for (const m of this.members) m.ws?.close(1000, "bench done");
    await Promise.race([Promise.all(closes), sleep(5_000)]);
    for (const m of this.members) m.ws?.terminate();
  }
}

/**
 * One device of a real-cluster run, recording its history as the invariant checkers read it
 * (invariants/history.ts): its sends and how each ended, what it displayed, the receipts it
 * was shown, the acks it sent, the typing and presence frames it received, and each of its
 * connections. It speaks the wire of docs/API.md through nodes/testing/api-client.ts, not the
 * client core, so the run checks the nodes and not our own client.
 *
 * What it does as a client, by the contract:
 * - an unanswered send goes again with the same client_msg_id (after RESEND_AFTER_MS, or soon
 *   after a retryable error, and on every reconnect); one send in flight per conversation,
 *   so that each is invoked after the previous one's `sent` (sender FIFO);
 * - every `new_message` copy is acked (a repeat too), unless the device's ack policy says
 *   otherwise: `late` acks after a drawn delay, `lossy` never acks some first copies (the
 *   gateway's resync or a replay must bring them again), `silent` acks nothing at all;
 * - `read` marks: `readAll` acks `read` every displayed message from others not yet read;
 * - presence: subscribes to its watch list on every connection (subscriptions belong to a
 *   connection) and heartbeats every HEARTBEAT_MS.
 *
 * Receipts are recorded as a screen shows them, with one difference from the simulator's
 * client core: a lower status for a (message, recipient) is dropped only when it comes on a
 * later connection than the higher one (the late frame after a reconnect that API.md lets
 * clients ignore); one on the same connection is recorded, so invariant 6 judges the wire.
 */
import { randomUUID } from "node:crypto";
import type { AckEvent, ConnectionSpan, DeviceRef, DisplayEvent, LimitRefusal, ReceiptEvent, ReceivedEvent, SendOp } from "../../invariants/history.js";
import { defaultLimits } from "../../core/limits.js";
import { directConversationId, groupConversationId } from "../../core/ids/conversation.js";
import { Socket, type Account } from "./api-client.js";

/** Like the client core: an unanswered send is sent again, with the same client_msg_id, after this long. */
export const RESEND_AFTER_MS = 3_000;
/** The contract asks for a heartbeat every 30 s; a little less keeps presence alive under load. */
const HEARTBEAT_MS = 25_000;
const CONTRACT_BURST = defaultLimits().connectionFramesBurst;
const CONTRACT_PER_SECOND = defaultLimits().connectionFramesPerSecond;
const RANK = { sent: 0, delivered: 1, read: 2 } as const;

export type AckPolicy = "prompt" | "late" | "lossy" | "silent";
export type Target = { readonly kind: "direct"; readonly to: string } | { readonly kind: "group"; readonly group_id: string };

type Unanswered = { readonly target: Target; readonly content: string; readonly index: number; last_sent_ms: number };

export class HistoryDevice {
  readonly ref: DeviceRef;
  socket: Socket | null = null;
  /** Which gateway (index into the run's list) the current or last connection went to. */
  gateway: number;
  connection = 0;
  /** False while the run keeps this device offline: it neither connects nor reconnects. */
  wanted = true;
  /** True once the user stops writing (the run's workload skips the device). */
  quiet = false;
  ackPolicy: AckPolicy;
  readonly sends: SendOp[] = [];
  readonly displays: DisplayEvent[] = [];
  readonly receipts: ReceiptEvent[] = [];
  readonly acks: AckEvent[] = [];
  readonly received: ReceivedEvent[] = [];
  readonly connections: { connection: number; opened_at: number; closed_at: number | null }[] = [];
  /** RATE_LIMITED refusals received, and whether the connection had kept within the contract (invariant 11). */
  readonly limit_refusals: LimitRefusal[] = [];
  private readonly allowances = new Map<number, { tokens: number; at: number; within: boolean }>();
  readonly watching = new Set<string>();
  /** client_msg_id -> the send still waiting for its `sent` (or a definite error). */
  readonly unanswered = new Map<string, Unanswered>();
  /** message_id -> conversation, of everything displayed from others (for read marks). */
  private readonly shownFromOthers = new Map<string, string>();
  private readonly readAcked = new Set<string>();
  private readonly furthest = new Map<string, { rank: number; connection: number }>();
  private readonly seen = new Set<string>();
  /** Late acks not yet sent. */
  lateAcks = 0;
  readonly timeline: string[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  private connecting = false;

  constructor(
    readonly account: Account,
    readonly device_id: string,
    private readonly token: string,
    gateway: number,
    ackPolicy: AckPolicy,
    private readonly gateways: readonly string[],
    private readonly now: () => number,
    private readonly random: () => number,
  ) {
    this.ref = { user_id: account.user_id, device_id };
    this.gateway = gateway;
    this.ackPolicy = ackPolicy;
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  /** Conversations with a send in flight (one at a time per conversation). */
  busy(conversation_id: string): boolean {
    for (const p of this.unanswered.values()) if (conversationOf(this.ref.user_id, p.target) === conversation_id) return true;
    return false;
  }

  async connect(): Promise<void> {
    if (this.connecting || this.socket !== null || !this.wanted) return;
    this.connecting = true;
    try {
      for (let attempt = 0; attempt < 80 && this.wanted; attempt++) {
        const g = (this.gateway + attempt) % this.gateways.length;
        try {
          const s = await Socket.open(this.gateways[g]!, this.token);
          if (!this.wanted) {
            await s.close();
            return;
          }
          this.attach(s, g);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      if (this.wanted) throw new Error(`${this.account.username}/${this.device_id} could not reconnect`);
    } finally {
      this.connecting = false;
    }
  }

  private attach(s: Socket, g: number): void {
    this.socket = s;
    this.gateway = g;
    const connection = ++this.connection;
    // The contract's allowance kept on this side (API.md: a burst of 500, then 50 frames/s;
    // acks free), on this process's clock as frames leave: invariant 11 judges a RATE_LIMITED
    // only on a connection whose every frame kept within it.
    const allowance = { tokens: CONTRACT_BURST, at: Date.now(), within: true };
    const send = s.send.bind(s);
    s.send = ((event: string, data: unknown) => {
      if (event !== "ack") {
        const now = Date.now();
        allowance.tokens = Math.min(CONTRACT_BURST, allowance.tokens + ((now - allowance.at) / 1000) * CONTRACT_PER_SECOND);
        allowance.at = now;
        if (allowance.tokens >= 1) allowance.tokens -= 1;
        else allowance.within = false;
      }
      return send(event as never, data as never);
    }) as typeof s.send;
    this.allowances.set(connection, allowance);
    const span = { connection, opened_at: this.now(), closed_at: null as number | null };
    this.connections.push(span);
    this.timeline.push(`t=${span.opened_at} connection ${connection} on gw-${g}`);
    s.onFrame((frame) => this.frame(s, connection, frame as { event: string; data: Record<string, unknown> }));
    s.ws.on("close", () => {
      span.closed_at ??= this.now();
      if (this.socket !== s) return;
      this.timeline.push(`t=${this.now()} connection ${connection} closed`);
      this.socket = null;
      if (this.heartbeat !== null) clearInterval(this.heartbeat);
      this.heartbeat = null;
      if (this.wanted) setTimeout(() => void this.connect().catch(() => undefined), 200);
    });
    if (this.watching.size > 0) s.send("subscribe_presence", { user_ids: [...this.watching] });
    this.heartbeat = setInterval(() => this.socket === s && s.send("heartbeat", {}), HEARTBEAT_MS);
    // Everything unanswered goes again, same client_msg_id.
    for (const [client_msg_id, p] of this.unanswered) this.transmit(client_msg_id, p);
  }

  /** Closes the connection from this side; with `stay_away` the device stays offline until `comeBack`. */
  async drop(stay_away: boolean): Promise<void> {
    if (stay_away) this.wanted = false;
    const s = this.socket;
    if (s === null) return;
    await s.close();
  }

  /**
   * The user stops writing, waits (up to `within_ms`) until every send has its answer, and
   * closes the app for good: the device stays offline to the end of the run.
   */
  async leaveForGood(within_ms: number): Promise<void> {
    this.quiet = true;
    const deadline = Date.now() + within_ms;
    while (this.unanswered.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await this.drop(true);
  }

  comeBack(): Promise<void> {
    this.wanted = true;
    return this.connect();
  }

  send(target: Target, content: string): void {
    const client_msg_id = randomUUID();
    const p: Unanswered = { target, content, index: this.sends.length, last_sent_ms: Date.now() };
    this.unanswered.set(client_msg_id, p);
    this.sends.push({ device: this.ref, conversation_id: conversationOf(this.ref.user_id, target), client_msg_id, content, invoked_at: this.now(), outcome: "info", message_id: null, completed_at: null });
    this.transmit(client_msg_id, p);
  }

  /** Sends again whatever waited longer than RESEND_AFTER_MS. */
  resendDue(): void {
    for (const [client_msg_id, p] of this.unanswered) if (Date.now() - p.last_sent_ms >= RESEND_AFTER_MS) this.transmit(client_msg_id, p);
  }

  private transmit(client_msg_id: string, p: Unanswered): void {
    p.last_sent_ms = Date.now();
    const s = this.socket;
    if (s === null) return;
    if (p.target.kind === "direct") s.send("send_message", { to: p.target.to, content: p.content, type: "text", client_msg_id });
    else s.send("send_group_message", { group_id: p.target.group_id, content: p.content, type: "text", client_msg_id });
  }

  typing(target: Target): void {
    this.socket?.send("typing", target.kind === "direct" ? { to: target.to } : { group_id: target.group_id });
  }

  watch(user_ids: readonly string[]): void {
    for (const u of user_ids) this.watching.add(u);
    this.socket?.send("subscribe_presence", { user_ids: [...user_ids] });
  }

  /** Marks every displayed message from others read (an ack `read` each), as opening a chat does. */
  readAll(): number {
    let n = 0;
    for (const [message_id, conversation_id] of this.shownFromOthers) {
      if (this.readAcked.has(message_id)) continue;
      if (this.ack(message_id, conversation_id, "read")) {
        this.readAcked.add(message_id);
        n++;
      }
    }
    return n;
  }

  private ack(message_id: string, conversation_id: string, status: "delivered" | "read"): boolean {
    const s = this.socket;
    if (s === null) return false;
    // Recorded as sent: an ack may still be lost (a dying connection); the checkers allow for it.
    this.acks.push({ device: this.ref, conversation_id, message_id, status, at: this.now() });
    s.send("ack", { message_id, status, conversation_id });
    return true;
  }

  private frame(s: Socket, connection: number, f: { event: string; data: Record<string, unknown> }): void {
    if (this.socket !== s) return;
    const d = f.data;
    const str = (k: string): string => String(d[k]);
    switch (f.event) {
      case "new_message": {
        const message_id = str("message_id");
        const conversation_id = str("conversation_id");
        const first = !this.seen.has(message_id);
        if (first) {
          this.seen.add(message_id);
          this.displays.push({ device: this.ref, conversation_id, message_id, from: str("from"), client_msg_id: str("client_msg_id"), content: str("content"), at: this.now(), connection, via: "new_message" });
          if (str("from") !== this.ref.user_id) this.shownFromOthers.set(message_id, conversation_id);
        }
        this.ackCopy(message_id, conversation_id, first);
        return;
      }
      case "delivery_receipt": {
        const status = str("status") as ReceiptEvent["status"];
        if (status === "sent") {
          this.receipts.push({ device: this.ref, conversation_id: str("conversation_id"), message_id: str("message_id"), user_id: null, status, at: this.now() });
          const client_msg_id = str("client_msg_id");
          const p = this.unanswered.get(client_msg_id);
          if (p === undefined) return;
          this.unanswered.delete(client_msg_id);
          const op = this.sends[p.index]!;
          this.sends[p.index] = { ...op, outcome: "ok", message_id: str("message_id"), completed_at: this.now() };
          this.displays.push({ device: this.ref, conversation_id: str("conversation_id"), message_id: str("message_id"), from: this.ref.user_id, client_msg_id, content: p.content, at: this.now(), connection, via: "own" });
          this.seen.add(str("message_id"));
          return;
        }
        const user_id = d.user_id === undefined ? null : str("user_id");
        const key = `${str("message_id")} ${user_id}`;
        const before = this.furthest.get(key);
        // A late frame repeating an older status after a reconnect: the screen keeps the furthest.
        if (before !== undefined && RANK[status] < before.rank && before.connection !== connection) return;
        if (before === undefined || RANK[status] > before.rank) this.furthest.set(key, { rank: RANK[status], connection });
        this.receipts.push({ device: this.ref, conversation_id: str("conversation_id"), message_id: str("message_id"), user_id, status, at: this.now() });
        return;
      }
      case "typing":
        this.received.push({ kind: "typing", device: this.ref, conversation_id: str("conversation_id"), from: str("from"), at: this.now() });
        return;
      case "presence_update":
        this.received.push({ kind: "presence", device: this.ref, user_id: str("user_id"), status: str("status") as "online" | "offline", at: this.now() });
        return;
      case "error": {
        if (d.code === "RATE_LIMITED") this.limit_refusals.push({ device: this.ref, connection, at: this.now(), within_contract: this.allowances.get(connection)?.within ?? true });
        if (d.client_msg_id === undefined) return;
        const client_msg_id = str("client_msg_id");
        const p = this.unanswered.get(client_msg_id);
        if (p === undefined) return;
        if (d.retryable === true) {
          // LOG_UNAVAILABLE, OVERLOADED: the same send again shortly.
          p.last_sent_ms = Date.now() - RESEND_AFTER_MS + 500;
          return;
        }
        // A definite refusal (NOT_A_MEMBER after leaving a group): the send failed.
        this.unanswered.delete(client_msg_id);
        const op = this.sends[p.index]!;
        this.sends[p.index] = { ...op, outcome: "fail", completed_at: this.now() };
        this.timeline.push(`t=${this.now()} send ${client_msg_id} refused: ${str("code")}`);
        return;
      }
      default:
        return;
    }
  }

  private ackCopy(message_id: string, conversation_id: string, first: boolean): void {
    switch (this.ackPolicy) {
      case "silent":
        return;
      case "lossy":
        // Never ack some first copies: only the gateway's resync or a replay brings them again.
        if (first && this.random() < 0.2) return;
        this.ack(message_id, conversation_id, "delivered");
        return;
      case "late":
        if (this.random() < 0.5) {
          this.lateAcks++;
          setTimeout(
            () => {
              this.lateAcks--;
              this.ack(message_id, conversation_id, "delivered");
            },
            500 + Math.floor(this.random() * 7_500),
          );
          return;
        }
        this.ack(message_id, conversation_id, "delivered");
        return;
      case "prompt":
        this.ack(message_id, conversation_id, "delivered");
        return;
    }
  }

  spans(): ConnectionSpan[] {
    return this.connections.map((c) => ({ device: this.ref, connection: c.connection, opened_at: c.opened_at, closed_at: c.closed_at }));
  }

  async close(): Promise<void> {
    this.wanted = false;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    const s = this.socket;
    this.socket = null;
    await s?.close();
  }
}

/** The conversation a target names, as the nodes derive it. */
export function conversationOf(user_id: string, target: Target): string {
  return target.kind === "group" ? groupConversationId(target.group_id) : directConversationId(user_id, target.to);
}

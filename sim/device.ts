/**
 * A simulated device: the client core driven over a simulated WebSocket, recording the
 * Jepsen-style history the invariant checkers judge (sends with outcomes, what it displayed,
 * which receipts it saw, what it acked, what else it received).
 */
import { clientInit, clientStep, type ClientEffect, type ClientInput, type ClientState, type ClientTarget } from "../core/client/index.js";
import { directConversationId, groupConversationId } from "../core/ids/conversation.js";
import { CLOSE_POLICY } from "../core/gateway/step.js";
import type { Limits } from "../core/limits.js";
import { decodeServerFrame, encodeFrame } from "../core/protocol/decode.js";
import type { ServerFrame } from "../core/protocol/frames.js";
import type { AckEvent, DeviceRef, LimitRefusal, DisplayEvent, RateRefusal, ReceiptEvent, ReceivedEvent, SendOp, WireReceipt } from "../invariants/history.js";
import type { ConnectionHost, ConnectionSink } from "../nodes/hosts/gateway-host.js";
import type { Kernel, SimNode } from "./kernel.js";
import type { Rng } from "./random.js";

/** A WebSocket between a device and a gateway: ordered both ways, lost at once on a crash. */
export class SimSocket implements ConnectionSink {
  connection: ConnectionHost | null = null;
  /** Frames stop flowing in a direction once its close has been sent. */
  private c2g_open = true;
  private g2c_open = true;
  private c2g_last = 0;
  private g2c_last = 0;
  dead = false;
  /**
   * The contract's frame allowance kept on the client's side (API.md: a burst of
   * connectionFramesBurst and connectionFramesPerSecond after it; acks free), on the true
   * clock as frames leave: whether every frame this connection sent kept within it.
   * Invariant 11 judges a RATE_LIMITED only on a connection that did.
   */
  within_contract = true;
  private allowance: number;
  private allowance_at: number;
  /** The code and reason the gateway closed it with (null while open, or closed by the client or a crash). */
  closed_for: { readonly code: number; readonly reason: string } | null = null;

  constructor(
    private readonly kernel: Kernel,
    readonly device: SimDevice,
    readonly gateway_node: SimNode,
    readonly gateway_id: string,
  ) {
    this.allowance = device.core.limits.connectionFramesBurst;
    this.allowance_at = kernel.loop.now;
  }

  private spend(text: string): void {
    if (text.startsWith('{"event":"ack"')) return;
    const { connectionFramesBurst: burst, connectionFramesPerSecond: rate } = this.device.core.limits;
    const now = this.kernel.loop.now;
    this.allowance = Math.min(burst, this.allowance + ((now - this.allowance_at) * rate) / 1000);
    this.allowance_at = now;
    if (this.allowance >= 1) this.allowance -= 1;
    else this.within_contract = false;
  }

  private when(last: number, extra = 0): number {
    return Math.max(this.kernel.loop.now + this.kernel.latency() + extra, last);
  }

  /** Client to gateway. */
  toGateway(text: string): void {
    if (!this.c2g_open || this.dead) return;
    this.spend(text);
    this.c2g_last = this.when(this.c2g_last);
    this.kernel.loop.schedule(
      this.c2g_last,
      this.gateway_node.guard(() => {
        if (!this.dead) this.connection?.text(text);
      }),
    );
  }

  /** Gateway to client (the ConnectionSink side). */
  send(text: string): void {
    if (!this.g2c_open || this.dead) return;
    const slow = this.kernel.fires("gateway_slow_socket", 0.01) ? 200 + this.kernel.svc.int(2_000) : 0;
    this.g2c_last = this.when(this.g2c_last, slow);
    this.kernel.loop.schedule(this.g2c_last, () => {
      if (!this.dead) this.device.frame(this, text);
    });
  }

  /** The gateway accepted the upgrade: the client hears "open" one latency later. */
  accepted(): void {
    this.g2c_last = this.when(this.g2c_last);
    this.kernel.loop.schedule(this.g2c_last, () => {
      if (!this.dead && this.g2c_open) this.device.opened(this);
    });
  }

  /** The gateway closes (after the frames it already sent). */
  close(code: number, reason: string): void {
    if (!this.g2c_open) return;
    this.closed_for = { code, reason };
    this.g2c_open = false;
    this.c2g_open = false;
    this.kernel.loop.schedule(this.when(this.g2c_last), () => this.device.lost(this));
  }

  /** The client closes (after the frames it already sent). */
  closeFromClient(): void {
    if (!this.c2g_open) return;
    this.c2g_open = false;
    this.g2c_open = false;
    this.kernel.loop.schedule(
      this.when(this.c2g_last),
      this.gateway_node.guard(() => this.connection?.closed()),
    );
  }

  /** The gateway process died: nothing more flows; the client notices after a while. */
  kill(notice_ms: number): void {
    if (this.dead) return;
    this.dead = true;
    this.c2g_open = false;
    this.g2c_open = false;
    this.kernel.loop.after(notice_ms, () => this.device.lost(this));
  }
}

export type DeviceWorld = {
  connect(device: SimDevice): SimSocket | null;
  recovery(name: "client_send_retried" | "client_duplicate_dropped" | "client_reconnected"): void;
  note(text: string): void;
};

export class SimDevice {
  readonly ref: DeviceRef;
  readonly core: ClientState;
  socket: SimSocket | null = null;
  connection_seq = 0;
  online = true;
  private timer_at = Infinity;
  readonly sends: SendOp[] = [];
  private readonly sendIndex = new Map<string, number>();
  readonly displays: DisplayEvent[] = [];
  readonly receipts: ReceiptEvent[] = [];
  readonly acks: AckEvent[] = [];
  readonly received: ReceivedEvent[] = [];
  readonly limit_refusals: LimitRefusal[] = [];
  readonly rate_refusals: RateRefusal[] = [];
  readonly wire_receipts: WireReceipt[] = [];
  /** Frames other than acks put on the current connection (rate refusals are judged by it). */
  private frames_counted = 0;
  private readonly frames_burst: number;
  readonly conversations = new Set<string>();
  readonly watching = new Set<string>();
  /** Fault: acks held back or sent twice. */
  lateAcks = false;

  constructor(
    private readonly kernel: Kernel,
    readonly node: SimNode,
    readonly user_id: string,
    readonly device_id: string,
    limits: Limits,
    private readonly world: DeviceWorld,
    private readonly rng: Rng,
  ) {
    this.ref = { user_id, device_id };
    this.core = clientInit(user_id, device_id, limits);
    this.frames_burst = limits.connectionFramesBurst;
  }

  private get now(): number {
    return this.kernel.loop.now;
  }

  start(): void {
    this.feed({ type: "start", now_ms: this.node.now() });
  }

  feed(input: ClientInput): void {
    const effects = clientStep(this.core, input);
    for (const e of effects) this.run(e);
  }

  send(target: ClientTarget, content: string, message_type: "text" | "image" | "file" = "text"): void {
    const client_msg_id = this.rng.uuid();
    const conversation_id = target.kind === "direct" ? directConversationId(this.user_id, target.to) : groupConversationId(target.group_id);
    this.sendIndex.set(client_msg_id, this.sends.length);
    this.sends.push({ device: this.ref, conversation_id, client_msg_id, content, invoked_at: this.now, outcome: "info", message_id: null, completed_at: null });
    this.conversations.add(conversation_id);
    this.feed({ type: "send_requested", target, content, message_type, client_msg_id, now_ms: this.node.now() });
  }

  readAll(): void {
    for (const conversation_id of this.conversations) this.feed({ type: "read_requested", conversation_id, now_ms: this.node.now() });
  }

  /** Sends a raw client frame (typing, presence subscriptions). */
  raw(frame: import("../core/protocol/frames.js").ClientFrame): void {
    this.put(encodeFrame(frame), frame.event === "ack");
  }

  /** Puts a frame on the current connection, counting those that count against its rate. */
  private put(text: string, ack: boolean): void {
    if (this.socket === null) return;
    if (!ack) this.frames_counted++;
    this.socket.toGateway(text);
  }

  /** The network blipped or the user went offline: drop the connection from this side. */
  dropConnection(): void {
    const s = this.socket;
    if (s === null) return;
    s.closeFromClient();
    this.lost(s);
  }

  /** The core asked to disconnect (it reconnects on its own next). */
  private closeQuietly(): void {
    const s = this.socket;
    if (s === null) return;
    s.closeFromClient();
    this.socket = null;
  }

  private run(e: ClientEffect): void {
    switch (e.type) {
      case "connect": {
        if (!this.online) {
          this.kernel.loop.after(1, this.node.guard(() => this.feed({ type: "connection_lost", now_ms: this.node.now(), random: this.rng.float() })));
          return;
        }
        const socket = this.world.connect(this);
        if (socket === null) {
          this.kernel.loop.after(10, () => this.feed({ type: "connection_lost", now_ms: this.node.now(), random: this.rng.float() }));
          return;
        }
        this.socket = socket;
        this.connection_seq++;
        this.frames_counted = 0;
        if (this.connection_seq > 1) this.world.recovery("client_reconnected");
        return;
      }
      case "disconnect":
        this.closeQuietly();
        return;
      case "send_frame": {
        const frame = e.frame;
        if (frame.event === "ack") {
          const ack: AckEvent = { device: this.ref, conversation_id: frame.data.conversation_id ?? "", message_id: frame.data.message_id, status: frame.data.status, at: this.now };
          this.acks.push(ack);
          if (this.lateAcks && this.kernel.fires("client_ack_late_or_twice", 0.2)) {
            const socket = this.socket;
            const text = encodeFrame(frame);
            this.kernel.loop.after(this.rng.between(100, 5_000), () => socket?.toGateway(text));
            if (this.rng.chance(0.5)) return; // late only; otherwise also now (twice)
          }
        }
        if (frame.event === "send_message" || frame.event === "send_group_message") {
          const op = this.sends[this.sendIndex.get(frame.data.client_msg_id) ?? -1];
          if (op !== undefined && op.invoked_at !== this.now) this.world.recovery("client_send_retried");
        }
        // An inbound frame lost while the socket stays open (a proxy or a gateway that drops
        // a frame): only the gateway's resync, or the client's own retry, can make up for it.
        if ((frame.event === "ack" || frame.event === "send_message" || frame.event === "send_group_message") && this.socket !== null && this.kernel.fires("socket_frame_lost", 0.05, this.rng)) {
          this.world.note(`${this.device_id}: its ${frame.event} frame is lost on a live socket`);
          return;
        }
        this.put(encodeFrame(frame), frame.event === "ack");
        return;
      }
      case "display": {
        const m = e.message;
        this.conversations.add(m.conversation_id);
        this.displays.push({
          device: this.ref,
          conversation_id: m.conversation_id,
          message_id: m.message_id,
          from: m.from,
          client_msg_id: m.client_msg_id,
          content: m.content,
          at: this.now,
          connection: this.connection_seq,
          via: e.own ? "own" : "new_message",
        });
        return;
      }
      case "send_settled": {
        const i = this.sendIndex.get(e.client_msg_id);
        const op = i === undefined ? undefined : this.sends[i];
        if (op === undefined || i === undefined) return;
        this.sends[i] = {
          ...op,
          outcome: e.outcome.kind,
          message_id: e.outcome.kind === "ok" ? e.outcome.message_id : null,
          completed_at: this.now,
        };
        return;
      }
      case "set_timer": {
        if (e.at_ms >= this.timer_at && this.timer_at > this.node.now()) return;
        this.timer_at = e.at_ms;
        this.node.timers.at(e.at_ms, () => {
          if (this.timer_at === e.at_ms) this.timer_at = Infinity;
          this.feed({ type: "timer_fired", now_ms: this.node.now(), random: this.rng.float() });
        });
        return;
      }
      case "observed":
        if (e.what === "duplicate_dropped") this.world.recovery("client_duplicate_dropped");
        return;
      case "receipt_changed": {
        // What the sender is shown. The wire is monotonic per connection (the gateway sees to
        // it); across a reconnect a late frame may repeat an older status, which the client
        // core drops, so the screen is what invariant 6 judges.
        const r = e.receipt;
        if (r.status !== "sent") this.receipts.push({ device: this.ref, conversation_id: r.conversation_id, message_id: r.message_id, user_id: r.user_id ?? null, status: e.status, at: this.now });
        return;
      }
      case "presence_changed":
      case "typing_seen":
        return; // Recorded from the raw frames, repeats included.
      default: {
        const never: never = e;
        throw new Error(`device: unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** The socket opened (the gateway accepted it). */
  opened(socket: SimSocket): void {
    if (socket !== this.socket) return;
    this.feed({ type: "connected", now_ms: this.node.now() });
    // Presence subscriptions belong to a connection: the screen asks again.
    if (this.watching.size > 0) this.raw({ event: "subscribe_presence", data: { user_ids: [...this.watching] } });
  }

  /** A frame arrived from the gateway. */
  frame(socket: SimSocket, text: string): void {
    if (socket !== this.socket) return;
    const decoded = decodeServerFrame(text);
    if (!decoded.ok) throw new Error(`device ${this.user_id}/${this.device_id}: server sent an invalid frame: ${decoded.error.message}`);
    this.record(decoded.value, socket);
    this.feed({ type: "frame_received", frame: decoded.value, now_ms: this.node.now() });
  }

  private record(frame: ServerFrame, socket: SimSocket): void {
    if (frame.event === "error" && frame.data.code === "RATE_LIMITED") {
      this.limit_refusals.push({ device: this.ref, connection: this.connection_seq, at: this.now, within_contract: socket.within_contract });
    }
    if (frame.event === "delivery_receipt") {
      const r = frame.data;
      if (r.status === "sent") this.receipts.push({ device: this.ref, conversation_id: r.conversation_id, message_id: r.message_id, user_id: null, status: "sent", at: this.now });
      else this.wire_receipts.push({ device: this.ref, conversation_id: r.conversation_id, message_id: r.message_id, user_id: r.user_id ?? null, status: r.status, at: this.now, connection: this.connection_seq });
    } else if (frame.event === "typing") {
      this.received.push({ kind: "typing", device: this.ref, conversation_id: frame.data.conversation_id, from: frame.data.from, at: this.now });
    } else if (frame.event === "presence_update") {
      this.received.push({ kind: "presence", device: this.ref, user_id: frame.data.user_id, status: frame.data.status, at: this.now });
    }
    if (frame.event === "error" && frame.data.code === "RATE_LIMITED") this.refusedForRate(false);
    if (frame.event === "error" && frame.data.code === "RATE_LIMITED" && frame.data.client_msg_id === undefined) {
      // A refused frame that was not a send (sends are retried by the client core): the
      // screen cannot tell which, so it asks for its presence subscriptions again shortly,
      // as it does on every connect (a refused subscription would otherwise be lost for good).
      this.resubscribeSoon();
    }
  }

  private refusedForRate(closed: boolean): void {
    this.rate_refusals.push({ device: this.ref, connection: this.connection_seq, at: this.now, frames_sent: this.frames_counted, frames_burst: this.frames_burst, closed });
  }

  private resubscribe_at: number | null = null;

  private resubscribeSoon(): void {
    if (this.resubscribe_at !== null || this.watching.size === 0) return;
    const socket = this.socket;
    this.resubscribe_at = this.now + 1_000;
    this.kernel.loop.after(1_000, () => {
      this.resubscribe_at = null;
      if (this.socket === socket && socket !== null) this.raw({ event: "subscribe_presence", data: { user_ids: [...this.watching] } });
    });
  }

  /** The connection ended (closed by either side, or the gateway died). */
  lost(socket: SimSocket): void {
    if (socket !== this.socket) return;
    // A close for abuse after a run of RATE_LIMITED refusals (core/gateway/step.ts rejectFrame).
    if (socket.closed_for?.code === CLOSE_POLICY && socket.closed_for.reason === "rate limit exceeded") this.refusedForRate(true);
    this.socket = null;
    this.feed({ type: "connection_lost", now_ms: this.node.now(), random: this.rng.float() });
  }

  get connected(): boolean {
    return this.socket !== null && this.core.phase === "connected";
  }

  get idle(): boolean {
    return this.core.lanes.size === 0;
  }
}

/**
 * The short IO loop around the client core (core/client): the core decides, this file only
 * carries out its effects. It owns one WebSocket at a time and one timer. Rules:
 *
 * 1. Every protocol decision (retries, dedup, acks, backoff, heartbeats) is the core's; this
 *    file feeds it inputs (socket opened/closed, frames, timer) with Date.now() and
 *    randomness from crypto.getRandomValues, and performs `connect`, `disconnect`,
 *    `send_frame` and `set_timer`. Every other effect goes to the page.
 * 2. A socket that is replaced or closed on purpose is detached first, so its late events
 *    never reach the core.
 * 3. Frames the page sends itself (typing, presence subscriptions) go only while connected;
 *    they are fire-and-forget by the protocol.
 * 4. A frame that does not decode is dropped and logged: bad input never reaches the core.
 */
import { clientInit, clientStep, type ClientEffect, type ClientInput, type ClientState } from "../../../core/client/index.js";
import { defaultLimits } from "../../../core/limits.js";
import { decodeServerFrame, encodeFrame } from "../../../core/protocol/decode.js";
import type { ClientFrame } from "../../../core/protocol/frames.js";
import { randomUnit } from "./random.js";

export type ConnectionPhase = ClientState["phase"];

export type ConnectionHooks = {
  /** The effects the page shows (display, receipts, presence, typing, settles). */
  onEffects: (effects: readonly ClientEffect[]) => void;
  onPhase: (phase: ConnectionPhase) => void;
  /** The socket closed before it ever opened: perhaps the token was refused (HTTP 401). */
  onRefused: () => void;
};

/** How long a WebSocket handshake may take before we count it as failed. */
export const CONNECT_TIMEOUT_MS = 10_000;


export class Connection {
  readonly core: ClientState;
  private socket: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly url: () => string,
    user_id: string,
    device_id: string,
    private readonly hooks: ConnectionHooks,
  ) {
    this.core = clientInit(user_id, device_id, defaultLimits());
  }

  get phase(): ConnectionPhase {
    return this.core.phase;
  }

  start(): void {
    this.feed({ type: "start", now_ms: Date.now() });
  }

  /** Sign-out: close for good; nothing reaches the core afterwards. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.detachAndClose();
  }

  /** Feeds the core one input and carries out what it asks. */
  feed(input: ClientInput): ClientEffect[] {
    if (this.stopped) return [];
    const before = this.core.phase;
    const effects = clientStep(this.core, input);
    const forPage: ClientEffect[] = [];
    for (const effect of effects) {
      switch (effect.type) {
        case "connect":
          this.open();
          break;
        case "disconnect":
          this.detachAndClose();
          break;
        case "send_frame":
          this.transmit(effect.frame);
          forPage.push(effect); // The page watches acks go out (read watermarks).
          break;
        case "set_timer":
          this.arm(effect.at_ms);
          break;
        default:
          forPage.push(effect);
      }
    }
    if (forPage.length > 0) this.hooks.onEffects(forPage);
    if (this.core.phase !== before) this.hooks.onPhase(this.core.phase);
    return effects;
  }

  /** A frame outside the core's concerns (typing, presence). False when not connected. */
  sendDirect(frame: ClientFrame): boolean {
    if (this.core.phase !== "connected") return false;
    return this.transmit(frame);
  }

  private transmit(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeFrame(frame));
    return true;
  }

  private arm(at_ms: number): void {
    // The core always asks for its earliest deadline, so the newest request replaces the old.
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.feed({ type: "timer_fired", now_ms: Date.now(), random: randomUnit() });
    }, Math.max(0, at_ms - Date.now()));
  }

  private open(): void {
    this.detachAndClose();
    let opened = false;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      queueMicrotask(() => this.feed({ type: "connection_lost", now_ms: Date.now(), random: randomUnit() }));
      return;
    }
    this.socket = socket;
    // A handshake that hangs (a dead route, a stuck proxy) is given up so the core backs off.
    const giveUp = setTimeout(() => {
      if (socket.readyState === WebSocket.CONNECTING) socket.close();
    }, CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      clearTimeout(giveUp);
      opened = true;
      this.feed({ type: "connected", now_ms: Date.now() });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data !== "string") return;
      const decoded = decodeServerFrame(event.data);
      if (!decoded.ok) {
        console.warn(`chat: dropped a server frame: ${decoded.error.code}: ${decoded.error.message}`);
        return;
      }
      this.feed({ type: "frame_received", frame: decoded.value, now_ms: Date.now() });
    };
    socket.onclose = () => {
      clearTimeout(giveUp);
      if (this.socket !== socket) return;
      this.socket = null;
      if (!opened) this.hooks.onRefused();
      this.feed({ type: "connection_lost", now_ms: Date.now(), random: randomUnit() });
    };
    socket.onerror = () => {
      // onclose follows and does the work.
    };
  }

  private detachAndClose(): void {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000, "client closing");
  }
}

/**
 * The client core: one device's side of the protocol. Rules of this file:
 *
 * 1. Sends are idempotent and retried: a send keeps its client_msg_id through every retry,
 *    timeout and reconnect until it gets `sent` (ok) or a non-retryable error (fail).
 * 2. Sender FIFO: within one conversation a send goes out only after the previous one's
 *    `sent`, so the server's order of our sends is the order we made them (API rule 5).
 * 3. Exactly-once display: a message is displayed once per message_id, whatever the server
 *    repeats; every copy is acked `delivered` (a repeat may be what keeps an entry pending).
 *    Our own sends are displayed when their `sent` arrives, placed by their ID (a screen keeps
 *    a conversation sorted by message_id). new_message frames must arrive in ID order; one
 *    that does not is reported as `out_of_order`, a server bug the simulator looks for.
 * 4. Reconnects back off exponentially with jitter (randomness is an input); heartbeats
 *    keep presence alive while connected.
 * 5. Receipts shown for our messages only move forward.
 */
import { unreachable } from "../result.js";
import { directConversationId, groupConversationId } from "../ids/conversation.js";
import { isoFromMs } from "../model.js";
import type { ServerFrame } from "../protocol/frames.js";
import { receiptAdvance } from "../receipts/receipts.js";
import type { ClientEffect, ClientInput, ClientTarget } from "./types.js";
import type { ClientState, ConversationView, OutboxItem } from "./state.js";

type Out = ClientEffect[];

/** Feeds one input; mutates `state` (owned by the caller) and returns the effects. */
export function clientStep(state: ClientState, input: ClientInput): Out {
  const out: Out = [];
  switch (input.type) {
    case "start":
      if (state.phase === "idle") connect(state, out);
      return out;
    case "connected":
      state.phase = "connected";
      state.reconnect_attempt = 0;
      state.reconnect_at_ms = null;
      state.heartbeat_at_ms = input.now_ms + state.limits.heartbeatIntervalMs;
      for (const lane of state.lanes.values()) {
        const head = lane[0];
        if (head !== undefined) transmit(state, out, head, input.now_ms);
      }
      schedule(state, out);
      return out;
    case "connection_lost":
      if (state.phase === "idle") return out;
      waitToReconnect(state, out, input.now_ms, input.random);
      return out;
    case "timer_fired":
      onTimer(state, out, input.now_ms, input.random);
      return out;
    case "send_requested": {
      const key = laneKey(state, input.target);
      let lane = state.lanes.get(key);
      if (lane === undefined) state.lanes.set(key, (lane = []));
      const item: OutboxItem = {
        client_msg_id: input.client_msg_id,
        target: input.target,
        content: input.content,
        message_type: input.message_type,
        retry_at_ms: null,
        attempts: 0,
      };
      lane.push(item);
      if (lane.length === 1 && state.phase === "connected") {
        transmit(state, out, item, input.now_ms);
        schedule(state, out);
      }
      return out;
    }
    case "read_requested": {
      const view = state.conversations.get(input.conversation_id);
      if (view === undefined || state.phase !== "connected") return out;
      for (const message_id of view.unread) {
        out.push({
          type: "send_frame",
          frame: { event: "ack", data: { message_id, status: "read", conversation_id: input.conversation_id } },
        });
      }
      view.unread = [];
      return out;
    }
    case "frame_received":
      onFrame(state, out, input.frame, input.now_ms);
      return out;
    default:
      return unreachable(input);
  }
}

function laneKey(state: ClientState, target: ClientTarget): string {
  return target.kind === "direct" ? directConversationId(state.user_id, target.to) : groupConversationId(target.group_id);
}

function connect(state: ClientState, out: Out): void {
  state.phase = "connecting";
  out.push({ type: "connect" });
}

function waitToReconnect(state: ClientState, out: Out, now_ms: number, random: number): void {
  const { clientReconnectBaseMs: base, clientReconnectMaxMs: cap } = state.limits;
  const ceiling = Math.min(cap, base * 2 ** Math.min(state.reconnect_attempt, 20));
  // "Equal jitter": half fixed, half random, so a storm of clients spreads out but none waits 0.
  const delay_ms = ceiling / 2 + (ceiling / 2) * random;
  state.reconnect_attempt += 1;
  state.phase = "waiting";
  state.reconnect_at_ms = now_ms + delay_ms;
  state.heartbeat_at_ms = null;
  for (const lane of state.lanes.values()) {
    const head = lane[0];
    if (head !== undefined) head.retry_at_ms = null; // Re-sent on connect.
  }
  out.push({ type: "observed", what: "reconnect_scheduled" });
  schedule(state, out);
}

function transmit(state: ClientState, out: Out, item: OutboxItem, now_ms: number): void {
  item.attempts += 1;
  const backoff = Math.min(state.limits.clientSendRetryMaxMs, state.limits.clientSendRetryMs * 2 ** Math.min(item.attempts - 1, 16));
  item.retry_at_ms = now_ms + backoff;
  if (item.attempts > 1) out.push({ type: "observed", what: "send_retried" });
  const frame =
    item.target.kind === "direct"
      ? { event: "send_message" as const, data: { to: item.target.to, content: item.content, type: item.message_type, client_msg_id: item.client_msg_id } }
      : {
          event: "send_group_message" as const,
          data: { group_id: item.target.group_id, content: item.content, type: item.message_type, client_msg_id: item.client_msg_id },
        };
  out.push({ type: "send_frame", frame });
}

function onTimer(state: ClientState, out: Out, now_ms: number, random: number): void {
  void random;
  if (state.phase === "waiting" && state.reconnect_at_ms !== null && now_ms >= state.reconnect_at_ms) {
    state.reconnect_at_ms = null;
    connect(state, out);
    return;
  }
  if (state.phase !== "connected") {
    // Woken early (a timer set for something else, or a clock that moved): ask again.
    schedule(state, out);
    return;
  }
  if (state.heartbeat_at_ms !== null && now_ms >= state.heartbeat_at_ms) {
    out.push({ type: "send_frame", frame: { event: "heartbeat", data: {} } });
    state.heartbeat_at_ms = now_ms + state.limits.heartbeatIntervalMs;
  }
  for (const lane of state.lanes.values()) {
    const head = lane[0];
    if (head !== undefined && head.retry_at_ms !== null && now_ms >= head.retry_at_ms) transmit(state, out, head, now_ms);
  }
  schedule(state, out);
}

/** Asks for one wake-up at the earliest deadline. */
function schedule(state: ClientState, out: Out): void {
  let at = Infinity;
  if (state.phase === "waiting" && state.reconnect_at_ms !== null) at = state.reconnect_at_ms;
  if (state.phase === "connected") {
    if (state.heartbeat_at_ms !== null) at = Math.min(at, state.heartbeat_at_ms);
    for (const lane of state.lanes.values()) {
      const head = lane[0];
      if (head?.retry_at_ms != null) at = Math.min(at, head.retry_at_ms);
    }
  }
  if (at !== Infinity) out.push({ type: "set_timer", at_ms: at });
}

function viewOf(state: ClientState, conversation_id: string): ConversationView {
  let view = state.conversations.get(conversation_id);
  if (view === undefined) {
    view = { seen: new Set(), last_displayed: null, last_received: null, unread: [] };
    state.conversations.set(conversation_id, view);
  }
  return view;
}

/** Records a display; answers false for a repeat. `received`: it came as a new_message frame. */
function display(
  state: ClientState,
  out: Out,
  view: ConversationView,
  message: import("../protocol/frames.js").NewMessageData,
  received: boolean,
): boolean {
  const id = message.message_id;
  const trimmedBelowFloor = view.seen.size >= state.limits.clientSeenPerConversationMax && view.last_displayed !== null && id < firstSeen(view);
  if (view.seen.has(id) || trimmedBelowFloor) {
    out.push({ type: "observed", what: "duplicate_dropped" });
    return false;
  }
  if (received) {
    if (view.last_received !== null && id < view.last_received) out.push({ type: "observed", what: "out_of_order" });
    if (view.last_received === null || id > view.last_received) view.last_received = id;
  }
  view.seen.add(id);
  if (view.seen.size > state.limits.clientSeenPerConversationMax) {
    const oldest = view.seen.values().next();
    if (!oldest.done) view.seen.delete(oldest.value);
  }
  if (view.last_displayed === null || id > view.last_displayed) view.last_displayed = id;
  out.push({ type: "display", message, own: !received });
  return true;
}

function firstSeen(view: ConversationView): string {
  const first = view.seen.values().next();
  return first.done ? "" : first.value;
}

function onFrame(state: ClientState, out: Out, frame: ServerFrame, now_ms: number): void {
  switch (frame.event) {
    case "new_message": {
      const m = frame.data;
      const view = viewOf(state, m.conversation_id);
      if (display(state, out, view, m, true) && m.from !== state.user_id) view.unread.push(m.message_id);
      out.push({
        type: "send_frame",
        frame: { event: "ack", data: { message_id: m.message_id, status: "delivered", conversation_id: m.conversation_id } },
      });
      return;
    }
    case "delivery_receipt": {
      const r = frame.data;
      if (r.status === "sent" && r.client_msg_id !== undefined) {
        settle(state, out, r.client_msg_id, { kind: "ok", message_id: r.message_id }, r.conversation_id, now_ms);
        return;
      }
      const key = `${r.message_id}/${r.user_id ?? ""}`;
      const next = receiptAdvance(state.receipts.get(key) ?? null, r.status);
      state.receipts.set(key, next.status);
      if (next.changed) out.push({ type: "receipt_changed", receipt: r, status: next.status });
      return;
    }
    case "error": {
      const e = frame.data;
      if (e.client_msg_id === undefined) {
        out.push({ type: "observed", what: "server_error" });
        return;
      }
      const item = findHead(state, e.client_msg_id);
      if (item === null) return;
      if (e.retryable) {
        // Retry after the current backoff; the same client_msg_id keeps it idempotent.
        item.retry_at_ms = now_ms + Math.min(state.limits.clientSendRetryMaxMs, state.limits.clientSendRetryMs * 2 ** Math.min(item.attempts - 1, 16)) / 4;
        schedule(state, out);
        return;
      }
      settle(state, out, e.client_msg_id, { kind: "fail", code: e.code, message: e.message }, null, now_ms);
      return;
    }
    case "presence_update":
      out.push({ type: "presence_changed", user_id: frame.data.user_id, status: frame.data.status, last_seen: frame.data.last_seen ?? null });
      return;
    case "typing":
      out.push({ type: "typing_seen", from: frame.data.from, conversation_id: frame.data.conversation_id });
      return;
    case "reconnect":
      // The gateway is draining: go now, to whichever gateway the balancer picks.
      out.push({ type: "disconnect" });
      state.reconnect_attempt = 0;
      connect(state, out);
      return;
    default:
      unreachable(frame);
  }
}

function findHead(state: ClientState, client_msg_id: string): OutboxItem | null {
  for (const lane of state.lanes.values()) {
    if (lane[0]?.client_msg_id === client_msg_id) return lane[0];
  }
  return null;
}

function settle(
  state: ClientState,
  out: Out,
  client_msg_id: string,
  outcome: import("./types.js").SendOutcome,
  conversation_id: string | null,
  now_ms: number,
): void {
  for (const [key, lane] of state.lanes) {
    const head = lane[0];
    if (head === undefined || head.client_msg_id !== client_msg_id) continue;
    lane.shift();
    out.push({ type: "send_settled", client_msg_id, outcome });
    if (outcome.kind === "ok" && conversation_id !== null) {
      display(state, out, viewOf(state, conversation_id), {
        message_id: outcome.message_id,
        conversation_id,
        from: state.user_id,
        content: head.content,
        type: head.message_type,
        sent_at: isoFromMs(now_ms),
        client_msg_id,
        ...(head.target.kind === "group" ? { group_id: head.target.group_id } : {}),
      }, false);
    }
    const next = lane[0];
    if (next === undefined) state.lanes.delete(key);
    else if (state.phase === "connected") transmit(state, out, next, now_ms);
    schedule(state, out);
    return;
  }
  // A `sent` for a send we no longer hold: a repeat of one already settled. Nothing to do.
}

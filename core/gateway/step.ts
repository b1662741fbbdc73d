/**
 * The gateway core: one connection's session. Rules of this file:
 *
 * 1. Order on the wire. `new_message` frames of one conversation leave in message_id order
 *    with no gap, across the seam between pending replay and live traffic. The pending store
 *    is the source of truth; a live delivery is emitted at once only when it is provably
 *    contiguous (its `prev_message_id` is the last message this connection emitted in that
 *    conversation). Otherwise the conversation's pending entries after the last emitted one
 *    are read, and everything they hold is emitted in order before anything newer. This
 *    works because the router writes pending entries before it looks up sessions (so a
 *    device registered before the read sees every entry put before it), and puts within one
 *    conversation happen in message_id order (so a read is a gap-free prefix).
 * 2. Sent. A send is appended to the log; the `sent` receipt comes from the router once the
 *    message has its ID, and only after the append was acknowledged. A failed append answers
 *    a retryable error; the client retries with the same client_msg_id.
 * 3. Bad input gets an `error` frame and the connection stays usable; a run of
 *    `rejectedFramesRunMax` rejected frames (`rateLimitedFramesRunMax` when the last was
 *    refused for its rate), or a frame over the size limit, closes it.
 *    Nothing a client is obliged to send counts against the frame limit: `ack` frames are
 *    free, so a client can ack a replay of any size as fast as it arrives. The limit is
 *    judged by when a frame may have arrived, not when it was read (takeFrameToken).
 * 4. Every map here is bounded by a limit in core/limits.ts.
 * 5. Replay is paced by acks: with `replayUnackedMax` frames unacked, further pages of pending
 *    entries are read only once acks bring that below half, or `replayAckWaitMs` later.
 * 6. Typing is forwarded at most once per typingIntervalMs per conversation (typingAllowed);
 *    the host drops group typing above typingGroupMembersMax members.
 */
import { assert, unreachable } from "../result.js";
import { directConversationId, groupConversationId } from "../ids/conversation.js";
import { snowflakeNext } from "../ids/snowflake.js";
import { receiptRank } from "../receipts/receipts.js";
import { apiError, isRetryable, type ApiError } from "../protocol/errors.js";
import type { ClientFrame, ServerFrame } from "../protocol/frames.js";
import type { AckRecord, PendingEntry, SendRecord } from "../model.js";
import { isoFromMs, toNewMessage } from "../model.js";
import type { GatewayEffect, GatewayInput } from "./types.js";
import type { ConversationStream, DeferredRead, GatewayState, HeldSend, MessageDelivery } from "./state.js";

export const CLOSE_POLICY = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_INTERNAL = 1011;

type Out = GatewayEffect[];

/** Feeds one input; mutates `state` (which the caller owns) and returns the effects. */
export function gatewayStep(state: GatewayState, input: GatewayInput): Out {
  const out = stepOnce(state, input);
  assertBounds(state);
  return out;
}

/**
 * The bound of every per-connection table, checked after each step (cheap checks only: this
 * runs per input). A failure is a bug in this file; bad frames are answered, never asserted.
 */
function assertBounds(state: GatewayState): void {
  const l = state.config.limits;
  const debt_max = (l.connectionFramesPerSecond * l.connectionFramesReadLagToleranceMs) / 1000;
  // One condition, and the sentence only when it fails: this runs for every input, and
  // building ten messages per step cost 4% of a simulated run's CPU.
  if (
    state.sends.size <= l.sendsInFlightPerConnectionMax &&
    state.streams.size <= l.conversationStreamsPerConnectionMax &&
    state.subscriptions.size <= l.presenceSubscriptionsPerConnectionMax &&
    state.typing_forwarded.size <= l.typingConversationsPerConnectionMax &&
    state.delivered.size <= l.deliveredIndexPerConnectionMax &&
    state.unacked.size <= l.deliveredIndexPerConnectionMax &&
    state.acks_durable.size <= l.deliveredIndexPerConnectionMax &&
    state.ack_retries.size <= l.deliveredIndexPerConnectionMax &&
    state.receipts_forwarded.size <= l.deliveredIndexPerConnectionMax &&
    state.rejected_run >= 0 &&
    state.tokens >= -debt_max - 1 &&
    state.tokens <= l.connectionFramesBurst
  ) {
    return;
  }
  const within = (what: string, size: number, max: number): void => assert(size <= max, `gateway: ${what} holds ${size}, over its bound ${max}`);
  within("sends", state.sends.size, l.sendsInFlightPerConnectionMax);
  within("streams", state.streams.size, l.conversationStreamsPerConnectionMax);
  within("subscriptions", state.subscriptions.size, l.presenceSubscriptionsPerConnectionMax);
  within("typing_forwarded", state.typing_forwarded.size, l.typingConversationsPerConnectionMax);
  within("delivered", state.delivered.size, l.deliveredIndexPerConnectionMax);
  within("unacked", state.unacked.size, l.deliveredIndexPerConnectionMax);
  within("acks_durable", state.acks_durable.size, l.deliveredIndexPerConnectionMax);
  within("ack_retries", state.ack_retries.size, l.deliveredIndexPerConnectionMax);
  within("receipts_forwarded", state.receipts_forwarded.size, l.deliveredIndexPerConnectionMax);
  assert(state.rejected_run >= 0, `gateway: rejected_run ${state.rejected_run} is negative`);
  assert(state.tokens >= -debt_max - 1 && state.tokens <= l.connectionFramesBurst, `gateway: frame tokens ${state.tokens} outside [-${debt_max}, ${l.connectionFramesBurst}]`);
}

function stepOnce(state: GatewayState, input: GatewayInput): Out {
  const out: Out = [];
  if (state.phase === "closed") return out;
  switch (input.type) {
    case "connection_opened":
      out.push({ type: "register_session" }, { type: "presence_heartbeat" });
      out.push({ type: "set_timer", at_ms: input.now_ms + state.config.limits.heartbeatIntervalMs });
      return out;
    case "session_registered":
      if (!input.ok) {
        // A refresh that failed (heartbeat or timer) leaves the connection up: its entry may
        // still be there, the next interval tries again, and meanwhile anything routed to
        // this device waits in the pending store for the resync. Closing would only turn a
        // session-store outage into a reconnect storm. Without a first registration, though,
        // the connection cannot go live.
        if (state.phase !== "opening") return out;
        sendError(out, apiError("OVERLOADED", "The session service is unavailable; reconnect shortly."));
        close(state, out, CLOSE_INTERNAL, "session service unavailable");
        return out;
      }
      if (state.phase === "opening") {
        state.phase = "syncing";
        startScan(state, out, input.now_ms);
      } else if (state.phase === "live" && input.missing === true && state.scan === null) {
        // Our entry was gone (expired, or the store lost its keys): routers could not find
        // this device meanwhile, so what they routed to it sits in the pending store. Resync
        // now rather than at the next interval.
        startScan(state, out, input.now_ms);
      }
      return out;
    case "frame_received":
      if (input.frame.event !== "ack" && !takeFrameToken(state, input.now_ms)) {
        rejectFrame(state, out, apiError("RATE_LIMITED", "Too many frames; slow down and retry."), frameClientMsgId(input.frame));
        return out;
      }
      state.rejected_run = 0;
      onFrame(state, out, input.frame, input.now_ms);
      return out;
    case "frame_rejected":
      if (input.error.code === "FRAME_TOO_LARGE") {
        sendError(out, input.error);
        close(state, out, CLOSE_TOO_BIG, "frame too large");
        return out;
      }
      takeFrameToken(state, input.now_ms);
      rejectFrame(state, out, input.error, null);
      return out;
    case "append_completed":
      onAppendCompleted(state, out, input.record, input.ok, input.now_ms, input.overloaded === true);
      return out;
    case "pending_page_read":
      onPageRead(state, out, input.read_id, input.entries, input.now_ms);
      return out;
    case "pending_conversation_read":
      onConversationRead(state, out, input.read_id, input.conversation_id, input.entries, input.now_ms);
      return out;
    case "delivery_received":
      onDelivery(state, out, input.delivery);
      return out;
    case "media_checked":
      onMediaChecked(state, out, input.client_msg_id, input.outcome, input.now_ms);
      return out;
    case "timer_fired":
      onTimer(state, out, input.now_ms);
      return out;
    case "drain_requested":
      state.draining = true;
      out.push({ type: "send_frame", frame: { event: "reconnect", data: { reason: "draining" } } });
      close(state, out, CLOSE_GOING_AWAY, "draining");
      return out;
    case "connection_closed":
      close(state, out, null, "closed by peer");
      return out;
    default:
      return unreachable(input);
  }
}

// ---- frames from the client -------------------------------------------------------------

function onFrame(state: GatewayState, out: Out, frame: ClientFrame, now_ms: number): void {
  const { config } = state;
  switch (frame.event) {
    case "send_message": {
      const d = frame.data;
      if (d.to === config.user_id) {
        sendError(out, apiError("SELF_MESSAGE", "data.to is your own user ID; send to another user.", "data.to"), d.client_msg_id);
        return;
      }
      if (!mediaContentOk(d.type, d.content)) {
        sendError(out, mediaError(), d.client_msg_id);
        return;
      }
      send(state, out, now_ms, directConversationId(config.user_id, d.to), { kind: "direct", to: d.to }, d);
      return;
    }
    case "send_group_message": {
      const d = frame.data;
      if (!mediaContentOk(d.type, d.content)) {
        sendError(out, mediaError(), d.client_msg_id);
        return;
      }
      send(state, out, now_ms, groupConversationId(d.group_id), { kind: "group", group_id: d.group_id }, d);
      return;
    }
    case "ack": {
      const d = frame.data;
      if (state.unacked.delete(d.message_id) && state.deferred_reads.length > 0 && state.unacked.size <= state.config.limits.replayUnackedMax / 2) {
        resumeReads(state, out);
      }
      const conversation_id = d.conversation_id ?? state.delivered.get(d.message_id);
      if (conversation_id === undefined) {
        sendError(
          out,
          apiError("UNKNOWN_MESSAGE", `Message ${d.message_id} was not delivered on this connection; include data.conversation_id.`, "data.message_id"),
        );
        return;
      }
      const durable = state.acks_durable.get(d.message_id);
      if (durable === "read" || durable === d.status) return; // Already in the log.
      out.push({
        type: "append_to_log",
        record: {
          kind: "ack",
          conversation_id,
          message_id: d.message_id,
          user_id: config.user_id,
          device_id: config.device_id,
          status: d.status,
        },
      });
      return;
    }
    case "typing": {
      const d = frame.data;
      if (d.to !== undefined) {
        if (d.to !== config.user_id && typingAllowed(state, directConversationId(config.user_id, d.to), now_ms)) {
          out.push({ type: "relay_typing", target: { kind: "direct", to: d.to } });
        }
      } else if (d.group_id !== undefined) {
        if (typingAllowed(state, groupConversationId(d.group_id), now_ms)) out.push({ type: "relay_typing", target: { kind: "group", group_id: d.group_id } });
      }
      return;
    }
    case "heartbeat":
      out.push({ type: "presence_heartbeat" }, { type: "register_session" });
      maybeResync(state, out, now_ms);
      return;
    case "subscribe_presence": {
      const fresh = frame.data.user_ids.filter((u) => !state.subscriptions.has(u));
      const unique = [...new Set(fresh)];
      if (state.subscriptions.size + unique.length > config.limits.presenceSubscriptionsPerConnectionMax) {
        sendError(
          out,
          apiError(
            "TOO_MANY_SUBSCRIPTIONS",
            `A connection may watch at most ${config.limits.presenceSubscriptionsPerConnectionMax} users; unsubscribe some first.`,
            "data.user_ids",
          ),
        );
        return;
      }
      // Even users already watched get their current status again: the API promises an answer.
      for (const u of new Set(frame.data.user_ids)) state.subscriptions.set(u, null);
      out.push({ type: "presence_subscribe", user_ids: [...new Set(frame.data.user_ids)] });
      return;
    }
    case "unsubscribe_presence": {
      const gone = [...new Set(frame.data.user_ids)].filter((u) => state.subscriptions.delete(u));
      if (gone.length > 0) out.push({ type: "presence_unsubscribe", user_ids: gone });
      return;
    }
    default:
      unreachable(frame);
  }
}

/**
 * Typing throttle: once per typingIntervalMs per (connection, conversation). A frame inside
 * the interval is dropped without an error (clients send one per keystroke; it is not abuse).
 * A clock that stepped back (now before the last forward) allows it, so a step never
 * silences typing for longer than the interval.
 */
function typingAllowed(state: GatewayState, conversation_id: string, now_ms: number): boolean {
  const last = state.typing_forwarded.get(conversation_id);
  if (last !== undefined && now_ms >= last && now_ms - last < state.config.limits.typingIntervalMs) return false;
  state.typing_forwarded.delete(conversation_id);
  state.typing_forwarded.set(conversation_id, now_ms);
  if (state.typing_forwarded.size > state.config.limits.typingConversationsPerConnectionMax) {
    const oldest = state.typing_forwarded.keys().next();
    if (!oldest.done) state.typing_forwarded.delete(oldest.value);
  }
  return true;
}

function send(
  state: GatewayState,
  out: Out,
  now_ms: number,
  conversation_id: string,
  target: { kind: "direct"; to: string } | { kind: "group"; group_id: string },
  d: { content: string; type: "text" | "image" | "file"; client_msg_id: string },
): void {
  const existing = state.sends.get(d.client_msg_id);
  if (existing !== undefined && (existing.phase === "appending" || existing.phase === "checking")) {
    return; // The first append's (or media check's) outcome answers this retry too.
  }
  if (existing !== undefined && existing.phase === "appended" && now_ms - existing.since_ms < state.config.limits.gatewayReappendAfterMs) {
    // Already durable and awaiting its number: appending again would only feed a backlog
    // that is why the client timed out in the first place (a retry storm). The router's
    // `sent` will come; only after a long silence (a lost `sent`) is it appended again.
    return;
  }
  if (existing === undefined && state.sends.size >= state.config.limits.sendsInFlightPerConnectionMax) {
    sendError(out, apiError("RATE_LIMITED", "Too many sends awaiting their receipt; wait for `sent` receipts and retry."), d.client_msg_id);
    return;
  }
  if (d.type !== "text" && existing === undefined) {
    // Media must be an upload of the sender's (docs/API.md): the host checks, then appends.
    // A send already appended once (a late retry) passed its check then.
    state.sends.set(d.client_msg_id, { client_msg_id: d.client_msg_id, phase: "checking", since_ms: now_ms, held: { conversation_id, target, content: d.content, type: d.type } });
    out.push({ type: "check_media", client_msg_id: d.client_msg_id, media_id: d.content });
    return;
  }
  appendSend(state, out, now_ms, d.client_msg_id, { conversation_id, target, content: d.content, type: d.type });
}

function onMediaChecked(state: GatewayState, out: Out, client_msg_id: string, outcome: "owned" | "unknown" | "failed", now_ms: number): void {
  const entry = state.sends.get(client_msg_id);
  if (entry === undefined || entry.phase !== "checking" || entry.held === undefined) return;
  const held = entry.held;
  if (outcome === "owned") {
    appendSend(state, out, now_ms, client_msg_id, held);
    return;
  }
  state.sends.delete(client_msg_id);
  if (outcome === "unknown") {
    sendError(out, apiError("UNKNOWN_MEDIA", `data.content names no media you uploaded: ${held.content}; upload it with POST /api/v1/media first.`, "data.content"), client_msg_id);
    return;
  }
  sendError(out, apiError("STORE_UNAVAILABLE", "The media could not be checked just now; retry with the same client_msg_id."), client_msg_id);
}

function appendSend(state: GatewayState, out: Out, now_ms: number, client_msg_id: string, held: HeldSend): void {
  const { conversation_id, target } = held;
  const d = { client_msg_id, content: held.content, type: held.type };
  state.sends.set(d.client_msg_id, { client_msg_id: d.client_msg_id, phase: "appending", since_ms: now_ms });
  if (state.config.variant === "sent_before_append") {
    // Broken on purpose: `sent` before the log has the message, with an ID of our own.
    const fake = snowflakeNext(state.fake_ids, now_ms);
    state.fake_ids = fake.state;
    out.push({
      type: "send_frame",
      frame: { event: "delivery_receipt", data: { message_id: fake.id, conversation_id, status: "sent", client_msg_id: d.client_msg_id } },
    });
  }
  out.push({
    type: "append_to_log",
    record: {
      kind: "send",
      conversation_id,
      sender_id: state.config.user_id,
      sender_device_id: state.config.device_id,
      origin: { gateway_id: state.config.gateway_id, connection_id: state.config.connection_id },
      target,
      content: d.content,
      type: d.type,
      client_msg_id: d.client_msg_id,
      accepted_at_ms: now_ms,
    },
  });
}

function onAppendCompleted(state: GatewayState, out: Out, record: SendRecord | AckRecord, ok: boolean, now_ms: number, overloaded: boolean): void {
  if (record.kind === "ack") {
    // A lost ack would leave the entry pending while the client believes it acked: retry it
    // here with backoff; the client is not involved.
    if (ok) {
      state.ack_retries.delete(record.message_id);
      if (state.acks_durable.get(record.message_id) !== "read") {
        state.acks_durable.delete(record.message_id);
        state.acks_durable.set(record.message_id, record.status);
        if (state.acks_durable.size > state.config.limits.deliveredIndexPerConnectionMax) {
          const oldest = state.acks_durable.keys().next();
          if (!oldest.done) state.acks_durable.delete(oldest.value);
        }
      }
      return;
    }
    const previous = state.ack_retries.get(record.message_id);
    const attempts = (previous?.attempts ?? 0) + 1;
    // Past the budget (limits.ackAppendAttemptsMax) the resync (anti-entropy) covers it.
    if (attempts > state.config.limits.ackAppendAttemptsMax || (previous === undefined && state.ack_retries.size >= state.config.limits.deliveredIndexPerConnectionMax)) {
      state.ack_retries.delete(record.message_id);
      return;
    }
    const at_ms = now_ms + Math.min(state.config.limits.ackAppendRetryMaxMs, state.config.limits.ackAppendRetryBaseMs * 2 ** attempts);
    state.ack_retries.set(record.message_id, { record, attempts, at_ms });
    out.push({ type: "set_timer", at_ms });
    return;
  }
  const entry = state.sends.get(record.client_msg_id);
  if (entry === undefined) return;
  if (ok) {
    entry.phase = "appended";
    return;
  }
  state.sends.delete(record.client_msg_id);
  if (overloaded) {
    out.push({ type: "send_frame", frame: overloadedSendFrame(record.client_msg_id) });
    return;
  }
  sendError(out, apiError("LOG_UNAVAILABLE", "The message could not be stored; retry with the same client_msg_id."), record.client_msg_id);
}

/**
 * The answer to a send refused because the node is at capacity. Hosts that refuse sends
 * before decoding them (nodes/hosts/gateway-host.ts, under overload) answer this same frame.
 */
export function overloadedSendFrame(client_msg_id: string): ServerFrame & { event: "error" } {
  return {
    event: "error",
    data: { code: "OVERLOADED", message: "The server is at capacity; retry shortly with the same client_msg_id.", retryable: isRetryable("OVERLOADED"), client_msg_id },
  };
}

const MEDIA_ID = /^[A-Za-z0-9_-]{1,80}$/;
function mediaContentOk(type: "text" | "image" | "file", content: string): boolean {
  return type === "text" || MEDIA_ID.test(content);
}
function mediaError(): ApiError {
  return apiError("INVALID_FIELD", "data.content must be a media_id from POST /api/v1/media for image and file messages.", "data.content");
}

// ---- deliveries from routers ------------------------------------------------------------

function onDelivery(state: GatewayState, out: Out, delivery: import("../model.js").Delivery): void {
  if (delivery.connection_id !== state.config.connection_id) return;
  switch (delivery.kind) {
    case "message":
      if (state.phase === "opening") return; // Not registered yet: the scan will find it.
      offer(state, out, delivery);
      return;
    case "receipt": {
      const r = delivery.receipt;
      if (r.status === "sent") {
        if (r.client_msg_id !== undefined) state.sends.delete(r.client_msg_id);
        // Our own message needs no delivery here, but it continues the conversation's stream,
        // which spares the next live message a pending read. Receipts are forwarded at once:
        // the order promise is about new_message frames; the client places its own message
        // by its ID.
        const stream = streamOf(state, r.conversation_id);
        if (stream !== null && stream.reading_id === null && stream.last_emitted === delivery.prev_message_id) {
          stream.last_emitted = r.message_id;
        }
      } else if (r.user_id !== undefined) {
        // Per recipient, a connection is only ever told a status that moves forward (routers
        // may deliver a late `delivered` after `read`; API rule 6).
        const key = `${r.message_id}/${r.user_id}`;
        const before = state.receipts_forwarded.get(key);
        if (before !== undefined && receiptRank(before) >= receiptRank(r.status)) return;
        state.receipts_forwarded.delete(key);
        state.receipts_forwarded.set(key, r.status);
        if (state.receipts_forwarded.size > state.config.limits.deliveredIndexPerConnectionMax) {
          const oldest = state.receipts_forwarded.keys().next();
          if (!oldest.done) state.receipts_forwarded.delete(oldest.value);
        }
      }
      out.push({ type: "send_frame", frame: { event: "delivery_receipt", data: r } });
      return;
    }
    case "error": {
      state.sends.delete(delivery.client_msg_id);
      out.push({
        type: "send_frame",
        frame: {
          event: "error",
          data: { code: delivery.code, message: delivery.message, client_msg_id: delivery.client_msg_id, retryable: delivery.retryable },
        },
      });
      return;
    }
    case "typing": {
      const data = delivery.group_id === null
        ? { from: delivery.from, conversation_id: delivery.conversation_id }
        : { from: delivery.from, conversation_id: delivery.conversation_id, group_id: delivery.group_id };
      out.push({ type: "send_frame", frame: { event: "typing", data } });
      return;
    }
    case "presence": {
      // Only watched users, and only changes: the host also re-reads watched users now and
      // then (pub/sub can lose a transition), and those re-reads are mostly no news.
      if (!state.subscriptions.has(delivery.user_id)) return;
      if (state.subscriptions.get(delivery.user_id) === delivery.status) return;
      state.subscriptions.set(delivery.user_id, delivery.status);
      const data = delivery.last_seen_ms === null
        ? { user_id: delivery.user_id, status: delivery.status }
        : { user_id: delivery.user_id, status: delivery.status, last_seen: isoFromMs(delivery.last_seen_ms) };
      out.push({ type: "send_frame", frame: { event: "presence_update", data } });
      return;
    }
    default:
      unreachable(delivery);
  }
}

/**
 * The conversation's stream, made if missing. At conversationStreamsPerConnectionMax the
 * oldest idle stream (no read in flight, nothing held) is forgotten to make room: forgetting
 * only loses `last_emitted`, so the conversation's next live message starts a pending read,
 * which emits what is still pending (maybe again: clients drop repeats by message_id). Null
 * when every stream has a read in flight: the caller leaves the message pending, and a later
 * read or resync brings it (overload costs latency, never a message).
 */
function streamOf(state: GatewayState, conversation_id: string): ConversationStream | null {
  let stream = state.streams.get(conversation_id);
  if (stream !== undefined) return stream;
  if (state.streams.size >= state.config.limits.conversationStreamsPerConnectionMax && !forgetIdleStream(state)) return null;
  stream = { last_emitted: null, reading_id: null, held: [] };
  state.streams.set(conversation_id, stream);
  return stream;
}

function forgetIdleStream(state: GatewayState): boolean {
  for (const [conversation_id, s] of state.streams) {
    if (s.reading_id === null && s.held.length === 0) {
      state.streams.delete(conversation_id);
      return true;
    }
  }
  return false;
}

/** A live message: emit it if contiguous, else read the conversation's pending entries first. */
function offer(state: GatewayState, out: Out, delivery: MessageDelivery): void {
  const id = delivery.message.message_id;
  const stream = streamOf(state, delivery.message.conversation_id);
  if (stream === null) return; // Stays pending (see streamOf).
  if (stream.reading_id !== null) {
    if (stream.held.length < state.config.limits.liveBufferPerConnectionMax) stream.held.push({ delivery, covered: false });
    // Past the bound the delivery is dropped here; it stays pending and the next read or
    // resync of this conversation emits it, so overload costs latency, never a message.
    return;
  }
  if (stream.last_emitted !== null && id <= stream.last_emitted) return; // Already emitted here.
  if (stream.last_emitted === delivery.prev_message_id) {
    emit(state, out, stream, delivery.message);
    return;
  }
  startConversationRead(state, out, delivery.message.conversation_id, stream);
  stream.held.push({ delivery, covered: true });
}

/** `paced_at_ms`: a further page of a read (wait for acks if many are missing), not a first read. */
function startConversationRead(state: GatewayState, out: Out, conversation_id: string, stream: ConversationStream, paced_at_ms: number | null = null): void {
  const read_id = state.next_read_id++;
  stream.reading_id = read_id;
  for (const h of stream.held) h.covered = true;
  const read = {
    type: "read_pending_conversation" as const,
    read_id,
    conversation_id,
    after_message_id: stream.last_emitted,
    limit: state.config.limits.pendingPageEntriesMax,
  };
  if (paced_at_ms === null) out.push(read);
  else readWhenAcked(state, out, read, paced_at_ms);
}

// ---- replay pacing ----------------------------------------------------------------------

/** Issues `read` now, or holds it until acks come (rule 5); a timer bounds the wait. */
function readWhenAcked(state: GatewayState, out: Out, read: DeferredRead, now_ms: number): void {
  if (state.unacked.size < state.config.limits.replayUnackedMax) {
    out.push(read);
    return;
  }
  state.deferred_reads.push(read);
  if (state.deferred_since_ms === null) {
    state.deferred_since_ms = now_ms;
    out.push({ type: "set_timer", at_ms: now_ms + state.config.limits.replayAckWaitMs });
  }
}

function resumeReads(state: GatewayState, out: Out): void {
  for (const read of state.deferred_reads.splice(0)) out.push(read);
  state.deferred_since_ms = null;
}

function onConversationRead(
  state: GatewayState,
  out: Out,
  read_id: number,
  conversation_id: string,
  entries: readonly PendingEntry[] | null,
  now_ms: number,
): void {
  const stream = state.streams.get(conversation_id);
  if (stream === undefined || stream.reading_id !== read_id) return;
  if (entries === null) {
    // The read failed: read again (the host paces retries); held deliveries wait.
    startConversationRead(state, out, conversation_id, stream);
    return;
  }
  for (const e of entries) emitIfNew(state, out, stream, e);
  if (entries.length >= state.config.limits.pendingPageEntriesMax) {
    startConversationRead(state, out, conversation_id, stream, now_ms); // More pages, paced by acks.
    return;
  }
  stream.reading_id = null;
  // Every delivery that arrived before this read began was either in it, or had already been
  // acked by this device: either way nothing at or below it remains to emit.
  const held = stream.held;
  stream.held = [];
  for (const h of held) {
    if (!h.covered) continue;
    const id = h.delivery.message.message_id;
    if (stream.last_emitted === null || id > stream.last_emitted) stream.last_emitted = id;
  }
  for (const h of held) if (!h.covered) offer(state, out, h.delivery);
}

// ---- the full pending scan: at connect, and now and then as anti-entropy ------------------

function startScan(state: GatewayState, out: Out, now_ms: number): void {
  const read_id = state.next_read_id++;
  state.scan = { read_id, after: null };
  state.last_scan_ms = now_ms;
  out.push({ type: "read_pending_page", read_id, after: null, limit: state.config.limits.pendingPageEntriesMax });
}

function onPageRead(state: GatewayState, out: Out, read_id: number, entries: readonly PendingEntry[] | null, now_ms: number): void {
  const scan = state.scan;
  if (scan === null || scan.read_id !== read_id) return;
  if (entries === null) {
    const retry = state.next_read_id++;
    state.scan = { read_id: retry, after: scan.after };
    out.push({ type: "read_pending_page", read_id: retry, after: scan.after, limit: state.config.limits.pendingPageEntriesMax });
    return;
  }
  // A page is a gap-free prefix of each conversation it touches (see PendingStore), so it is
  // emitted like a conversation read; a conversation with a read in flight takes it as held.
  // On a resync (not the first scan), an entry still pending that this connection already
  // emitted is sent again: its ack was lost somewhere, and at-least-once delivery means the
  // client sees it again (and drops it as a repeat, and acks it).
  const resync = state.phase === "live";
  for (const e of entries) {
    const stream = streamOf(state, e.message.conversation_id);
    if (stream === null) continue; // Stays pending for the next resync (see streamOf).
    if (stream.reading_id !== null) continue; // That read covers this entry.
    if (resync && stream.last_emitted !== null && e.message.message_id <= stream.last_emitted) {
      if (!state.acks_durable.has(e.message.message_id)) {
        out.push({ type: "send_frame", frame: { event: "new_message", data: toNewMessage(e.message, isoFromMs) } });
      }
      continue;
    }
    emitIfNew(state, out, stream, e);
  }
  const last = entries[entries.length - 1];
  if (entries.length >= state.config.limits.pendingPageEntriesMax && last !== undefined) {
    const next = state.next_read_id++;
    const after = { conversation_id: last.message.conversation_id, message_id: last.message.message_id };
    state.scan = { read_id: next, after };
    readWhenAcked(state, out, { type: "read_pending_page", read_id: next, after, limit: state.config.limits.pendingPageEntriesMax }, now_ms);
    return;
  }
  state.scan = null;
  state.last_scan_ms = now_ms;
  if (state.phase === "syncing") state.phase = "live";
}

function maybeResync(state: GatewayState, out: Out, now_ms: number): void {
  if (state.phase !== "live" || state.scan !== null) return;
  if (now_ms - state.last_scan_ms < state.config.limits.pendingResyncIntervalMs) return;
  startScan(state, out, now_ms);
}

// ---- emitting ---------------------------------------------------------------------------

function emitIfNew(state: GatewayState, out: Out, stream: ConversationStream, entry: PendingEntry): void {
  if (stream.last_emitted !== null && entry.message.message_id <= stream.last_emitted) return;
  emit(state, out, stream, entry.message);
}

function emit(
  state: GatewayState,
  out: Out,
  stream: ConversationStream,
  message: import("../model.js").StoredMessage | import("../protocol/frames.js").NewMessageData,
): void {
  const data = "sender_id" in message ? toNewMessage(message, isoFromMs) : message;
  stream.last_emitted = data.message_id;
  remember(state, data.message_id, data.conversation_id);
  state.unacked.add(data.message_id);
  if (state.unacked.size > state.config.limits.deliveredIndexPerConnectionMax) {
    const oldest = state.unacked.values().next();
    if (!oldest.done) state.unacked.delete(oldest.value);
  }
  out.push({ type: "send_frame", frame: { event: "new_message", data } });
}

function remember(state: GatewayState, message_id: string, conversation_id: string): void {
  state.delivered.delete(message_id);
  state.delivered.set(message_id, conversation_id);
  if (state.delivered.size > state.config.limits.deliveredIndexPerConnectionMax) {
    const oldest = state.delivered.keys().next();
    if (!oldest.done) state.delivered.delete(oldest.value);
  }
}

// ---- timers, limits, errors, closing ----------------------------------------------------

function onTimer(state: GatewayState, out: Out, now_ms: number): void {
  if (state.deferred_since_ms !== null && now_ms - state.deferred_since_ms >= state.config.limits.replayAckWaitMs) {
    // The client is not acking (or its acks are lost): go on, at one page per wait.
    resumeReads(state, out);
  }
  for (const retry of state.ack_retries.values()) {
    if (retry.at_ms <= now_ms) {
      retry.at_ms = Number.POSITIVE_INFINITY; // in flight; its outcome reschedules it
      out.push({ type: "append_to_log", record: retry.record });
    }
  }
  for (const [id, s] of state.sends) {
    if (now_ms - s.since_ms >= state.config.limits.gatewaySendForgetMs) state.sends.delete(id);
  }
  // The session lives while the connection does, whether or not the client heartbeats: a
  // session store that lost its keys (a Redis restart) is repaired within one interval, and
  // routers find this connection again (a real-cluster chaos run found messages waiting for
  // the next resync after a Redis restart, from clients that did not heartbeat).
  if (state.phase === "live") out.push({ type: "register_session" });
  maybeResync(state, out, now_ms);
  out.push({ type: "set_timer", at_ms: now_ms + state.config.limits.heartbeatIntervalMs });
}

/**
 * The frame limit (API.md: a burst of 500 and 50 frames/s; acks are free), judged as the
 * client sent, not as this gateway happens to read. A token bucket `connectionFramesBurst`
 * deep, refilled at `connectionFramesPerSecond`; `tokens` is its content as of `tokens_at_ms`.
 *
 * Why not refill up to `now_ms`, the moment the frame is read (as it once did): the promise
 * runs on the client's clock. When the node is busy, a burst waits in the socket and is read
 * late, and the frames the client sent meanwhile, within its allowance by its own clock, are
 * read right behind it, into an empty bucket. The production cluster answered 706 retryable
 * RATE_LIMITED in one run to 20 clients keeping to 500 + 45/s (issue 14), whose bursts were
 * read up to seconds late while each resent what the node had refused as OVERLOADED.
 *
 * So: a frame read at `now_ms` arrived at the earliest `connectionFramesReadLagToleranceMs`
 * before, and not before the previous frame's horizon (a socket's frames are read in
 * order). The bucket is brought, capped, to that horizon, where the frame may have been
 * sent, and what it earns from there to `now_ms` counts without the cap. For an honest
 * client this is never less than its own bucket had when it sent the frame (the GCRA
 * argument: a schedule computed from times no later than the true arrivals is never ahead of
 * the true one, and the check is made at a time no earlier), so a client within the contract
 * is refused only if the node read its frames more than the tolerance late. A flooder gains
 * rate x tolerance at most over the contract, never before its connection opened (a fresh
 * connection's horizon is its opening: 500 at once, as before), and 50/s sustained.
 */
/** How many frames takeFrameToken would take at `now_ms`, without taking any (for simulated faults). */
export function frameAllowance(state: GatewayState, now_ms: number): number {
  const probe = { config: state.config, tokens: state.tokens, tokens_at_ms: state.tokens_at_ms, tokens_read_ms: state.tokens_read_ms };
  if (!takeFrameToken(probe, now_ms)) return 0;
  // After one, k more fit while what is left (with the wait's refill) stays at least k.
  return 1 + Math.floor(probe.tokens + ((now_ms - probe.tokens_at_ms) * state.config.limits.connectionFramesPerSecond) / 1000);
}

export function takeFrameToken(state: Pick<GatewayState, "config" | "tokens" | "tokens_at_ms" | "tokens_read_ms">, now_ms: number): boolean {
  const { connectionFramesBurst: burst, connectionFramesPerSecond: rate, connectionFramesReadLagToleranceMs: tolerance } = state.config.limits;
  // A clock that stepped back did not turn the client's clock back: the bucket's anchor moves
  // with the step, so no time is lost (the simulator's clock_step froze the refill for the
  // length of the step, and refused an honest client meanwhile).
  if (now_ms < state.tokens_read_ms) state.tokens_at_ms -= state.tokens_read_ms - now_ms;
  state.tokens_read_ms = now_ms;
  const horizon = Math.max(state.tokens_at_ms, now_ms - tolerance);
  state.tokens = Math.min(burst, state.tokens + ((horizon - state.tokens_at_ms) * rate) / 1000);
  state.tokens_at_ms = horizon;
  // Below zero when frames were taken on what the wait earned: a debt the refill pays first.
  if (state.tokens + ((now_ms - horizon) * rate) / 1000 < 1) return false;
  state.tokens -= 1;
  return true;
}

function rejectFrame(state: GatewayState, out: Out, error: ApiError, client_msg_id: string | null): void {
  state.rejected_run += 1;
  sendError(out, error, client_msg_id ?? undefined);
  const run_max = error.code === "RATE_LIMITED" ? state.config.limits.rateLimitedFramesRunMax : state.config.limits.rejectedFramesRunMax;
  if (state.rejected_run >= run_max) {
    close(state, out, CLOSE_POLICY, error.code === "RATE_LIMITED" ? "rate limit exceeded" : "repeated invalid frames");
  }
}

function sendError(out: Out, error: ApiError, client_msg_id?: string): void {
  const data: ServerFrame & { event: "error" } = {
    event: "error",
    data: {
      code: error.code,
      message: error.message,
      retryable: isRetryable(error.code),
      ...(client_msg_id === undefined ? {} : { client_msg_id }),
    },
  };
  out.push({ type: "send_frame", frame: data });
}

function frameClientMsgId(frame: ClientFrame): string | null {
  if (frame.event === "send_message" || frame.event === "send_group_message") return frame.data.client_msg_id;
  return null;
}

/** `code` null: the peer already closed, so only clean up. */
function close(state: GatewayState, out: Out, code: number | null, reason: string): void {
  if (state.phase === "closed") return;
  state.phase = "closed";
  if (code !== null) out.push({ type: "close_connection", code, reason });
  out.push({ type: "unregister_session" }, { type: "presence_disconnect" });
  if (state.subscriptions.size > 0) {
    out.push({ type: "presence_unsubscribe", user_ids: [...state.subscriptions.keys()] });
    state.subscriptions.clear();
  }
}

/**
 * The gateway host: one per gateway process. It owns the connections' gateway cores, turns
 * socket text into decoded frames, carries out the cores' effects against the ports, and
 * receives the routers' deliveries (it is the receiving end of GatewayLink). Presence
 * subscriptions are shared per gateway: one port subscription per watched user, fanned out
 * to the connections that watch it (subscribe-on-view, never broadcast).
 */
import type { Limits } from "../../core/limits.js";
import type { Delivery } from "../../core/model.js";
import { directConversationId, groupConversationId } from "../../core/ids/conversation.js";
import type { MediaOwnership } from "../../core/ports/blob-store.js";
import type { Clock } from "../../core/ports/clock.js";
import type { Directory } from "../../core/ports/directory.js";
import type { GatewayLink } from "../../core/ports/gateway-link.js";
import type { Log } from "../../core/ports/log.js";
import type { PendingStore } from "../../core/ports/pending-store.js";
import type { Presence, PresenceChange } from "../../core/ports/presence.js";
import type { SessionStore } from "../../core/ports/session-store.js";
import { decodeClientFrame, encodeFrame } from "../../core/protocol/decode.js";
import { gatewayInit, gatewayStepFor, overloadedSendFrame, type GatewayEffect, type GatewayInput, type GatewayState } from "../../core/gateway/index.js";
import { all, chain, fromPromise, map, ofValue, within, type Task } from "./task.js";
import type { Timers } from "./timers.js";

export type GatewayPorts = {
  readonly log: Log;
  readonly pending: PendingStore;
  readonly sessions: SessionStore;
  readonly presence: Presence;
  readonly directory: Directory;
  readonly link: GatewayLink;
  /** Checks the content of image and file sends (UNKNOWN_MEDIA). */
  readonly media: MediaOwnership;
  readonly clock: Clock;
  readonly timers: Timers;
};

export type GatewayHostConfig = {
  readonly gateway_id: string;
  /** Never "sent_before_append" outside the simulator's own tests. */
  readonly variant?: import("../../core/gateway/index.js").GatewayVariant;
  readonly limits: Limits;
  readonly call_timeout_ms: number;
  /** Sessions live this long after the last heartbeat (a crashed gateway's entries lapse). */
  readonly session_ttl_ms: number;
  /**
   * Admission by the real backlog: while `overloaded()` answers true (the node's measure of
   * the work waiting in front of its routers), new sends are refused with a retryable
   * OVERLOADED before anything is appended. Acks are always admitted: they drain the backlog.
   */
  readonly admission?: { readonly overloaded: () => boolean };
};

/** The socket as a host sees it. */
export interface ConnectionSink {
  send(text: string): void;
  close(code: number, reason: string): void;
}

export type Identity = { readonly user_id: string; readonly device_id: string; readonly connection_id: string };

export type GatewayHostEvents = {
  /** Every effect of every connection, for metrics and tests, with the connection's phase. */
  effect?(connection_id: string, effect: GatewayEffect, phase: GatewayState["phase"]): void;
  frame_in?(connection_id: string, text: string): void;
  /** The log answered an append (metrics: how long the gateway waited for the log). */
  appended?(record: import("../../core/model.js").LogRecord, ok: boolean): void;
};

type Watched = { connections: Set<string>; stop: (() => void) | null; ready: boolean; waiting: (() => void)[] };

/** Watched users re-read per refresh; beyond this, pub/sub alone carries the rest. */
const PRESENCE_REFRESH_USERS_MAX = 10_000;

export class GatewayHost {
  private readonly connections = new Map<string, ConnectionHost>();
  /** Sends handed to the log and not yet answered, across connections (bounded: push back). */
  appends_in_flight = 0;
  /**
   * user_id -> connections watching it, and the port subscription behind them. `ready` once
   * the subscription is in place (or failed); `waiting` runs then.
   */
  private readonly watched = new Map<string, Watched>();
  private draining = false;

  constructor(
    readonly ports: GatewayPorts,
    readonly config: GatewayHostConfig,
    readonly events: GatewayHostEvents = {},
  ) {
    this.scheduleRefresh();
  }

  /**
   * Pub/sub may lose a presence transition (Redis does not queue for a subscriber that
   * blinked), so the watched users' status is re-read every heartbeat interval and fanned
   * out; each connection's core forwards only what changed.
   */
  private scheduleRefresh(): void {
    const { clock, timers, presence } = this.ports;
    timers.at(clock.now() + this.config.limits.heartbeatIntervalMs, () => {
      const users = [...this.watched.keys()].slice(0, PRESENCE_REFRESH_USERS_MAX);
      if (users.length > 0) {
        fromPromise(() => presence.status(users))(
          (statuses) => {
            for (const [user_id, s] of statuses) this.fanOutPresence({ user_id, status: s.status, last_seen_ms: s.last_seen_ms });
          },
          () => undefined,
        );
      }
      this.scheduleRefresh();
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** An authenticated socket opened. Answers null while draining (refuse the upgrade). */
  open(identity: Identity, sink: ConnectionSink): ConnectionHost | null {
    if (this.draining) return null;
    const connection = new ConnectionHost(this, identity, sink);
    this.connections.set(identity.connection_id, connection);
    connection.feed({ type: "connection_opened", now_ms: this.ports.clock.now() });
    return connection;
  }

  /** The receiving end of GatewayLink: deliveries from routers (or typing from peers). */
  receive(deliveries: readonly Delivery[]): void {
    const now_ms = this.ports.clock.now();
    for (const delivery of deliveries) {
      this.connections.get(delivery.connection_id)?.feed({ type: "delivery_received", delivery, now_ms });
    }
  }

  /** Graceful drain: every client is told to reconnect elsewhere; no new connections. */
  drain(): void {
    this.draining = true;
    const now_ms = this.ports.clock.now();
    for (const connection of [...this.connections.values()]) connection.feed({ type: "drain_requested", now_ms });
  }

  /** Called by a connection when it is finished. */
  forget(connection_id: string): void {
    this.connections.delete(connection_id);
  }

  /**
   * Watches `user_ids` for `connection_id`; `ready` runs once every one of them has its
   * port subscription in place. A status read must wait for that: read first, and a
   * transition published between the read and the subscription is lost (pub/sub does not
   * queue), leaving the watcher with a stale status until the next refresh. The cluster
   * test caught it: "offline" answered, bob's "online" published before alice's gateway had
   * subscribed, and alice saw nothing for 30 s.
   */
  watch(connection_id: string, user_ids: readonly string[], ready: () => void = () => undefined): void {
    const { presence } = this.ports;
    let outstanding = user_ids.length + 1;
    const one = (): void => {
      if (--outstanding === 0) ready();
    };
    for (const user_id of user_ids) {
      let entry = this.watched.get(user_id);
      if (entry === undefined) {
        const fresh: Watched = { connections: new Set(), stop: null, ready: false, waiting: [] };
        entry = fresh;
        this.watched.set(user_id, fresh);
        const settle = (): void => {
          fresh.ready = true;
          for (const run of fresh.waiting.splice(0)) run();
        };
        fromPromise(() => presence.subscribe(user_id, (change) => this.fanOutPresence(change)))(
          (stop) => {
            // Unwatched while subscribing: stop at once.
            if (this.watched.get(user_id) !== fresh) fromPromise(stop)(() => undefined, () => undefined);
            else fresh.stop = () => fromPromise(stop)(() => undefined, () => undefined);
            settle();
          },
          // A failed subscription still answers the status read; refreshes carry the rest.
          settle,
        );
      }
      entry.connections.add(connection_id);
      if (entry.ready) one();
      else entry.waiting.push(one);
    }
    one();
  }

  unwatch(connection_id: string, user_ids: readonly string[]): void {
    for (const user_id of user_ids) {
      const entry = this.watched.get(user_id);
      if (entry === undefined) continue;
      entry.connections.delete(connection_id);
      if (entry.connections.size === 0) {
        this.watched.delete(user_id);
        entry.stop?.();
      }
    }
  }

  private fanOutPresence(change: PresenceChange): void {
    const entry = this.watched.get(change.user_id);
    if (entry === undefined) return;
    this.receive(
      [...entry.connections].map((connection_id) => ({
        kind: "presence" as const,
        connection_id,
        user_id: change.user_id,
        status: change.status,
        last_seen_ms: change.last_seen_ms,
      })),
    );
  }
}

/** One connection: its core, its socket, and the effects between them. */
export class ConnectionHost {
  private readonly state: GatewayState;
  private readonly step: ReturnType<typeof gatewayStepFor>;

  constructor(
    private readonly gateway: GatewayHost,
    readonly identity: Identity,
    private readonly sink: ConnectionSink,
  ) {
    this.state = gatewayInit(
      {
        gateway_id: gateway.config.gateway_id,
        connection_id: identity.connection_id,
        user_id: identity.user_id,
        device_id: identity.device_id,
        limits: gateway.config.limits,
        variant: gateway.config.variant ?? "correct",
      },
      gateway.ports.clock.now(),
    );
    this.step = gatewayStepFor(gateway.config.variant);
  }

  get coreState(): GatewayState {
    return this.state;
  }

  /** A text frame from the socket. Bad input never throws: it becomes frame_rejected. */
  text(text: string): void {
    this.gateway.events.frame_in?.(this.identity.connection_id, text);
    const refused = this.gateway.config.admission?.overloaded() === true ? refusableSend(text) : null;
    if (refused !== null) {
      // Overloaded: answer a send at once, before validating it or running the core (the
      // same frame the core answers when an append is refused; no state changes). Refusing
      // must cost far less than accepting, or the excess eats the CPU the accepted need:
      // the side-by-side run at 2x the sustainable rate delivered 77% of the peak when
      // every refusal went through the full decode and the core.
      this.sink.send(encodeFrame(overloadedSendFrame(refused)));
      return;
    }
    const now_ms = this.gateway.ports.clock.now();
    const decoded = decodeClientFrame(text, this.gateway.config.limits.frameBytesMax);
    this.feed(decoded.ok ? { type: "frame_received", frame: decoded.value, now_ms } : { type: "frame_rejected", error: decoded.error, now_ms });
  }

  /** The socket closed from the other side (or broke). */
  closed(): void {
    this.feed({ type: "connection_closed", now_ms: this.gateway.ports.clock.now() });
  }

  feed(input: GatewayInput): void {
    const effects = this.step(this.state, input);
    for (const effect of effects) this.run(effect);
    if (this.state.phase === "closed") this.gateway.forget(this.identity.connection_id);
  }

  private run(effect: GatewayEffect): void {
    const { ports, config } = this.gateway;
    const { user_id, device_id, connection_id } = this.identity;
    this.gateway.events.effect?.(connection_id, effect, this.state.phase);
    // `now` and `deadline` are methods, not closures made here: this runs for every effect,
    // and closures made per call are garbage per message (and a pending timer's callback kept
    // that whole scope alive per connection: bench/results/density.md).
    switch (effect.type) {
      case "send_frame":
        this.sink.send(encodeFrame(effect.frame));
        return;
      case "append_to_log": {
        const record = effect.record;
        const gateway = this.gateway;
        if (
          record.kind === "send" &&
          (gateway.appends_in_flight >= config.limits.gatewayAppendsInFlightMax ||
            config.admission?.overloaded() === true)
        ) {
          // Overload: refuse new sends at once (retryable) rather than queue without bound.
          this.feed({ type: "append_completed", record, ok: false, overloaded: true, now_ms: this.now() });
          return;
        }
        gateway.appends_in_flight++;
        this.deadline(fromPromise(() => ports.log.append(record.conversation_id, record)))(
          () => {
            gateway.appends_in_flight--;
            gateway.events.appended?.(record, true);
            this.feed({ type: "append_completed", record, ok: true, now_ms: this.now() });
          },
          () => {
            gateway.appends_in_flight--;
            gateway.events.appended?.(record, false);
            this.feed({ type: "append_completed", record, ok: false, now_ms: this.now() });
          },
        );
        return;
      }
      case "check_media":
        this.deadline(fromPromise(() => ports.media.isUploadedBy(effect.media_id, user_id)))(
          (owned) => this.feed({ type: "media_checked", client_msg_id: effect.client_msg_id, outcome: owned ? "owned" : "unknown", now_ms: this.now() }),
          () => this.feed({ type: "media_checked", client_msg_id: effect.client_msg_id, outcome: "failed", now_ms: this.now() }),
        );
        return;
      case "register_session":
        this.deadline(fromPromise(() => ports.sessions.register({ user_id, device_id, gateway_id: config.gateway_id, connection_id }, config.session_ttl_ms)))(
          (missing) => this.feed({ type: "session_registered", ok: true, missing, now_ms: this.now() }),
          () => this.feed({ type: "session_registered", ok: false, now_ms: this.now() }),
        );
        return;
      case "unregister_session":
        fromPromise(() => ports.sessions.unregister(user_id, connection_id))(() => undefined, () => undefined);
        return;
      case "read_pending_page":
        this.deadline(fromPromise(() => ports.pending.list(user_id, device_id, effect.after, effect.limit)))(
          (entries) => this.feed({ type: "pending_page_read", read_id: effect.read_id, entries, now_ms: this.now() }),
          () => this.retryLater((n) => this.feed({ type: "pending_page_read", read_id: effect.read_id, entries: null, now_ms: n })),
        );
        return;
      case "read_pending_conversation":
        this.deadline(fromPromise(() => ports.pending.listConversation(user_id, device_id, effect.conversation_id, effect.after_message_id, effect.limit)))(
          (entries) =>
            this.feed({ type: "pending_conversation_read", read_id: effect.read_id, conversation_id: effect.conversation_id, entries, now_ms: this.now() }),
          () =>
            this.retryLater((n) =>
              this.feed({ type: "pending_conversation_read", read_id: effect.read_id, conversation_id: effect.conversation_id, entries: null, now_ms: n }),
            ),
        );
        return;
      case "presence_heartbeat":
        fromPromise(() => ports.presence.heartbeat(user_id, connection_id, config.limits.presenceTtlMs))(() => undefined, () => undefined);
        return;
      case "presence_disconnect":
        fromPromise(() => ports.presence.disconnect(user_id, connection_id))(() => undefined, () => undefined);
        return;
      case "presence_subscribe": {
        // Subscribe first, then read: see GatewayHost.watch.
        this.gateway.watch(connection_id, effect.user_ids, () =>
          fromPromise(() => ports.presence.status(effect.user_ids))(
            (statuses) =>
              this.gateway.receive(
                effect.user_ids.map((u) => {
                  const s = statuses.get(u) ?? { status: "offline" as const, last_seen_ms: null };
                  return { kind: "presence" as const, connection_id, user_id: u, status: s.status, last_seen_ms: s.last_seen_ms };
                }),
              ),
            () => undefined,
          ),
        );
        return;
      }
      case "presence_unsubscribe":
        this.gateway.unwatch(connection_id, effect.user_ids);
        return;
      case "relay_typing":
        this.relayTyping(effect.target);
        return;
      case "set_timer":
        this.armTimer(effect.at_ms);
        return;
      case "close_connection":
        this.sink.close(effect.code, effect.reason);
        return;
      default: {
        const never: never = effect;
        throw new Error(`gateway host: unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** In its own method so the pending callback holds only `this`, not `run`'s whole scope. */
  private armTimer(at_ms: number): void {
    this.gateway.ports.timers.at(at_ms, () => this.feed({ type: "timer_fired", now_ms: this.now() }));
  }

  private now(): number {
    return this.gateway.ports.clock.now();
  }

  private deadline<T>(task: Task<T>): Task<T> {
    return within(task, this.gateway.ports.timers, this.gateway.ports.clock, this.gateway.config.call_timeout_ms);
  }

  /** A failed read is answered as failed after a short pause, so a down store is not hammered. */
  private retryLater(feed: (now_ms: number) => void): void {
    const { ports } = this.gateway;
    ports.timers.at(ports.clock.now() + 200, () => feed(ports.clock.now()));
  }

  /**
   * Typing is ephemeral: checked for membership, relayed to live sessions, never stored. In a
   * group above typingGroupMembersMax members it goes nowhere (docs/API.md): the fan-out
   * would cost a delivery per member for an indicator nobody in a crowd can use.
   */
  private relayTyping(target: { kind: "direct"; to: string } | { kind: "group"; group_id: string }): void {
    const { ports, config } = this.gateway;
    const { user_id } = this.identity;
    const recipients =
      target.kind === "direct"
        ? ofValue<string[]>([target.to])
        : chain(fromPromise(() => ports.directory.isMember(target.group_id, user_id)), (member) =>
            member
              ? map(fromPromise(() => ports.directory.members(target.group_id)), (m) =>
                  m.length > config.limits.typingGroupMembersMax ? [] : m.filter((u) => u !== user_id),
                )
              : ofValue<string[]>([]),
          );
    const conversation_id = target.kind === "direct" ? directConversationId(user_id, target.to) : groupConversationId(target.group_id);
    const group_id = target.kind === "group" ? target.group_id : null;
    chain(recipients, (users) => (users.length === 0 ? ofValue(new Map()) : fromPromise(() => ports.sessions.lookup(users))))(
      (sessions) => {
        const byGateway = new Map<string, Delivery[]>();
        for (const entries of sessions.values()) {
          for (const s of entries) {
            const list = byGateway.get(s.gateway_id) ?? [];
            list.push({ kind: "typing", connection_id: s.connection_id, from: user_id, conversation_id, group_id });
            byGateway.set(s.gateway_id, list);
          }
        }
        all([...byGateway].map(([gateway_id, deliveries]) => fromPromise(() => ports.link.deliver(gateway_id, deliveries))))(
          () => undefined,
          () => undefined,
        );
      },
      () => undefined,
    );
  }
}

const CLIENT_MSG_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The client_msg_id of a send frame that may be refused without decoding it fully; null for
 * anything else (acks, other frames, malformed text), which takes the normal path.
 */
export function refusableSend(text: string): string | null {
  if (!text.includes('"send_message"') && !text.includes('"send_group_message"')) return null;
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof frame !== "object" || frame === null) return null;
  const { event, data } = frame as { event?: unknown; data?: unknown };
  if (event !== "send_message" && event !== "send_group_message") return null;
  const id = typeof data === "object" && data !== null ? (data as { client_msg_id?: unknown }).client_msg_id : undefined;
  return typeof id === "string" && CLIENT_MSG_ID.test(id) ? id : null;
}

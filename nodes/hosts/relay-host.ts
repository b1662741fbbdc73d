/**
 * The relay process's host (production; sim/regions.ts's RelaySim is the simulator's): it runs
 * core/region/relay.ts, one lane per other region, over this region's outbox, and applies the
 * batches other regions' relays send it.
 *
 * Draining a lane: read the head of the outbox lane, send the batch to the destination's relay
 * (bounded by a call timeout), trim through its last seq only once the destination answered
 * that it applied it, and retry a failed attempt with the core's capped backoff, forever.
 *
 * Receiving a batch: apply its operations to this region's pending store in order, one at a
 * time (puts are keyed and the store is a two-phase set, so a batch sent twice changes
 * nothing), answer, then hand the put entries to the gateways where the devices are connected,
 * best effort (a device that misses it finds the entry when it resyncs).
 */
import type { PendingEntry, SessionEntry } from "../../core/model.js";
import type { Clock } from "../../core/ports/clock.js";
import type { GatewayLink } from "../../core/ports/gateway-link.js";
import type { PendingStore } from "../../core/ports/pending-store.js";
import type { SessionStore } from "../../core/ports/session-store.js";
import {
  DEFAULT_RELAY_POLICY,
  relayDeliveries,
  relayLaneInit,
  relayStepFor,
  type OutboxItem,
  type RelayEffect,
  type RelayInput,
  type RelayLane,
  type RelayOp,
  type RelayPolicy,
  type RelayVariant,
} from "../../core/region/index.js";
import { fromPromise, within } from "./task.js";
import type { TimerHandle, Timers } from "./timers.js";

export type RelayOutbox = {
  head(dest: string, max: number): Promise<OutboxItem[]>;
  trim(dest: string, through: number): Promise<void>;
};

export type RelayPorts = {
  readonly outbox: RelayOutbox;
  /** Sends a lane's batch to `dest`'s relay; resolves once it answered that it applied it. */
  readonly send: (dest: string, ops: readonly RelayOp[]) => Promise<void>;
  readonly pending: PendingStore;
  readonly sessions: SessionStore;
  readonly link: GatewayLink;
  readonly clock: Clock;
  readonly timers: Timers;
};

export type RelayHostOptions = {
  readonly region: string;
  /** Every other region: one lane each. */
  readonly destinations: readonly string[];
  readonly policy?: RelayPolicy;
  readonly call_timeout_ms: number;
  readonly variant?: RelayVariant;
};

export type RelayEvents = {
  observed?(what: "relay_sent" | "relay_retried" | "relay_dropped", dest: string): void;
  /** A batch applied here, from `from`. */
  applied?(from: string, ops: number, puts: number): void;
  call_failed?(call: "read_head" | "send" | "trim" | "deliver", dest: string, reason: string): void;
};

export class RelayHost {
  private readonly lanes: RelayLane[];
  private readonly timers = new Map<RelayLane, TimerHandle>();
  private readonly step: ReturnType<typeof relayStepFor>;
  private readonly policy: RelayPolicy;
  private stopped = false;

  constructor(
    private readonly ports: RelayPorts,
    private readonly options: RelayHostOptions,
    private readonly events: RelayEvents = {},
  ) {
    this.lanes = options.destinations.filter((d) => d !== options.region).map((d) => relayLaneInit(d));
    this.step = relayStepFor(options.variant ?? "correct");
    this.policy = options.policy ?? DEFAULT_RELAY_POLICY;
  }

  start(): void {
    for (const lane of this.lanes) this.feed(lane, { type: "wake", now_ms: this.ports.clock.now() });
  }

  /** Stops draining: no new call starts; the current one's answer is ignored. Untrimmed items stay in the outbox. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /** Each lane's phase and failed attempts (for /healthz and tests). */
  lanesNow(): { to: string; phase: RelayLane["phase"]; attempt: number; batch: number }[] {
    return this.lanes.map((l) => ({ to: l.to, phase: l.phase, attempt: l.attempt, batch: l.batch?.length ?? 0 }));
  }

  /**
   * A batch from `from`'s relay: applied to the pending store in order; resolves once every
   * operation is durable here (then the sender may trim), and delivers the puts afterwards.
   */
  receive(from: string, ops: readonly RelayOp[]): Promise<void> {
    const puts: PendingEntry[] = [];
    let chain: Promise<void> = Promise.resolve();
    for (const op of ops) {
      if (op.kind === "put") {
        puts.push(...op.entries);
        chain = chain.then(() => this.ports.pending.put(op.entries));
      } else chain = chain.then(() => this.ports.pending.remove(op.user_id, op.device_id, op.conversation_id, op.message_id));
    }
    return chain.then(() => {
      this.events.applied?.(from, ops.length, puts.length);
      if (puts.length > 0) this.deliver(puts);
    });
  }

  private deliver(puts: readonly PendingEntry[]): void {
    const users = [...new Set(puts.map((e) => e.user_id))];
    this.ports.sessions.lookup(users).then(
      (sessions: Map<string, SessionEntry[]>) => {
        for (const [gateway_id, deliveries] of relayDeliveries(puts, sessions)) {
          this.ports.link.deliver(gateway_id, deliveries).then(
            () => undefined,
            (e: unknown) => this.events.call_failed?.("deliver", gateway_id, String(e)),
          );
        }
      },
      (e: unknown) => this.events.call_failed?.("deliver", "sessions", String(e)),
    );
  }

  private feed(lane: RelayLane, input: RelayInput): void {
    if (this.stopped) return;
    for (const effect of this.step(lane, input, this.policy)) this.run(lane, effect);
  }

  private run(lane: RelayLane, effect: RelayEffect): void {
    const now = (): number => this.ports.clock.now();
    switch (effect.type) {
      case "read_head":
        this.within("read_head", lane.to, this.ports.outbox.head(lane.to, effect.max), (items) => this.feed(lane, { type: "read", items, now_ms: now() }), () => this.feed(lane, { type: "read", items: null, now_ms: now() }));
        return;
      case "send":
        this.within("send", lane.to, this.ports.send(lane.to, effect.items.map((i) => i.op)), () => this.feed(lane, { type: "sent", ok: true, now_ms: now() }), () => this.feed(lane, { type: "sent", ok: false, now_ms: now() }));
        return;
      case "trim":
        this.within("trim", lane.to, this.ports.outbox.trim(lane.to, effect.through), () => this.feed(lane, { type: "trimmed", ok: true, now_ms: now() }), () => this.feed(lane, { type: "trimmed", ok: false, now_ms: now() }));
        return;
      case "set_timer":
        this.timers.get(lane)?.cancel();
        this.timers.set(lane, this.ports.timers.at(effect.at_ms, () => this.feed(lane, { type: "wake", now_ms: now() })));
        return;
      case "observed":
        this.events.observed?.(effect.what, lane.to);
        return;
      default: {
        const never: never = effect;
        throw new Error(`relay host: unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** Settles once: with the call's outcome, or as failed after the call timeout (task.ts `within`). */
  private within<R>(call: "read_head" | "send" | "trim", dest: string, p: Promise<R>, ok: (r: R) => void, fail: () => void): void {
    within(fromPromise(() => p), this.ports.timers, this.ports.clock, this.options.call_timeout_ms)(ok, (why) => {
      this.events.call_failed?.(call, dest, why === "timeout" ? "timed out" : why);
      fail();
    });
  }
}

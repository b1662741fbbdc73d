/**
 * Regions in the simulator (core/region explains the design): each region has gateways,
 * routers, a relay and a log of its own, plus its own session store, pending store and
 * outbox; a user's devices connect in their home region; a conversation is ordered by its
 * ordering region's log and routers, and reaches members homed elsewhere through the relay,
 * crossing the WAN once per batch.
 *
 * The regional ports here are thin routers over the plain simulated stores:
 * - a gateway's log appends each record to its conversation's ordering region (a forwarded
 *   send crosses the WAN; the gateway's and the client's retries cover a cut);
 * - a router's pending store writes local members' entries in place and appends remote
 *   members' puts and removals to its region's outbox, which the relay drains.
 *
 * Two stores are one object in the simulator, addressed per region: the message store (a
 * conversation's rows are only ever written by its ordering region) and the pending store
 * (a user's entries only ever by their home region: the gateways there, or the relay
 * arriving there). What makes them regional is the address: each call names the region it
 * goes to, so it pays the WAN to get there and fails while that region is lost or cut off.
 */
import type { LogPosition, LogRecord, PendingEntry } from "../core/model.js";
import { pendingPut, pendingRemove, type PendingState } from "../core/pending/index.js";
import type { Log, LogConsumer } from "../core/ports/log.js";
import type { PendingCursor, PendingStore } from "../core/ports/pending-store.js";
import {
  DEFAULT_RELAY_POLICY,
  orderingRegion,
  relayDeliveries,
  relayLaneInit,
  relayStepFor,
  type OutboxItem,
  type RegionMap,
  type RelayEffect,
  type RelayInput,
  type RelayLane,
  type RelayOp,
  type RelayVariant,
} from "../core/region/index.js";
import type { Kernel, SimNode } from "./kernel.js";
import { LogSim, type LogState } from "./log-sim.js";
import type { Rng } from "./random.js";
import { GatewayLinkSim, PendingStoreSim, SessionStoreSim, type SessionState } from "./stores-sim.js";
import { SyncPromise } from "./sync-promise.js";

/** How a seed's regions are laid out: how many, the WAN between them, who lives where. */
export type RegionLayout = {
  readonly count: number;
  /** One-way latency between two regions (tens of ms, drawn per seed). */
  readonly wan_ms: number;
};

/** Draws the seed's regions from a stream of their own: a single region half the time. */
export function drawRegions(rng: Rng, regions_max: number): RegionLayout {
  if (regions_max <= 1 || rng.chance(0.5)) return { count: 1, wan_ms: 0 };
  const count = 2 + rng.int(regions_max - 1);
  return { count, wan_ms: 20 + rng.int(60) };
}

/** Resolves when every promise has settled: with the first rejection, if any. */
function allSettled(promises: readonly SyncPromise<unknown>[]): SyncPromise<void> {
  const out = new SyncPromise<void>();
  let left = promises.length;
  let failure: unknown = null;
  if (left === 0) out.resolve(undefined);
  const done = (): void => {
    if (--left > 0) return;
    if (failure !== null) out.reject(failure);
    else out.resolve(undefined);
  };
  for (const p of promises) p.then(done, (e: unknown) => {
    failure ??= e ?? new Error("failed");
    done();
  });
  return out;
}

// ---- the outbox ---------------------------------------------------------------------------

/** A region's durable outbox: one FIFO lane per destination region. */
export class OutboxState {
  readonly lanes = new Map<number, OutboxItem[]>();
  private next_seq = 1;

  append(to: number, op: RelayOp): void {
    let lane = this.lanes.get(to);
    if (lane === undefined) this.lanes.set(to, (lane = []));
    lane.push({ seq: this.next_seq++, op });
  }

  head(to: number, max: number): OutboxItem[] {
    return (this.lanes.get(to) ?? []).slice(0, max);
  }

  trim(to: number, through: number): void {
    const lane = this.lanes.get(to);
    if (lane === undefined) return;
    let n = 0;
    while (n < lane.length && lane[n]!.seq <= through) n++;
    lane.splice(0, n);
  }

  get size(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.length;
    return n;
  }
}

// ---- regional ports -------------------------------------------------------------------------

/** A gateway's log: each record goes to its conversation's ordering region's log. */
export class RegionalLogSim implements Log {
  private readonly logs: LogSim[];

  constructor(
    kernel: Kernel,
    node: SimNode,
    states: readonly LogState[],
    private readonly orderOf: (conversation_id: string) => number,
  ) {
    this.logs = states.map((s, region) => new LogSim(kernel, node, s, () => 0, region));
  }

  get partition_count(): number {
    return this.logs[0]!.partition_count;
  }

  append(key: string, record: LogRecord): SyncPromise<LogPosition> {
    return this.logs[this.orderOf(record.conversation_id)]!.append(key, record);
  }

  consumer(): SyncPromise<LogConsumer> {
    return SyncPromise.rejected(new Error("a gateway does not consume the log"));
  }

  close(): SyncPromise<void> {
    return SyncPromise.resolved(undefined);
  }
}

/**
 * A router's pending store: entries for users homed in this region are written here;
 * entries (and removals) for users homed elsewhere go to this region's outbox, in the same
 * call, so the router's persist completes only when both are durable here, and never waits
 * on the WAN.
 */
export class RouterPendingSim implements PendingStore {
  private readonly local: PendingStoreSim;

  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    state: PendingState,
    private readonly region: number,
    private readonly outbox: OutboxState,
    private readonly homeOf: (user_id: string) => number,
    private readonly ring: () => void,
  ) {
    this.local = new PendingStoreSim(kernel, node, state, region);
  }

  put(entries: readonly PendingEntry[]): SyncPromise<void> {
    const here: PendingEntry[] = [];
    const away = new Map<number, PendingEntry[]>();
    for (const e of entries) {
      const home = this.homeOf(e.user_id);
      if (home === this.region) here.push(e);
      else {
        let list = away.get(home);
        if (list === undefined) away.set(home, (list = []));
        list.push(e);
      }
    }
    const writes: SyncPromise<unknown>[] = [];
    if (here.length > 0 || away.size === 0) writes.push(this.local.put(here));
    if (away.size > 0) writes.push(this.toOutbox(() => { for (const [to, list] of away) this.outbox.append(to, { kind: "put", entries: list }); }));
    return allSettled(writes);
  }

  remove(user_id: string, device_id: string, conversation_id: string, message_id: string): SyncPromise<void> {
    const home = this.homeOf(user_id);
    if (home === this.region) return this.local.remove(user_id, device_id, conversation_id, message_id);
    return this.toOutbox(() => this.outbox.append(home, { kind: "remove", user_id, device_id, conversation_id, message_id }));
  }

  list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): SyncPromise<PendingEntry[]> {
    return this.local.list(user_id, device_id, after, limit);
  }
  listConversation(user_id: string, device_id: string, conversation_id: string, after: string | null, limit: number): SyncPromise<PendingEntry[]> {
    return this.local.listConversation(user_id, device_id, conversation_id, after, limit);
  }
  count(user_id: string, device_id: string): SyncPromise<number> {
    return this.local.count(user_id, device_id);
  }
  removeDevice(user_id: string, device_id: string): SyncPromise<void> {
    return this.local.removeDevice(user_id, device_id);
  }
  close(): SyncPromise<void> {
    return SyncPromise.resolved(undefined);
  }

  private toOutbox(op: () => void): SyncPromise<void> {
    return this.kernel.call(
      this.node,
      "store",
      () => {
        op();
        // The outbox rings its region's relay (a notification beside the write), so an idle
        // relay need not poll often; it still polls, in case the ring is missed.
        this.ring();
      },
      "write",
      this.region,
    );
  }
}

// ---- the relay --------------------------------------------------------------------------------

export type RelayWorld = {
  readonly kernel: Kernel;
  readonly pending: PendingState;
  readonly outboxes: readonly OutboxState[];
  readonly call_timeout_ms: number;
  sessionsOf(region: number): SessionState;
  gatewayTarget(gateway_id: string): { node: SimNode; receive(d: readonly import("../core/model.js").Delivery[]): void } | null;
  relayOf(region: number): RelaySim | null;
  observed(what: RelayEffect & { type: "observed" }): void;
};

/**
 * One region's relay process: it drains its region's outbox towards every other region
 * (one lane each, run by the relay core) and receives the batches other regions' relays
 * send it (applies them to its pending store, then hands them to its gateways).
 */
/** The simulator's relays poll an idle lane this often; the outbox's ring wakes them sooner. */
const SIM_RELAY_POLICY = { ...DEFAULT_RELAY_POLICY, idle_poll_ms: 1_000 };

export class RelaySim {
  readonly lanes: RelayLane[];
  /** Each lane's one pending timer (a new one replaces it, so rings never multiply timers). */
  private readonly timers = new Map<RelayLane, { cancel(): void }>();
  private readonly step: ReturnType<typeof relayStepFor>;
  private readonly sessions: SessionStoreSim;
  private readonly link: GatewayLinkSim;

  constructor(
    readonly node: SimNode,
    private readonly world: RelayWorld,
    readonly region: number,
    count: number,
    variant: RelayVariant,
  ) {
    this.lanes = [];
    for (let to = 0; to < count; to++) if (to !== region) this.lanes.push(relayLaneInit(String(to)));
    this.step = relayStepFor(variant);
    this.sessions = new SessionStoreSim(world.kernel, node, world.sessionsOf(region), region);
    this.link = new GatewayLinkSim(world.kernel, node, (gid) => world.gatewayTarget(gid));
  }

  start(): void {
    for (const lane of this.lanes) this.feed(lane, { type: "wake", now_ms: this.node.now() });
  }

  /** The outbox has something new: wake the idle lanes now rather than at their next poll. */
  ring(): void {
    if (!this.node.alive) return;
    for (const lane of this.lanes) {
      if (lane.phase !== "idle") continue;
      this.timers.get(lane)?.cancel();
      this.feed(lane, { type: "wake", now_ms: this.node.now() });
    }
  }

  /** No batch in flight (an empty outbox polled now and then is idle). */
  get idle(): boolean {
    return this.lanes.every((l) => l.batch === null);
  }

  private feed(lane: RelayLane, input: RelayInput): void {
    for (const effect of this.step(lane, input, SIM_RELAY_POLICY)) this.run(lane, effect);
  }

  private run(lane: RelayLane, effect: RelayEffect): void {
    const k = this.world.kernel;
    const to = Number(lane.to);
    const outbox = this.world.outboxes[this.region]!;
    switch (effect.type) {
      case "read_head":
        this.within(k.call(this.node, "store", () => outbox.head(to, effect.max), "read", this.region), (items) => this.feed(lane, { type: "read", items, now_ms: this.node.now() }), () => this.feed(lane, { type: "read", items: null, now_ms: this.node.now() }));
        return;
      case "send":
        this.within(
          k.call(this.node, "relay", () => this.world.relayOf(to)?.receive(effect.items.map((i) => i.op)), "write", to),
          () => this.feed(lane, { type: "sent", ok: true, now_ms: this.node.now() }),
          () => this.feed(lane, { type: "sent", ok: false, now_ms: this.node.now() }),
        );
        return;
      case "trim":
        this.within(k.call(this.node, "store", () => outbox.trim(to, effect.through), "write", this.region), () => this.feed(lane, { type: "trimmed", ok: true, now_ms: this.node.now() }), () => this.feed(lane, { type: "trimmed", ok: false, now_ms: this.node.now() }));
        return;
      case "set_timer":
        this.timers.get(lane)?.cancel();
        this.timers.set(lane, this.node.timers.at(effect.at_ms, () => this.feed(lane, { type: "wake", now_ms: this.node.now() })));
        return;
      case "observed":
        this.world.observed(effect);
        return;
      default: {
        const never: never = effect;
        throw new Error(`relay host: unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * A batch arriving from another region, applied at this region's relay endpoint: into the
   * pending store (idempotent: keyed puts, a two-phase set), then delivered to the devices
   * connected here, best effort (a gateway's resync finds what a lost delivery missed).
   */
  receive(ops: readonly RelayOp[]): void {
    const puts: PendingEntry[] = [];
    for (const op of ops) {
      if (op.kind === "put") {
        pendingPut(this.world.pending, op.entries);
        puts.push(...op.entries);
      } else pendingRemove(this.world.pending, op.user_id, op.device_id, op.conversation_id, op.message_id);
    }
    if (puts.length === 0 || !this.node.alive) return;
    const users = [...new Set(puts.map((e) => e.user_id))];
    this.sessions.lookup(users).then(
      (sessions) => {
        for (const [gateway_id, deliveries] of relayDeliveries(puts, sessions)) this.link.deliver(gateway_id, deliveries).then(() => undefined, () => undefined);
      },
      () => undefined,
    );
  }

  /** Settles once: with the call's outcome, or as failed after the call timeout. */
  private within<R>(p: SyncPromise<R>, ok: (r: R) => void, fail: () => void): void {
    let settled = false;
    const timer = this.node.timers.at(this.node.now() + this.world.call_timeout_ms, () => {
      if (settled) return;
      settled = true;
      fail();
    });
    p.then(
      (r) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        ok(r);
      },
      () => {
        if (settled) return;
        settled = true;
        timer.cancel();
        fail();
      },
    );
  }
}

/** The seed's region map as core/region wants it, over the simulator's directory. */
export function regionMap(homes: ReadonlyMap<string, number>, creatorOf: (group_id: string) => string | null): RegionMap {
  return { homeOf: (u) => String(homes.get(u) ?? 0), creatorOf, fallback: "0" };
}

export function orderingRegionOf(map: RegionMap, conversation_id: string): number {
  return Number(orderingRegion(map, conversation_id));
}

/**
 * The simulated cluster: gateways and routers running the production hosts (nodes/hosts)
 * over simulated ports, devices running the client core, and the services they share. It
 * knows how to crash, pause, drain and restart nodes; the seed's schedule (schedule.ts)
 * decides when.
 */
import { defaultLimits, type Limits } from "../core/limits.js";
import { opaqueId } from "../core/ids/opaque.js";
import type { PendingState } from "../core/pending/index.js";
import { GatewayHost } from "../nodes/hosts/gateway-host.js";
import { SyncPromise } from "./sync-promise.js";
import { RouterHost } from "../nodes/hosts/router-host.js";
import { SimDevice, SimSocket, type DeviceWorld } from "./device.js";
import { FAULT_CLASSES, type RecoveryPath, type WorkloadClass } from "./faults.js";
import { Kernel, SIM_EPOCH_MS, SimNode } from "./kernel.js";
import { LogSim, LogState } from "./log-sim.js";
import type { SimOptions } from "./options.js";
import type { PushEvent } from "../invariants/history.js";
import type { Rng } from "./random.js";
import { OutboxState, RegionalLogSim, RelaySim, RouterPendingSim, orderingRegionOf, regionMap, type RegionLayout } from "./regions.js";
import type { RegionMap } from "../core/region/index.js";
import {
  DirectorySim,
  DirectoryState,
  GatewayLinkSim,
  MessageStoreSim,
  MessageStoreState,
  PendingStoreSim,
  PresenceService,
  PresenceSim,
  PushSim,
  SessionState,
  SessionStoreSim,
  pendingStateInit,
} from "./stores-sim.js";

export const ROUTER_GROUP = "routers";
/** A crashed router's member stays in the group this long (the consumer session timeout). */
export const ROUTER_SESSION_TIMEOUT_MS = 3_000;
/** How long a host waits on one port call before it counts it failed. */
export const CALL_TIMEOUT_MS = 1_000;

/** Limits shrunk so that heartbeats, resyncs and retries happen many times per run. */
export function simLimits(): Limits {
  return {
    ...defaultLimits(),
    heartbeatIntervalMs: 5_000,
    presenceTtlMs: 12_000,
    pendingResyncIntervalMs: 10_000,
    clientSendRetryMs: 2_000,
    clientSendRetryMaxMs: 8_000,
    clientReconnectBaseMs: 100,
    clientReconnectMaxMs: 4_000,
    gatewaySendForgetMs: 60_000,
    gatewayReappendAfterMs: 10_000,
    pendingPageEntriesMax: 16,
    // Small enough that a drawn backlog is paced by acks and a burst meets the bucket, and
    // that a long log outage outlasts an ack's retry budget (~3.5 s of backoff plus timeouts).
    replayUnackedMax: 32,
    replayAckWaitMs: 2_000,
    connectionFramesBurst: 24,
    connectionFramesPerSecond: 10,
    rateLimitedFramesRunMax: 12,
    ackAppendAttemptsMax: 3,
    ackAppendRetryBaseMs: 250,
    ackAppendRetryMaxMs: 4_000,
    // Small enough that a drawn watch list reaches it exactly (and one more is refused): the
    // base workload watches at most 3 users per connection, so it never meets the cap.
    presenceSubscriptionsPerConnectionMax: 4,
  };
}

type GatewaySlot = { readonly id: string; readonly node: SimNode; host: GatewayHost; sockets: Set<SimSocket>; draining: boolean };
type RouterSlot = { readonly index: number; readonly node: SimNode; host: RouterHost | null; incarnation: number; member_id: string };

export class World implements DeviceWorld {
  readonly limits = simLimits();
  readonly log: LogState;
  readonly messages = new MessageStoreState();
  readonly pending: PendingState = pendingStateInit();
  readonly sessions = new SessionState();
  /**
   * Regions (sim/regions.ts). With one region, every list below has one element (the fields
   * above), no port names a region, and the world runs exactly as it did before regions.
   */
  readonly logs: LogState[];
  readonly session_states: SessionState[];
  readonly outboxes: OutboxState[] = [];
  readonly relays: (RelaySim | null)[] = [];
  /** user -> home region (absent: region 0). */
  readonly homes = new Map<string, number>();
  readonly region_map: RegionMap;
  readonly directory = new DirectoryState();
  readonly presence: PresenceService;
  readonly gateways: GatewaySlot[] = [];
  readonly routers: RouterSlot[] = [];
  readonly devices: SimDevice[] = [];
  readonly users: { user_id: string; devices: SimDevice[] }[] = [];
  readonly groups: { group_id: string; members: string[]; readonly initial: readonly string[] }[] = [];
  readonly trace: string[] = [];
  /** media_id -> the user who uploaded it (the blob store's ownership record). */
  readonly media = new Map<string, string>();
  private readonly rng: Rng;

  constructor(
    readonly kernel: Kernel,
    readonly options: SimOptions,
    readonly layout: RegionLayout = { count: 1, wan_ms: 0 },
  ) {
    this.log = new LogState(options.partitions);
    this.presence = new PresenceService(kernel);
    this.rng = kernel.rngs.stream("world");
    this.logs = [this.log];
    this.session_states = [this.sessions];
    for (let r = 1; r < layout.count; r++) {
      this.logs.push(new LogState(options.partitions, r * options.partitions));
      this.session_states.push(new SessionState());
    }
    kernel.wan_ms = layout.wan_ms;
    this.region_map = regionMap(this.homes, (group_id) => this.directory.groups.get(group_id)?.group.creator_id ?? null);
  }

  get regional(): boolean {
    return this.layout.count > 1;
  }

  /** The region a port of `node` names in its calls: null in a single-region world. */
  private regionOf(node: SimNode): number | null {
    return this.regional ? node.region : null;
  }

  orderingRegion(conversation_id: string): number {
    return this.regional ? orderingRegionOf(this.region_map, conversation_id) : 0;
  }

  homeOf(user_id: string): number {
    return this.homes.get(user_id) ?? 0;
  }

  sessionsOf(region: number): SessionState {
    return this.session_states[region]!;
  }

  note(text: string): void {
    if (this.options.trace) this.trace.push(`${String(this.kernel.loop.now).padStart(8)} ms  ${text}`);
  }

  recovery(name: RecoveryPath): void {
    this.kernel.coverage.recovery(name);
  }

  workload(name: WorkloadClass): void {
    this.kernel.coverage.workload(name);
  }

  // ---- building ---------------------------------------------------------------------------

  build(): void {
    const R = this.layout.count;
    // Every region gets at least one gateway and one router; node i lives in region i mod R.
    for (let i = 0; i < Math.max(this.options.gateways, R); i++) {
      const node = new SimNode(`gw-${i}`, this.kernel);
      node.region = i % R;
      const slot: GatewaySlot = { id: `gw-${i}`, node, host: this.gatewayHost(`gw-${i}`, node), sockets: new Set(), draining: false };
      this.gateways.push(slot);
    }
    for (let r = 0; r < R && R > 1; r++) {
      this.outboxes.push(new OutboxState());
      const node = new SimNode(`relay-${r}`, this.kernel);
      node.region = r;
      this.relays.push(new RelaySim(node, this.relayWorld(), r, R, this.options.relay_variant));
    }
    for (let i = 0; i < Math.max(this.options.routers, R); i++) {
      const node = new SimNode(`rt-${i}`, this.kernel);
      node.region = i % R;
      const slot: RouterSlot = { index: i, node, host: null, incarnation: 0, member_id: "" };
      this.routers.push(slot);
      this.startRouter(slot);
    }
    const draw = (): number => this.rng.uint32();
    for (let u = 0; u < this.options.users; u++) {
      const user_id = `u${u}${opaqueId("", draw).slice(0, 4)}`;
      this.directory.users.set(user_id, { user_id, username: `user${u}`, password_hash: "-", created_at_ms: SIM_EPOCH_MS });
      const count = 1 + this.rng.int(this.options.devices_max);
      const devices: SimDevice[] = [];
      for (let d = 0; d < count; d++) {
        const device_id = `${user_id}-d${d}`;
        const node = new SimNode(`dev-${device_id}`, this.kernel);
        const device = new SimDevice(this.kernel, node, user_id, device_id, this.limits, this, this.kernel.rngs.stream(`device:${device_id}`));
        devices.push(device);
        this.devices.push(device);
      }
      this.directory.devices.set(user_id, devices.map((d) => d.device_id));
      this.directory.push.set(user_id, [{ platform: "webhook", token: `hook-${user_id}` }]);
      this.users.push({ user_id, devices });
    }
    // Home regions, from a stream of their own (a single-region seed draws nothing here).
    if (R > 1) {
      const homes = this.kernel.rngs.stream("regions:homes");
      for (const u of this.users) {
        const home = homes.int(R);
        this.homes.set(u.user_id, home);
        for (const d of u.devices) d.node.region = home;
      }
    }
    const size_max = Math.min(this.options.group_size_max, this.users.length, 500);
    for (let g = 0; g < this.options.groups && this.users.length >= 3; g++) {
      const group_id = `grp${g}`;
      const size = this.rng.between(3, Math.max(3, size_max));
      const members = new Set<string>();
      while (members.size < size) members.add(this.rng.pick(this.users).user_id);
      const list = [...members];
      this.directory.groups.set(group_id, { group: { group_id, name: `group ${g}`, creator_id: list[0]!, created_at_ms: SIM_EPOCH_MS }, members: list });
      this.groups.push({ group_id, members: list, initial: [...list] });
    }
    for (const relay of this.relays) relay?.start();
  }

  private relayWorld(): import("./regions.js").RelayWorld {
    return {
      kernel: this.kernel,
      pending: this.pending,
      outboxes: this.outboxes,
      call_timeout_ms: CALL_TIMEOUT_MS,
      sessionsOf: (r) => this.sessionsOf(r),
      gatewayTarget: (gid) => this.gatewayTarget(gid),
      relayOf: (r) => this.relays[r] ?? null,
      observed: (e) => {
        if (e.what === "relay_retried") this.recovery("region_relay_retried");
        if (e.what === "relay_sent") this.workload("cross_region_message");
        this.note(`relay: ${e.what}`);
      },
    };
  }

  private gatewayHost(id: string, node: SimNode): GatewayHost {
    const k = this.kernel;
    const region = this.regionOf(node);
    return new GatewayHost(
      {
        // A send or ack is appended to its conversation's ordering region's log (core/region).
        log: region === null ? new LogSim(k, node, this.log, () => 0) : new RegionalLogSim(k, node, this.logs, (c) => this.orderingRegion(c)),
        pending: new PendingStoreSim(k, node, this.pending, region),
        sessions: new SessionStoreSim(k, node, this.sessionsOf(node.region), region),
        presence: new PresenceSim(k, node, this.presence, SIM_EPOCH_MS),
        directory: new DirectorySim(k, node, this.directory),
        link: new GatewayLinkSim(k, node, (gid) => this.gatewayTarget(gid)),
        // Media IDs the workload "uploaded" (schedule.ts), with their uploader.
        media: { isUploadedBy: (media_id, user_id) => SyncPromise.resolved(this.media.get(media_id) === user_id) },
        clock: node.clock,
        timers: node.timers,
      },
      { gateway_id: id, limits: this.limits, call_timeout_ms: CALL_TIMEOUT_MS, session_ttl_ms: 3 * this.limits.heartbeatIntervalMs, variant: this.options.gateway_variant },
      {
        effect: (_connection, effect, phase) => {
          if (effect.type === "read_pending_conversation") this.recovery("gateway_conversation_read");
          if (effect.type === "read_pending_page" && effect.after === null && phase === "live") this.recovery("gateway_resync");
          if (effect.type === "read_pending_page" && effect.after !== null) this.workload("backlog_several_pages");
          // Connection IDs are "<user>-d<n>#<seq>@<gateway>" (see connect()).
          if (effect.type === "check_media") this.workload(this.media.get(effect.media_id) === _connection.split("#")[0]!.replace(/-d\d+$/, "") ? "media_message" : "media_not_owned");
          // A device subscribes with its whole watch list, so a list of the cap's length is a
          // connection watching exactly the cap.
          if (effect.type === "presence_subscribe" && effect.user_ids.length === this.limits.presenceSubscriptionsPerConnectionMax) this.workload("presence_at_cap");
          if (effect.type === "send_frame" && effect.frame.event === "error" && effect.frame.data.code === "TOO_MANY_SUBSCRIPTIONS") this.workload("presence_over_cap_refused");
          if (effect.type === "send_frame" && effect.frame.event === "error" && effect.frame.data.code === "RATE_LIMITED" && phase !== "closed") {
            this.workload("frames_rate_limited_open");
          }
          if (effect.type === "send_frame" && effect.frame.event === "new_message") {
            this.deliveredFrames++;
            if (phase === "syncing") this.recovery("pending_replayed_on_connect");
          }
        },
      },
    );
  }

  deliveredFrames = 0;
  /** Push notifications the push service accepted, to whom (invariant 9 judges them). */
  readonly pushes: PushEvent[] = [];

  private gatewayTarget(gateway_id: string): { node: SimNode; receive(d: readonly import("../core/model.js").Delivery[]): void } | null {
    const slot = this.gateways.find((g) => g.id === gateway_id);
    if (slot === undefined) return null;
    return { node: slot.node, receive: (d) => slot.host.receive(d) };
  }

  private startRouter(slot: RouterSlot): void {
    const k = this.kernel;
    const node = slot.node;
    slot.incarnation++;
    slot.member_id = `rt-${slot.index}-${slot.incarnation}`;
    const stale_ms = (): number => (k.fires("router_stale", 0.5) ? 500 + k.svc.int(5_000) : 0);
    const region = this.regionOf(node);
    const host = new RouterHost(
      {
        log: new LogSim(k, node, this.logs[node.region]!, stale_ms, region),
        messages: new MessageStoreSim(k, node, this.messages, region),
        // Remote members' entries go to this region's outbox, for the relay (sim/regions.ts).
        pending: region === null ? new PendingStoreSim(k, node, this.pending) : new RouterPendingSim(k, node, this.pending, region, this.outboxes[region]!, (u) => this.homeOf(u), () => this.relays[region]?.ring()),
        directory: new DirectorySim(k, node, this.directory),
        sessions: new SessionStoreSim(k, node, this.sessionsOf(node.region), region),
        link: new GatewayLinkSim(k, node, (gid) => this.gatewayTarget(gid)),
        push: new PushSim(k, node, (target, notification) => {
          // Push tokens are "hook-<user>" (see build()).
          const user = this.users.find((u) => `hook-${u.user_id}` === target.token);
          if (user !== undefined) this.pushes.push({ user_id: user.user_id, conversation_id: notification.conversation_id, message_id: notification.message_id, from: notification.from, at: this.kernel.loop.now });
          if (user !== undefined && user.devices.every((d) => !d.connected)) this.workload("push_to_offline_user");
        }),
        clock: node.clock,
        timers: node.timers,
      },
      {
        router_id: slot.member_id,
        machine: (slot.index * 97 + slot.incarnation) % 1024,
        limits: this.limits,
        push_preview_chars: 0,
        variant: this.options.router_variant,
        group: ROUTER_GROUP,
        member_id: slot.member_id,
        call_timeout_ms: CALL_TIMEOUT_MS,
        poll_wait_ms: 50,
      },
      {
        observed: (what) => {
          if (what === "send_retry_answered") this.recovery("router_send_retry_answered");
          if (what === "send_redelivered") this.recovery("router_send_redelivered");
          if (what === "send_audience_restored") this.recovery("router_send_audience_restored");
          if (what === "commit_fenced") this.recovery("router_commit_fenced");
          if (what === "effect_retried") this.recovery("router_effect_retried");
        },
        polled: (records) => {
          if (this.options.trace && records.length > 0) {
            this.note(`router ${slot.member_id} polled ${records.map((r) => `${r.partition}:${r.offset}@g${r.generation}`).join(" ")}`);
          }
        },
        effect: (effect) => {
          if (this.options.trace && effect.type === "call") {
            const c = effect.call;
            if (c.type === "load_message") this.note(`router ${slot.member_id} loads ${c.message_id} for an ack (job ${effect.job})`);
            if (c.type === "apply_ack") this.note(`router ${slot.member_id} removes pending ${c.pending_remove.message_id} for ${c.pending_remove.device_id}`);
            if (c.type === "persist") this.note(`router ${slot.member_id} persists ${c.message.message_id} (${c.message.content}) for ${c.pending.length} devices`);
            if (c.type === "persist" && c.claim !== null) this.note(`router ${slot.member_id} orders ${c.claim.client_msg_id.slice(0, 8)} at ${c.claim.position.partition}:${c.claim.position.offset} as ${c.claim.message_id} above ${c.claim.prev_message_id ?? "nothing"}`);
            if (c.type === "load_floor") this.note(`router ${slot.member_id} loads the floor of ${c.conversation_id}`);
            if (c.type === "commit") this.note(`router ${slot.member_id} commits ${c.offsets.map((o) => `${o.partition}:${o.offset}`).join(",")} gen ${c.generation}`);
          }
          // Crash at any step of handling a record: before a call, before a commit, mid-batch.
          if (effect.type === "call" && this.kernel.fires("router_crash", 0.002)) {
            this.note(`router ${slot.member_id} crashes before ${effect.call.type}`);
            this.crashRouter(slot);
          }
        },
      },
    );
    slot.host = host;
    host.start();
    this.note(`router ${slot.member_id} starts`);
  }

  crashRouter(slot: RouterSlot, restart = true): void {
    if (!slot.node.alive) return;
    slot.node.crash();
    slot.host = null;
    const member = slot.member_id;
    const log = this.logs[slot.node.region]!;
    // The broker notices only when the member's session times out.
    this.kernel.loop.after(ROUTER_SESSION_TIMEOUT_MS, () => log.leave(ROUTER_GROUP, member, this.kernel.loop.now));
    if (restart) this.kernel.loop.after(500 + this.rng.int(5_000), () => this.restartRouter(slot));
  }

  restartRouter(slot: RouterSlot): void {
    // A lost region's processes come back together, when the region does (restoreRegion).
    if (slot.node.alive || this.kernel.isRegionDown(slot.node.region)) return;
    slot.node.restart();
    this.startRouter(slot);
  }

  crashGateway(slot: GatewaySlot, restart_after_ms: number | null): void {
    if (!slot.node.alive) return;
    this.note(`gateway ${slot.id} crashes`);
    slot.node.crash();
    for (const s of slot.sockets) s.kill(10 + this.rng.int(1_500));
    slot.sockets.clear();
    if (restart_after_ms !== null) this.kernel.loop.after(restart_after_ms, () => this.restartGateway(slot));
  }

  restartGateway(slot: GatewaySlot): void {
    if (slot.node.alive || this.kernel.isRegionDown(slot.node.region)) return;
    slot.node.restart();
    slot.draining = false;
    slot.host = this.gatewayHost(slot.id, slot.node);
    this.note(`gateway ${slot.id} restarts with empty memory`);
  }

  drainGateway(slot: GatewaySlot): void {
    if (!slot.node.alive || slot.draining) return;
    this.note(`gateway ${slot.id} drains`);
    slot.draining = true;
    slot.host.drain();
    // A deploy: the drained process exits and a new one starts.
    this.kernel.loop.after(2_000, () => {
      this.crashGateway(slot, 1_000 + this.rng.int(2_000));
    });
  }

  /**
   * A region is lost: every gateway, router and the relay there stop (connections drop,
   * memory is gone), its services answer nothing, and its session store comes back empty.
   * Its log, message store, pending store and outbox are durable: the processes restart
   * from them when the region returns.
   */
  loseRegion(region: number, for_ms: number): void {
    const until = this.kernel.loop.now + for_ms;
    this.note(`region ${region} is lost for ${for_ms} ms`);
    this.kernel.loseRegion(region, until);
    for (const g of this.gateways) if (g.node.region === region) this.crashGateway(g, null);
    for (const r of this.routers) if (r.node.region === region) this.crashRouter(r, false);
    const relay = this.relays[region];
    if (relay != null && relay.node.alive) relay.node.crash();
    this.sessionsOf(region).flush();
    this.kernel.loop.schedule(until, () => this.restoreRegion(region));
  }

  /** The region's processes start again (also at heal, for any still down). */
  restoreRegion(region: number): void {
    if (this.kernel.isRegionDown(region)) return;
    for (const g of this.gateways) if (g.node.region === region && !g.node.alive) this.restartGateway(g);
    for (const r of this.routers) if (r.node.region === region && !r.node.alive) this.restartRouter(r);
    const relay = this.relays[region];
    if (relay != null && !relay.node.alive) {
      relay.node.restart();
      const fresh = new RelaySim(relay.node, this.relayWorld(), region, this.layout.count, this.options.relay_variant);
      this.relays[region] = fresh;
      fresh.start();
      this.note(`region ${region} is back`);
    }
  }

  /** Joins and leaves during the run, in virtual time, for the history's membership windows. */
  readonly membership_changes: { group_id: string; user_id: string; kind: "join" | "leave"; at: number }[] = [];

  /** A member joins or leaves a group now (the directory's write, as the REST API makes it). */
  changeMembership(group_id: string, user_id: string, kind: "join" | "leave"): void {
    const record = this.directory.groups.get(group_id);
    const g = this.groups.find((x) => x.group_id === group_id);
    if (record === undefined || g === undefined) return;
    const member = record.members.includes(user_id);
    if ((kind === "join") === member) return;
    record.members = kind === "join" ? [...record.members, user_id] : record.members.filter((m) => m !== user_id);
    g.members = [...record.members];
    this.membership_changes.push({ group_id, user_id, kind, at: this.kernel.loop.now });
    this.workload(kind === "join" ? "group_join" : "group_leave");
    this.note(`${user_id} ${kind === "join" ? "joins" : "leaves"} ${group_id}`);
  }

  // ---- devices ----------------------------------------------------------------------------

  connect(device: SimDevice): SimSocket | null {
    // A device connects in its user's home region (all gateways, with one region).
    const home = this.homeOf(device.user_id);
    const live = this.gateways.filter((g) => g.node.alive && !g.draining && !g.host.isDraining && g.node.region === home);
    if (live.length === 0) return null;
    const slot = this.rng.pick(live);
    const socket = new SimSocket(this.kernel, device, slot.node, slot.id);
    slot.sockets.add(socket);
    const connection_id = `${device.device_id}#${device.connection_seq + 1}@${slot.id}`;
    // The upgrade takes a round trip; the gateway then opens the connection.
    this.kernel.loop.after(
      this.kernel.latency(),
      slot.node.guard(() => {
        if (socket.dead) return;
        const connection = slot.host.open({ user_id: device.user_id, device_id: device.device_id, connection_id }, socket);
        if (connection === null) {
          socket.close(1001, "draining");
          return;
        }
        socket.connection = connection;
        socket.accepted();
      }),
    );
    return socket;
  }

  // ---- observation ------------------------------------------------------------------------

  /** Quiescence: every device connected with nothing unsent, the log consumed, nothing pending. */
  quiescent(): boolean {
    for (const log of this.logs) if (log.unfetched(ROUTER_GROUP) > 0) return false;
    for (const o of this.outboxes) if (o.size > 0) return false;
    for (const relay of this.relays) if (relay === null || !relay.node.alive || !relay.idle) return false;
    for (const r of this.routers) {
      const st = r.host?.routerState;
      if (st === undefined || !r.node.alive) return false;
      if (st.jobs.size > 0 || st.queues.size > 0 || st.committing) return false;
    }
    for (const d of this.devices) {
      if (!d.connected || !d.idle) return false;
      if (this.pendingCount(d.user_id, d.device_id) > 0) return false;
    }
    return true;
  }

  /**
   * What keeps the run from quiescence, and where: unfetched log records per partition,
   * routers down or busy (each job's record and the call it waits on), devices not connected
   * or with sends unanswered, and pending entries per device. Empty when quiescent().
   */
  stuck(entries_max = 40): string[] {
    const out: string[] = [];
    this.logs.forEach((log, region) => {
      const where = this.regional ? ` of region ${region}` : "";
      for (const u of log.unfetchedByPartition(ROUTER_GROUP)) out.push(`log${where}: partition ${u.partition} has ${u.count} records no router fetched, from offset ${u.from}`);
    });
    this.outboxes.forEach((o, region) => {
      if (o.size > 0) out.push(`outbox of region ${region}: ${o.size} operations not yet relayed`);
    });
    this.relays.forEach((relay, region) => {
      if (relay !== null && (!relay.node.alive || !relay.idle)) out.push(`relay of region ${region}: ${relay.node.alive ? relay.lanes.map((l) => `to ${l.to} ${l.phase}`).join(", ") : "down"}`);
    });
    for (const r of this.routers) {
      const st = r.host?.routerState;
      if (st === undefined || !r.node.alive) {
        out.push(`router ${r.member_id}: down`);
        continue;
      }
      for (const job of st.jobs.values()) {
        const rec = job.record;
        const waits = job.call === null ? "nothing" : job.retry_at_ms !== null ? `a retry of ${job.call.type} (attempt ${job.attempt})` : job.call.type;
        out.push(`router ${r.member_id}: job ${job.id} on ${rec.record.kind} ${rec.partition}:${rec.offset} in ${rec.record.conversation_id} waits on ${waits}`);
      }
      for (const [conversation, queue] of st.queues) out.push(`router ${r.member_id}: ${queue.length} records queued in ${conversation}`);
      if (st.committing) out.push(`router ${r.member_id}: a commit is in flight`);
    }
    for (const d of this.devices) {
      if (!d.connected) out.push(`device ${d.device_id}: not connected (client ${d.core.phase}, ${d.online ? "online" : "offline"})`);
      for (const [lane, items] of d.core.lanes) out.push(`device ${d.device_id}: ${items.length} sends unanswered in ${lane}, first ${items[0]?.client_msg_id ?? "?"}`);
    }
    const pending = new Map<string, string[]>();
    for (const p of this.pendingEntries()) {
      const key = `${p.user_id}/${p.device_id}`;
      const list = pending.get(key) ?? [];
      list.push(p.message_id);
      pending.set(key, list);
    }
    for (const [device, ids] of pending) {
      const where = this.devices.find((d) => `${d.user_id}/${d.device_id}` === device);
      const gateway = where?.socket?.gateway_id ?? "no gateway";
      out.push(`pending: ${ids.length} entries for ${device} (connected via ${gateway}): ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", ..." : ""}`);
    }
    return out.length > entries_max ? [...out.slice(0, entries_max), `... and ${out.length - entries_max} more`] : out;
  }

  pendingCount(user_id: string, device_id: string): number {
    return this.pending.users.get(user_id)?.get(device_id)?.live_count ?? 0;
  }

  pendingEntries(): { user_id: string; device_id: string; message_id: string }[] {
    const out: { user_id: string; device_id: string; message_id: string }[] = [];
    for (const [user_id, devices] of this.pending.users) {
      for (const [device_id, device] of devices) {
        for (const conv of device.conversations.values()) for (const id of conv.message_ids) out.push({ user_id, device_id, message_id: id });
      }
    }
    return out;
  }
}

export { FAULT_CLASSES };

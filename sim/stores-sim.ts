/**
 * The simulated stores: fault-injecting shells over the ports' state machines (core/ports/*-machine.ts,
 * core/pending, core/presence), which the memory adapters wrap too, every call
 * routed through Kernel.call so the seed's faults (timeouts that applied, failures, slow
 * nodes, outages) wrap them. The pending store and presence run the very cores the memory
 * adapters use (core/pending, core/presence).
 */
import type { DedupClaim, Delivery, IdCheckpoint, SendClaim, InboxEntry, PendingEntry, PushNotification, PushTarget, ReceiptRow, SessionEntry, StoredMessage } from "../core/model.js";
import { pendingCount, pendingInit, pendingList, pendingListConversation, pendingPut, pendingRemove, pendingRemoveDevice } from "../core/pending/index.js";
import type { PendingState } from "../core/pending/index.js";
import { presenceInit, presenceOf, presenceStep, type PresenceCoreState, type PresenceEffect } from "../core/presence/index.js";
import type { Directory, GroupRecord, UserRecord } from "../core/ports/directory.js";
import type { GatewayLink } from "../core/ports/gateway-link.js";
import type { MessageStore } from "../core/ports/message-store.js";
import type { PendingCursor, PendingStore } from "../core/ports/pending-store.js";
import type { Presence, PresenceListener, PresenceState } from "../core/ports/presence.js";
import type { Push } from "../core/ports/push.js";
import type { SessionStore } from "../core/ports/session-store.js";
import type { ReceiptStatus } from "../core/protocol/frames.js";
import { DirectoryMachine } from "../core/ports/directory-machine.js";
import { MessageStoreMachine } from "../core/ports/message-store-machine.js";
import { defaultLimits } from "../core/limits.js";
import type { Kernel, SimNode } from "./kernel.js";
import { SyncPromise } from "./sync-promise.js";

// ---- message store ----------------------------------------------------------------------

/**
 * The message store's one state machine (core/ports/message-store-machine.ts), which
 * MessageStoreMemory wraps too; the world reads its `ids` and `messages` for the checkers.
 */
export class MessageStoreState extends MessageStoreMachine {}

export class MessageStoreSim implements MessageStore {
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    readonly s: MessageStoreState,
    /** The region whose store this is (null in a single-region world). */
    private readonly region: number | null = null,
  ) {}

  private w<R>(op: () => R): SyncPromise<R> {
    return this.kernel.call(this.node, "store", op, "write", this.region);
  }
  private r<R>(op: () => R): SyncPromise<R> {
    return this.kernel.call(this.node, "store", op, "read", this.region);
  }

  putMessage(m: StoredMessage): SyncPromise<void> {
    return this.w(() => this.s.put(m));
  }
  getMessage(conversation_id: string, message_id: string): SyncPromise<StoredMessage | null> {
    return this.r(() => this.s.message(conversation_id, message_id));
  }
  history(conversation_id: string, before: string | null, limit: number): SyncPromise<StoredMessage[]> {
    return this.r(() => this.s.history(conversation_id, before, limit));
  }
  lastMessageId(conversation_id: string): SyncPromise<string | null> {
    return this.r(() => this.s.lastMessageId(conversation_id));
  }
  countAfter(conversation_id: string, after: string | null, excluding: string): SyncPromise<number> {
    return this.r(() => this.s.countAfter(conversation_id, after, excluding));
  }
  claim(claim: DedupClaim): SyncPromise<DedupClaim> {
    return this.w(() => this.s.claim(claim));
  }
  getClaim(sender_id: string, client_msg_id: string): SyncPromise<DedupClaim | null> {
    return this.r(() => this.s.getClaim(sender_id, client_msg_id));
  }
  putSendClaim(claim: SendClaim): SyncPromise<void> {
    return this.w(() => this.s.putSendClaim(claim));
  }
  findSendClaim(sender_id: string, conversation_id: string, client_msg_id: string): SyncPromise<SendClaim | null> {
    return this.r(() => this.s.findSendClaim(sender_id, conversation_id, client_msg_id));
  }
  putIdCheckpoints(checkpoints: readonly IdCheckpoint[]): SyncPromise<void> {
    return this.w(() => this.s.putIdCheckpoints(checkpoints));
  }
  idCheckpoint(partition: number, offset: number): SyncPromise<IdCheckpoint | null> {
    return this.r(() => this.s.idCheckpoint(partition, offset));
  }
  advanceReceipt(message_id: string, user_id: string, status: ReceiptStatus): SyncPromise<ReceiptStatus> {
    return this.w(() => this.s.advanceReceipt(message_id, user_id, status));
  }
  receipts(message_id: string): SyncPromise<ReceiptRow[]> {
    return this.r(() => this.s.receipts(message_id));
  }
  touchInbox(entry: InboxEntry): SyncPromise<void> {
    return this.w(() => this.s.touchInbox(entry));
  }
  markRead(user_id: string, conversation_id: string, message_id: string): SyncPromise<void> {
    return this.w(() => this.s.markRead(user_id, conversation_id, message_id));
  }
  readUpTo(user_id: string, conversation_id: string): SyncPromise<string | null> {
    return this.r(() => this.s.readUpTo(user_id, conversation_id));
  }
  inbox(user_id: string, before: string | null, limit: number): SyncPromise<InboxEntry[]> {
    return this.r(() => this.s.inbox(user_id, before, limit));
  }
  linkMedia(media_id: string, conversation_id: string): SyncPromise<void> {
    return this.w(() => this.s.linkMedia(media_id, conversation_id));
  }
  mediaConversations(media_id: string, after: string | null, limit: number): SyncPromise<string[]> {
    return this.r(() => this.s.mediaConversations(media_id, after, limit));
  }
  close(): SyncPromise<void> {
    return SyncPromise.resolved(undefined);
  }
}

// ---- pending store ----------------------------------------------------------------------

export class PendingStoreSim implements PendingStore {
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    readonly state: PendingState,
    /** The region whose store this is (null in a single-region world). */
    private readonly region: number | null = null,
  ) {}

  put(entries: readonly PendingEntry[]): SyncPromise<void> {
    return this.kernel.call(this.node, "store", () => void pendingPut(this.state, entries), "write", this.region);
  }
  list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): SyncPromise<PendingEntry[]> {
    return this.kernel.call(this.node, "store", () => pendingList(this.state, user_id, device_id, after, limit), "read", this.region);
  }
  listConversation(user_id: string, device_id: string, conversation_id: string, after: string | null, limit: number): SyncPromise<PendingEntry[]> {
    return this.kernel.call(this.node, "store", () => pendingListConversation(this.state, user_id, device_id, conversation_id, after, limit), "read", this.region);
  }
  remove(user_id: string, device_id: string, conversation_id: string, message_id: string): SyncPromise<void> {
    return this.kernel.call(this.node, "store", () => void pendingRemove(this.state, user_id, device_id, conversation_id, message_id), "write", this.region);
  }
  count(user_id: string, device_id: string): SyncPromise<number> {
    return this.kernel.call(this.node, "store", () => pendingCount(this.state, user_id, device_id), "read", this.region);
  }
  removeDevice(user_id: string, device_id: string): SyncPromise<void> {
    return this.kernel.call(this.node, "store", () => void pendingRemoveDevice(this.state, user_id, device_id), "write", this.region);
  }
  close(): SyncPromise<void> {
    return SyncPromise.resolved(undefined);
  }
}

export function pendingStateInit(): PendingState {
  return pendingInit();
}

// ---- session store (Redis) --------------------------------------------------------------

export class SessionState {
  /** user -> connection -> entry and its expiry (virtual ms). */
  readonly entries = new Map<string, Map<string, { entry: SessionEntry; expires_at: number }>>();
  readonly cache = new Map<string, { value: string; expires_at: number }>();

  lookup(user_id: string, now: number): SessionEntry[] {
    const conns = this.entries.get(user_id);
    if (conns === undefined) return [];
    const out: SessionEntry[] = [];
    for (const [id, e] of conns) {
      if (e.expires_at <= now) conns.delete(id);
      else out.push(e.entry);
    }
    return out;
  }

  /** Redis restarted without persistence: every key is gone. */
  flush(): void {
    this.entries.clear();
    this.cache.clear();
  }
}

export class SessionStoreSim implements SessionStore {
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    readonly s: SessionState,
    /** The region whose session store this is (null in a single-region world). */
    private readonly region: number | null = null,
  ) {}

  register(entry: SessionEntry, ttl_ms: number): SyncPromise<boolean> {
    return this.call(() => {
      // Keys that expire early or late.
      const skew = this.kernel.fires("session_ttl_skew", 0.05) ? (this.kernel.svc.float() < 0.5 ? 0.2 : 3) : 1;
      let conns = this.s.entries.get(entry.user_id);
      if (conns === undefined) this.s.entries.set(entry.user_id, (conns = new Map()));
      const before = conns.get(entry.connection_id);
      const missing = before === undefined || before.expires_at <= this.kernel.loop.now;
      conns.set(entry.connection_id, { entry, expires_at: this.kernel.loop.now + ttl_ms * skew });
      return missing;
    });
  }
  unregister(user_id: string, connection_id: string): SyncPromise<void> {
    return this.call(() => void this.s.entries.get(user_id)?.delete(connection_id));
  }
  lookup(user_ids: readonly string[]): SyncPromise<Map<string, SessionEntry[]>> {
    return this.call(() => {
      const out = new Map<string, SessionEntry[]>();
      const stale = this.kernel.fires("session_stale_read", 0.02);
      for (const u of user_ids) {
        const live = this.s.lookup(u, this.kernel.loop.now);
        // A stale replica may miss the newest registration.
        const seen = stale && live.length > 0 ? live.slice(0, -1) : live;
        if (seen.length > 0) out.set(u, seen);
      }
      return out;
    }, "read");
  }
  cacheGet(key: string): SyncPromise<string | null> {
    return this.call(() => {
      const e = this.s.cache.get(key);
      return e !== undefined && e.expires_at > this.kernel.loop.now ? e.value : null;
    }, "read");
  }
  cacheSet(key: string, value: string, ttl_ms: number): SyncPromise<void> {
    return this.call(() => void this.s.cache.set(key, { value, expires_at: this.kernel.loop.now + ttl_ms }));
  }
  close(): SyncPromise<void> {
    return SyncPromise.resolved(undefined);
  }

  private call<R>(op: () => R, what: "read" | "write" = "write"): SyncPromise<R> {
    return this.kernel.call(this.node, "sessions", op, what, this.region);
  }
}

// ---- directory (PostgreSQL) -------------------------------------------------------------

/**
 * The directory's one state machine (core/ports/directory-machine.ts), which DirectoryMemory
 * wraps too; the world seeds users, devices, push targets and groups straight into its maps.
 */
export class DirectoryState extends DirectoryMachine {}

export class DirectorySim implements Directory {
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    readonly s: DirectoryState,
  ) {}

  private r<R>(op: () => R): SyncPromise<R> {
    return this.kernel.call(this.node, "directory", op, "read");
  }

  createUser(user: UserRecord): SyncPromise<"ok" | "username_taken"> {
    return this.r(() => this.s.createUser(user));
  }
  userById(user_id: string): SyncPromise<UserRecord | null> {
    return this.r(() => this.s.users.get(user_id) ?? null);
  }
  userByName(username: string): SyncPromise<UserRecord | null> {
    return this.r(() => this.s.userByName(username));
  }
  missingUsers(user_ids: readonly string[]): SyncPromise<string[]> {
    return this.r(() => this.s.missingUsers(user_ids));
  }
  addDevice(user_id: string, device_id: string, created_at_ms = 0): SyncPromise<void> {
    return this.r(() => this.s.addDevice(user_id, device_id, created_at_ms));
  }
  devices(user_id: string): SyncPromise<string[]> {
    return this.r(() => [...(this.s.devices.get(user_id) ?? [])]);
  }
  removeDevice(user_id: string, device_id: string): SyncPromise<boolean> {
    return this.r(() => this.s.removeDevice(user_id, device_id));
  }
  devicesCreatedBefore(before_ms: number, limit: number): SyncPromise<{ user_id: string; device_id: string }[]> {
    return this.r(() => this.s.devicesCreatedBefore(before_ms, limit));
  }
  setPasswordHash(user_id: string, password_hash: string): SyncPromise<boolean> {
    return this.r(() => this.s.setPasswordHash(user_id, password_hash));
  }
  registerPush(user_id: string, target: PushTarget): SyncPromise<void> {
    return this.r(() => this.s.registerPush(user_id, target));
  }
  unregisterPush(user_id: string, target: PushTarget): SyncPromise<boolean> {
    return this.r(() => this.s.unregisterPush(user_id, target));
  }
  pushTargets(user_id: string): SyncPromise<PushTarget[]> {
    return this.r(() => this.s.push.get(user_id) ?? []);
  }
  createGroup(group: GroupRecord, member_ids: readonly string[]): SyncPromise<void> {
    return this.r(() => this.s.createGroup(group, member_ids));
  }
  group(group_id: string): SyncPromise<GroupRecord | null> {
    return this.r(() => this.s.groups.get(group_id)?.group ?? null);
  }
  members(group_id: string): SyncPromise<string[]> {
    return this.r(() => [...this.s.members(group_id)]);
  }
  isMember(group_id: string, user_id: string): SyncPromise<boolean> {
    return this.r(() => this.s.isMember(group_id, user_id));
  }
  addMembers(group_id: string, user_ids: readonly string[], members_max: number): SyncPromise<"ok" | "too_large" | "not_found"> {
    return this.r(() => this.s.addMembers(group_id, user_ids, members_max));
  }
  removeMember(group_id: string, user_id: string): SyncPromise<boolean> {
    return this.r(() => this.s.removeMember(group_id, user_id));
  }
  groupsOf(user_id: string): SyncPromise<string[]> {
    return this.r(() => this.s.groupsOf(user_id));
  }
  close(): SyncPromise<void> {
    return SyncPromise.resolved(undefined);
  }
}

// ---- presence (Redis keys with TTLs and pub/sub) ------------------------------------------

export class PresenceService {
  readonly state: PresenceCoreState;
  private readonly listeners = new Map<string, { node: SimNode; listener: PresenceListener }>();
  private next = 0;
  private timerAt: number | null = null;

  constructor(private readonly kernel: Kernel) {
    this.state = presenceInit({ ...defaultLimits(), presenceSubscriptionsPerConnectionMax: 1_000_000 });
  }

  /** Steps the core; notices to `answering` are its answer to a subscribe, which is not passed on. */
  step(input: Parameters<typeof presenceStep>[1], answering: string | null = null): void {
    const { effects } = presenceStep(this.state, input);
    this.apply(effects, answering);
  }

  subscribe(node: SimNode, user_id: string, listener: PresenceListener): string {
    const id = `sub-${this.next++}`;
    this.listeners.set(id, { node, listener });
    // The port promises a listener the transitions after it subscribed (as PresenceMemory and
    // Redis keep it): the status at this moment is `status`'s to answer, not a notice.
    this.step({ type: "subscribed", subscriber_id: id, user_ids: [user_id], now_ms: this.kernel.loop.now }, id);
    return id;
  }

  unsubscribe(id: string): void {
    this.listeners.delete(id);
    this.step({ type: "subscriber_gone", subscriber_id: id });
  }

  private apply(effects: PresenceEffect[], answering: string | null): void {
    for (const e of effects) {
      if (e.type === "notify_subscriber") {
        if (e.subscriber_id === answering) continue;
        const l = this.listeners.get(e.subscriber_id);
        if (l === undefined) continue;
        // Pub/sub messages travel to the subscribing gateway; Redis may drop them under loss.
        if (this.kernel.isCut("presence", l.node.name) || this.kernel.fires("net_loss", 0.01, this.kernel.net)) continue;
        const change = { ...e.change, last_seen_ms: e.change.last_seen_ms === null ? null : e.change.last_seen_ms };
        this.kernel.loop.after(this.kernel.latency(), l.node.guard(() => l.listener(change)));
      } else if (e.type === "set_timer") {
        if (this.timerAt === e.at_ms) continue;
        this.timerAt = e.at_ms;
        this.kernel.loop.schedule(e.at_ms, () => {
          if (this.timerAt !== e.at_ms) return;
          this.timerAt = null;
          this.step({ type: "time_passed", now_ms: this.kernel.loop.now });
        });
      }
    }
  }
}

/**
 * The presence port of one node. Presence times are virtual milliseconds inside the
 * service; last_seen is reported in the simulated epoch.
 */
export class PresenceSim implements Presence {
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    private readonly service: PresenceService,
    private readonly epoch_ms: number,
  ) {}

  heartbeat(user_id: string, connection_id: string, ttl_ms: number): SyncPromise<void> {
    return this.kernel.call(this.node, "presence", () =>
      this.service.step({ type: "heartbeat_received", user_id, connection_id, now_ms: this.kernel.loop.now, ttl_ms }),
    );
  }
  disconnect(user_id: string, connection_id: string): SyncPromise<void> {
    return this.kernel.call(this.node, "presence", () => this.service.step({ type: "connection_closed", user_id, connection_id, now_ms: this.kernel.loop.now }));
  }
  status(user_ids: readonly string[]): SyncPromise<Map<string, PresenceState>> {
    return this.kernel.call(
      this.node,
      "presence",
      () => {
        const out = new Map<string, PresenceState>();
        for (const u of user_ids) {
          const p = presenceOf(this.service.state, u, this.kernel.loop.now);
          out.set(u, { status: p.status, last_seen_ms: p.last_seen_ms === null ? null : p.last_seen_ms + this.epoch_ms });
        }
        return out;
      },
      "read",
    );
  }
  subscribe(user_id: string, listener: PresenceListener): SyncPromise<() => Promise<void>> {
    return this.kernel.call(this.node, "presence", () => {
      const wrapped: PresenceListener = (c) => listener({ ...c, last_seen_ms: c.last_seen_ms === null ? null : c.last_seen_ms + this.epoch_ms });
      const id = this.service.subscribe(this.node, user_id, wrapped);
      return () => this.kernel.call(this.node, "presence", () => this.service.unsubscribe(id)) as Promise<void>;
    });
  }
  close(): SyncPromise<void> {
    return SyncPromise.resolved(undefined);
  }
}

// ---- push and the gateway link ------------------------------------------------------------

export class PushSim implements Push {
  readonly sent: { target: PushTarget; notification: PushNotification }[] = [];
  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    /** Told of each notification the push service accepted (the simulator's coverage). */
    private readonly accepted: (target: PushTarget, notification: PushNotification) => void = () => undefined,
    /** Targets the provider refuses (a token it says is gone); none unless a test names some. */
    private readonly refused: (target: PushTarget) => boolean = () => false,
  ) {}
  notify(target: PushTarget, notification: PushNotification): SyncPromise<void> {
    return this.kernel.call(this.node, "push", () => {
      if (this.refused(target)) throw new Error(`push provider refused ${target.platform} target`);
      this.sent.push({ target, notification });
      this.accepted(target, notification);
    });
  }
}

/**
 * Router-to-gateway deliveries: RPCs with loss, duplication, reordering and partitions. As
 * the GatewayLink contract says, a delivery resolves only once the gateway took the batch
 * (its answer travels back after the batch arrived), and rejects when the gateway refused it
 * (its receive threw); a delivery whose request or gateway was lost stays unanswered, and the
 * caller's own timeout decides, as for any simulated service call. `copy` hands the gateway
 * a copy, as a wire would; the simulated world passes the batch itself (no simulated host
 * changes a batch it handed over, and a copy per delivery costs time), as the all-in-one node
 * does with GatewayLinkMemory.
 */
export class GatewayLinkSim implements GatewayLink {
  private readonly copy: boolean;

  constructor(
    private readonly kernel: Kernel,
    private readonly node: SimNode,
    private readonly gateways: (gateway_id: string) => { node: SimNode; receive(d: readonly Delivery[]): void } | null,
    options: { copy?: boolean } = {},
  ) {
    this.copy = options.copy ?? false;
  }

  deliver(gateway_id: string, deliveries: readonly Delivery[]): SyncPromise<void> {
    const promise = new SyncPromise<void>();
    const k = this.kernel;
    const target = this.gateways(gateway_id);
    if (target === null || !target.node.alive || k.isCut(this.node.name, gateway_id) || k.fires("net_loss", 0.01, k.net)) {
      // Refused or lost: the caller hears of it after a connect timeout.
      k.loop.after(50, this.node.guard(() => promise.reject(new Error(`gateway ${gateway_id} unreachable`))));
      return promise;
    }
    // Between regions (a `sent` receipt for a send forwarded from another region), the WAN.
    const wan = this.node.region === target.node.region ? 0 : k.crossing(this.node.region, target.node.region);
    if (wan === null) {
      k.loop.after(50, this.node.guard(() => promise.reject(new Error(`gateway ${gateway_id} cut off`))));
      return promise;
    }
    const batch = this.copy ? (structuredClone(deliveries) as readonly Delivery[]) : deliveries;
    const copies = k.fires("net_duplication", 0.02, k.net) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      k.loop.after(k.latency() + wan, target.node.guard(() => {
        let refused: unknown = null;
        try {
          target.receive(batch);
        } catch (error) {
          refused = error ?? new Error(`gateway ${gateway_id} refused the batch`);
        }
        // The first copy to arrive answers; a duplicate's answer finds the promise settled.
        if (promise.isSettled) return;
        k.loop.after(back, this.node.guard(() => (refused === null ? promise.resolve() : promise.reject(refused))));
      }));
    }
    const back = k.latency() + wan;
    return promise;
  }
}

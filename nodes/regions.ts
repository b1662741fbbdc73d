/**
 * Regions in the production nodes (core/region explains the design; sim/regions.ts is the
 * simulator's side of the same ports): each region has its own log topic, routers, relay,
 * gateways, session keys and pending/message keyspace; the directory (users' home regions,
 * groups' creators) is shared.
 *
 * - `HomeRegions`: a user's home region from the directory, cached for the life of the
 *   process (it is chosen at sign-up and never changes, so a cached answer is never stale);
 *   and a conversation's ordering region, decided by core's `orderingRegion`.
 * - `PartitionShiftedLog`: a region's log numbers its partitions from r × LOG_PARTITIONS (as
 *   the simulator's logs do), so a partition number, and the message-ID chain keyed by it,
 *   names one partition in the whole deployment. Kafka numbers a topic's from 0; this shifts.
 * - `RegionalLog` (the gateway's log): each record goes to its conversation's ordering
 *   region's topic; a send from a user homed elsewhere is forwarded by that append.
 * - `RegionalPending` (the router's pending store): entries for users homed here are written
 *   here; puts and removals for users homed elsewhere go to this region's outbox, in the same
 *   call, so the router's persist step completes only when both are durable here.
 */
import type { ConsumedRecord, LogPosition, LogRecord, PendingEntry } from "../core/model.js";
import { parseConversationId } from "../core/ids/conversation.js";
import type { CommitOutcome, Log, LogConsumer } from "../core/ports/log.js";
import type { PendingCursor, PendingStore } from "../core/ports/pending-store.js";
import { orderingRegion, type RelayOp } from "../core/region/index.js";

/** Bounds the caches: past this many users (or groups) the cache starts over. */
const CACHE_MAX = 200_000;

export type HomeLookup = {
  homeRegions(user_ids: readonly string[]): Promise<Map<string, string | null>>;
  group(group_id: string): Promise<{ creator_id: string } | null>;
};

export class HomeRegions {
  private readonly homes = new Map<string, string>();
  private readonly creators = new Map<string, string>();

  constructor(
    private readonly directory: HomeLookup,
    /** Every configured region: a recorded home outside it is treated as `fallback`. */
    private readonly regions: ReadonlySet<string>,
    /** HOME_REGION_DEFAULT: users with none recorded, unknown users, unknown groups. */
    readonly fallback: string,
  ) {}

  async homeOf(user_ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const u of user_ids) {
      const h = this.homes.get(u);
      if (h === undefined) missing.push(u);
      else out.set(u, h);
    }
    if (missing.length > 0) {
      const found = await this.directory.homeRegions(missing);
      if (this.homes.size + missing.length > CACHE_MAX) this.homes.clear();
      for (const u of missing) {
        const recorded = found.get(u);
        const home = recorded !== undefined && recorded !== null && this.regions.has(recorded) ? recorded : this.fallback;
        // Unknown users are not cached: they may be signing up right now.
        if (recorded !== undefined) this.homes.set(u, home);
        out.set(u, home);
      }
    }
    return out;
  }

  /** The region whose log and routers order `conversation_id` (core/region/home.ts). */
  async orderingRegionOf(conversation_id: string): Promise<string> {
    const ref = parseConversationId(conversation_id);
    if (ref === null) return this.fallback;
    let creator: string | null = null;
    let user: string;
    if (ref.kind === "direct") user = ref.user_ids[0];
    else {
      creator = this.creators.get(ref.group_id) ?? null;
      if (creator === null) {
        const group = await this.directory.group(ref.group_id);
        if (group === null) return this.fallback;
        creator = group.creator_id;
        if (this.creators.size >= CACHE_MAX) this.creators.clear();
        this.creators.set(ref.group_id, creator);
      }
      user = creator;
    }
    const homes = await this.homeOf([user]);
    return orderingRegion({ homeOf: (u) => homes.get(u) ?? this.fallback, creatorOf: () => creator, fallback: this.fallback }, conversation_id);
  }
}

/** A log whose partitions are numbered from `base` (Kafka's partition p is this log's base + p). */
export class PartitionShiftedLog implements Log {
  constructor(
    private readonly inner: Log,
    readonly base: number,
  ) {}

  get partition_count(): number {
    return this.inner.partition_count;
  }

  async append(key: string, record: LogRecord): Promise<LogPosition> {
    const at = await this.inner.append(key, record);
    return { partition: at.partition + this.base, offset: at.offset };
  }

  async consumer(group: string, member_id: string): Promise<LogConsumer> {
    const inner = await this.inner.consumer(group, member_id);
    const base = this.base;
    return {
      member_id: inner.member_id,
      async poll(max_records: number, wait_ms: number): Promise<ConsumedRecord[]> {
        const records = await inner.poll(max_records, wait_ms);
        return base === 0 ? records : records.map((r) => ({ ...r, partition: r.partition + base }));
      },
      commit(offsets: readonly LogPosition[], generation: number): Promise<CommitOutcome> {
        for (const o of offsets) if (o.partition < base) return Promise.resolve("fenced");
        return inner.commit(base === 0 ? offsets : offsets.map((o) => ({ partition: o.partition - base, offset: o.offset })), generation);
      },
      assignment(): readonly number[] {
        return inner.assignment().map((p) => p + base);
      },
      close: () => inner.close(),
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The gateway's log: every region's topic, each record appended to its ordering region's. */
export class RegionalLog implements Log {
  constructor(
    private readonly logs: ReadonlyMap<string, Log>,
    private readonly own: string,
    private readonly homes: HomeRegions,
  ) {
    if (!logs.has(own)) throw new Error(`RegionalLog: no log for this node's region ${own}`);
  }

  get partition_count(): number {
    return this.logs.get(this.own)!.partition_count;
  }

  async append(key: string, record: LogRecord): Promise<LogPosition> {
    const region = await this.homes.orderingRegionOf(record.conversation_id);
    const log = this.logs.get(region);
    if (log === undefined) throw new Error(`RegionalLog: conversation ${record.conversation_id} is ordered in ${region}, which has no log here`);
    return log.append(key, record);
  }

  consumer(group: string, member_id: string): Promise<LogConsumer> {
    return this.logs.get(this.own)!.consumer(group, member_id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.logs.values()].map((l) => l.close()));
  }
}

/** Where the router's operations for users homed elsewhere go (OutboxPostgres in production). */
export type Outbox = { append(dest: string, ops: readonly RelayOp[]): Promise<void> };

/** The router's pending store: local entries here, remote ones to this region's outbox. */
export class RegionalPending implements PendingStore {
  constructor(
    private readonly local: PendingStore,
    private readonly outbox: Outbox,
    private readonly region: string,
    private readonly homes: HomeRegions,
  ) {}

  async put(entries: readonly PendingEntry[]): Promise<void> {
    const homes = await this.homes.homeOf([...new Set(entries.map((e) => e.user_id))]);
    const here: PendingEntry[] = [];
    const away = new Map<string, PendingEntry[]>();
    for (const e of entries) {
      const home = homes.get(e.user_id) ?? this.homes.fallback;
      if (home === this.region) here.push(e);
      else {
        let list = away.get(home);
        if (list === undefined) away.set(home, (list = []));
        list.push(e);
      }
    }
    const writes: Promise<void>[] = [];
    if (here.length > 0 || away.size === 0) writes.push(this.local.put(here));
    for (const [dest, list] of away) writes.push(this.outbox.append(dest, [{ kind: "put", entries: list }]));
    // Both must be durable before the persist step counts as done; the first failure fails it.
    const results = await Promise.allSettled(writes);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  }

  async remove(user_id: string, device_id: string, conversation_id: string, message_id: string): Promise<void> {
    const home = (await this.homes.homeOf([user_id])).get(user_id) ?? this.homes.fallback;
    if (home === this.region) return this.local.remove(user_id, device_id, conversation_id, message_id);
    return this.outbox.append(home, [{ kind: "remove", user_id, device_id, conversation_id, message_id }]);
  }

  list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): Promise<PendingEntry[]> {
    return this.local.list(user_id, device_id, after, limit);
  }
  listConversation(user_id: string, device_id: string, conversation_id: string, after: string | null, limit: number): Promise<PendingEntry[]> {
    return this.local.listConversation(user_id, device_id, conversation_id, after, limit);
  }
  count(user_id: string, device_id: string): Promise<number> {
    return this.local.count(user_id, device_id);
  }
  removeDevice(user_id: string, device_id: string): Promise<void> {
    return this.local.removeDevice(user_id, device_id);
  }
  close(): Promise<void> {
    return this.local.close();
  }
}

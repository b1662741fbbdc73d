/**
 * PresenceRedis: the Presence port on Redis, shared by every gateway (core/ports/presence.ts
 * is the contract; presence-scripts.ts has the key layout and the scripts that decide).
 *
 * Rules:
 * - Every decision is a Lua script on the server, on the server's clock, so gateways with
 *   skewed clocks agree and a transition is published exactly once, by the script that made it.
 * - Lapses: Redis tells nobody when a TTL passes (keyspace notifications are fire-and-forget
 *   pub/sub, sent only when Redis gets round to deleting the key, lost while no gateway listens,
 *   and need CONFIG SET, which managed Redis often refuses). So every PresenceRedis runs a
 *   sweeper: every `sweep_interval_ms` it asks each bucket's lapse index for the users whose
 *   earliest lapse is due and settles each with a script; the index is persistent, so a lapse
 *   that no sweeper was running to see is settled by the next one that starts. Several
 *   sweepers settling the same user is harmless: the first publishes, the rest find nothing.
 *   A lapse is published at most one sweep interval (plus a round trip) late; `status` is
 *   exact at any time, since it compares lapse times with the server's now.
 * - Listeners: one dedicated subscriber connection per instance, one channel per user with
 *   listeners here, SUBSCRIBEd on its first listener and UNSUBSCRIBEd after its last. Notices
 *   come asynchronously, in publish order per user.
 * - Pub/sub is at most once: a subscriber connection that drops misses what was published
 *   meanwhile. After ioredis reconnects and resubscribes, each channel's status is read again
 *   and, if it differs from the last one its listeners heard, they hear the current status as a
 *   transition. Transitions alternate, so a notice with the status last heard is a stale
 *   repeat of that resync and is dropped; a flap while disconnected (offline then online) is
 *   not heard at all.
 * - Listeners must not throw; if one does, the others are still called and the error goes to
 *   `on_error` (delivery runs on the subscriber's event, there is no caller to hand it to).
 * - The command client is the caller's (see client.ts); close() stops the sweeper, waits for a
 *   sweep in flight and quits the subscriber connection, which it opened.
 */
import type { Cluster, Redis } from "ioredis";
import { isCluster, type RedisClient } from "./client.js";
import type { Presence, PresenceChange, PresenceListener, PresenceState } from "../../core/ports/presence.js";
import { assert } from "../../core/result.js";
import { PRESENCE_SCRIPTS, lapsesKey, presenceKeys, shardedScripts, type PresenceCommands, type PresenceKeys } from "./presence-scripts.js";

export type PresenceRedisOptions = {
  /** One server, or a Redis Cluster (then notices go over sharded pub/sub: SPUBLISH, SSUBSCRIBE). */
  readonly redis: RedisClient;
  /** Prepended to every key and channel; keep `{` and `}` out of it. Default "chat:". */
  readonly prefix?: string;
  /** Lapse-index buckets (hash tags); a deployment constant, since it places the keys. Default 16. */
  readonly buckets?: number;
  /** How often this process sweeps for lapses; null runs no sweeper here (tests only). Default 1000. */
  readonly sweep_interval_ms?: number | null;
  /** Users settled per bucket per round; a full round sweeps again at once, up to SWEEP_ROUNDS_MAX. */
  readonly sweep_batch_max?: number;
  /** Where sweep and delivery errors go; default process.emitWarning. */
  readonly on_error?: (error: unknown) => void;
  /** CLIENT SETNAME of the subscriber connection, to find it in CLIENT LIST. */
  readonly subscriber_name?: string;
};

const PREFIX_DEFAULT = "chat:";
const BUCKETS_DEFAULT = 16;
const BUCKETS_MAX = 16_384;
const SWEEP_INTERVAL_MS_DEFAULT = 1_000;
const SWEEP_BATCH_MAX_DEFAULT = 256;
/** After a Redis Cluster regroups its shard subscribers: when to re-read the listened-to users' status. */
const CLUSTER_RESYNC_DELAYS_MS = [200, 1_000];
/** Rounds one sweep may run back to back when buckets keep coming back full. */
const SWEEP_ROUNDS_MAX = 16;

type Channel = {
  readonly user_id: string;
  readonly listeners: Map<number, PresenceListener>;
  /** The status its listeners last heard, or read when it was subscribed; null until known. */
  last: PresenceState | null;
  /** Settles once SUBSCRIBE is acknowledged and the status has been read. */
  ready: Promise<void>;
};

export class PresenceRedis implements Presence {
  private readonly redis: RedisClient & PresenceCommands;
  /** On a Redis Cluster: SSUBSCRIBE / SPUBLISH instead of SUBSCRIBE / PUBLISH. */
  private readonly sharded: boolean;
  private readonly prefix: string;
  private readonly buckets: number;
  private readonly sweep_batch_max: number;
  private readonly on_error: (error: unknown) => void;
  private readonly subscriber_name: string | undefined;
  private subscriber: RedisClient | null = null;
  private subscriber_was_ready = false;
  /** channel name -> its listeners here. */
  private readonly channels = new Map<string, Channel>();
  private listeners_created = 0;
  private sweep_timer: NodeJS.Timeout | null = null;
  private sweep_in_flight: Promise<void> | null = null;
  private closed = false;

  constructor(options: PresenceRedisOptions) {
    this.prefix = options.prefix ?? PREFIX_DEFAULT;
    this.buckets = options.buckets ?? BUCKETS_DEFAULT;
    this.sweep_batch_max = options.sweep_batch_max ?? SWEEP_BATCH_MAX_DEFAULT;
    this.on_error = options.on_error ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error), "PresenceRedis"));
    this.subscriber_name = options.subscriber_name;
    assert(!/[{}]/.test(this.prefix), `PresenceRedis: prefix '${this.prefix}' must not contain { or }`);
    assert(Number.isInteger(this.buckets) && this.buckets >= 1 && this.buckets <= BUCKETS_MAX, `PresenceRedis: buckets must be 1..${BUCKETS_MAX}, got ${this.buckets}`);
    assert(Number.isInteger(this.sweep_batch_max) && this.sweep_batch_max >= 1, `PresenceRedis: sweep_batch_max must be a positive integer`);
    this.sharded = isCluster(options.redis);
    for (const script of this.sharded ? shardedScripts() : PRESENCE_SCRIPTS) options.redis.defineCommand(script.name, { numberOfKeys: script.keys, lua: script.lua });
    this.redis = options.redis as RedisClient & PresenceCommands;
    const sweep_interval_ms = options.sweep_interval_ms === undefined ? SWEEP_INTERVAL_MS_DEFAULT : options.sweep_interval_ms;
    if (sweep_interval_ms !== null) {
      assert(Number.isFinite(sweep_interval_ms) && sweep_interval_ms >= 1, `PresenceRedis: sweep_interval_ms must be >= 1, got ${sweep_interval_ms}`);
      this.sweep_timer = setInterval(() => this.sweepNow().catch((error: unknown) => this.report(error)), sweep_interval_ms);
      this.sweep_timer.unref();
    }
  }

  keysOf(user_id: string): PresenceKeys {
    return presenceKeys(this.prefix, this.buckets, user_id);
  }

  async heartbeat(user_id: string, connection_id: string, ttl_ms: number): Promise<void> {
    this.assertOpen("heartbeat");
    assert(Number.isFinite(ttl_ms) && ttl_ms > 0, `PresenceRedis.heartbeat: ttl_ms must be positive, got ${ttl_ms}`);
    const keys = this.keysOf(user_id);
    await this.redis.presenceHeartbeat(keys.user, keys.live, keys.lapses, keys.connection(connection_id), user_id, keys.channel, connection_id, Math.ceil(ttl_ms));
  }

  async disconnect(user_id: string, connection_id: string): Promise<void> {
    this.assertOpen("disconnect");
    const keys = this.keysOf(user_id);
    await this.redis.presenceDisconnect(keys.user, keys.live, keys.lapses, keys.connection(connection_id), user_id, keys.channel, connection_id);
  }

  /** One script per user, sent together (auto-pipelining: one round trip). */
  async status(user_ids: readonly string[]): Promise<Map<string, PresenceState>> {
    this.assertOpen("status");
    const asked = [...new Set(user_ids)];
    const replies = await Promise.all(
      asked.map((user_id) => {
        const keys = this.keysOf(user_id);
        return this.redis.presenceStatus(keys.user, keys.live);
      }),
    );
    const found = new Map<string, PresenceState>();
    asked.forEach((user_id, index) => found.set(user_id, decodeStatus(user_id, replies[index])));
    return found;
  }

  async subscribe(user_id: string, listener: PresenceListener): Promise<() => Promise<void>> {
    this.assertOpen("subscribe");
    const name = this.keysOf(user_id).channel;
    let channel = this.channels.get(name);
    if (channel === undefined) {
      const created: Channel = { user_id, listeners: new Map(), last: null, ready: Promise.resolve() };
      created.ready = this.openChannel(name, created);
      this.channels.set(name, created);
      channel = created;
    }
    const listener_id = ++this.listeners_created;
    channel.listeners.set(listener_id, listener);
    const stop = async (): Promise<void> => {
      if (!channel.listeners.delete(listener_id) || channel.listeners.size > 0) return;
      if (this.channels.get(name) !== channel) return;
      this.channels.delete(name);
      // Sent after this channel's SUBSCRIBE on the same connection, so Redis sees them in order.
      if (!this.closed && this.subscriber !== null) await this.unsubscribeFrom(this.subscriber, name);
    };
    try {
      await channel.ready;
    } catch (error) {
      // The channel never opened: forget it, so the next subscribe tries afresh.
      channel.listeners.delete(listener_id);
      if (this.channels.get(name) === channel) {
        this.channels.delete(name);
        // Best effort: the SUBSCRIBE may have gone through before the status read failed.
        if (this.subscriber !== null) this.unsubscribeFrom(this.subscriber, name).catch(() => undefined);
      }
      throw error;
    }
    return stop;
  }

  /** Runs one sweep now (the timer calls this); a sweep already running is joined, not doubled. */
  async sweepNow(): Promise<void> {
    if (this.closed) return;
    if (this.sweep_in_flight === null) {
      this.sweep_in_flight = this.sweep().finally(() => {
        this.sweep_in_flight = null;
      });
    }
    return this.sweep_in_flight;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweep_timer !== null) clearInterval(this.sweep_timer);
    this.sweep_timer = null;
    this.channels.clear();
    await this.sweep_in_flight?.catch(() => undefined);
    const subscriber = this.subscriber;
    this.subscriber = null;
    if (subscriber !== null) {
      await subscriber.quit().catch(() => undefined);
      subscriber.disconnect();
    }
  }

  private async sweep(): Promise<void> {
    for (let round = 0; round < SWEEP_ROUNDS_MAX && !this.closed; round++) {
      const buckets = Array.from({ length: this.buckets }, (_, bucket) => bucket);
      const due = await Promise.all(buckets.map((bucket) => this.redis.presenceDue(lapsesKey(this.prefix, bucket), this.sweep_batch_max)));
      const users = due.flat();
      if (users.length === 0) return;
      await Promise.all(
        users.map((user_id) => {
          const keys = this.keysOf(user_id);
          return this.redis.presenceSettle(keys.user, keys.live, keys.lapses, user_id, keys.channel);
        }),
      );
      if (due.every((found) => found.length < this.sweep_batch_max)) return;
    }
  }

  /** SUBSCRIBEs `name` and reads the status its listeners start from. */
  private async openChannel(name: string, channel: Channel): Promise<void> {
    const subscriber = this.subscriberConnection();
    if (this.sharded) await (subscriber as Cluster).ssubscribe(name);
    else await (subscriber as Redis).subscribe(name);
    const state = (await this.status([channel.user_id])).get(channel.user_id);
    // A notice that arrived meanwhile is newer than the read, or the same: it stands.
    if (channel.last === null && state !== undefined) channel.last = state;
  }

  private unsubscribeFrom(subscriber: RedisClient, name: string): Promise<unknown> {
    return this.sharded ? (subscriber as Cluster).sunsubscribe(name) : (subscriber as Redis).unsubscribe(name);
  }

  private subscriberConnection(): RedisClient {
    if (this.subscriber !== null) return this.subscriber;
    const connection_name = this.subscriber_name === undefined ? {} : { connectionName: this.subscriber_name };
    if (isCluster(this.redis)) {
      // One subscriber per master (ioredis' sharded subscriber group), moved along when slots
      // move (a failover). Notices published while a shard had no subscriber are gone, so after
      // each regrouping listeners are resynced. ioredis emits subscribersReady once it has sent
      // the SSUBSCRIBEs again but without waiting for their answers (and +subscriber even
      // before that: a resync then read a status older than a notice that was then lost, which
      // the failover test caught), so the resync runs twice: shortly after, and a second later.
      const subscriber = this.redis.duplicate(undefined, { shardedSubscribers: true, enableAutoPipelining: false, redisOptions: { ...this.redis.options.redisOptions, ...connection_name } });
      subscriber.on("smessage", (name: string, message: string) => this.onMessage(name, message));
      subscriber.on("error", (error: unknown) => this.report(error));
      subscriber.on("subscribersReady", () => {
        if (this.subscriber_was_ready) {
          for (const delay_ms of CLUSTER_RESYNC_DELAYS_MS) {
            setTimeout(() => {
              if (!this.closed && this.subscriber === subscriber) this.resync(subscriber).catch((error: unknown) => this.report(error));
            }, delay_ms).unref();
          }
        }
        this.subscriber_was_ready = true;
      });
      this.subscriber = subscriber;
      return subscriber;
    }
    const subscriber = this.redis.duplicate({
      enableAutoPipelining: false,
      ...connection_name,
    });
    subscriber.on("message", (name: string, message: string) => this.onMessage(name, message));
    subscriber.on("error", (error: unknown) => this.report(error));
    subscriber.on("ready", () => {
      if (this.subscriber_was_ready) this.resync(subscriber).catch((error: unknown) => this.report(error));
      this.subscriber_was_ready = true;
    });
    this.subscriber = subscriber;
    return subscriber;
  }

  /** After a reconnect: tells listeners the status they may have missed while it was down. */
  private async resync(subscriber: RedisClient): Promise<void> {
    // ioredis resubscribed before 'ready'; the PING answer means Redis has done it. (A
    // cluster's shard subscribers have resubscribed when they report +subscriber.)
    if (!isCluster(subscriber)) await subscriber.ping();
    // A channel still opening (no status read yet) reads its own after its subscribe: skip it,
    // or a listener could hear a status older than the notices that follow.
    const channels = [...this.channels.entries()].filter(([, channel]) => channel.last !== null);
    if (channels.length === 0 || this.closed) return;
    const found = await this.status(channels.map(([, channel]) => channel.user_id));
    for (const [name, channel] of channels) {
      const state = found.get(channel.user_id);
      if (state !== undefined && this.channels.get(name) === channel) this.deliver(channel, state);
    }
  }

  private onMessage(name: string, message: string): void {
    const channel = this.channels.get(name);
    if (channel === undefined || this.closed) return;
    let state: PresenceState;
    try {
      state = decodeNotice(message);
    } catch (error) {
      this.report(new Error(`PresenceRedis: notice on ${name} is malformed: ${(error as Error).message}`));
      return;
    }
    this.deliver(channel, state);
  }

  /** Hands `state` to the channel's listeners unless they last heard that very status. */
  private deliver(channel: Channel, state: PresenceState): void {
    if (channel.last !== null && channel.last.status === state.status) return;
    channel.last = state;
    const change: PresenceChange = { user_id: channel.user_id, ...state };
    for (const listener of [...channel.listeners.values()]) {
      try {
        listener(change);
      } catch (error) {
        this.report(error);
      }
    }
  }

  private report(error: unknown): void {
    if (!this.closed) this.on_error(error);
  }

  private assertOpen(method: string): void {
    assert(!this.closed, `PresenceRedis.${method}: called after close`);
  }
}

function decodeStatus(user_id: string, reply: [number, string | null] | [number] | undefined): PresenceState {
  assert(reply !== undefined, `PresenceRedis.status: no reply for ${user_id}`);
  if (reply[0] === 1) return { status: "online", last_seen_ms: null };
  const last_seen = reply[1] ?? null;
  return { status: "offline", last_seen_ms: last_seen === null ? null : Number(last_seen) };
}

/** A published notice; the scripts write it, so anything else is a bug somewhere, reported. */
function decodeNotice(message: string): PresenceState {
  const parsed = JSON.parse(message) as { status?: unknown; last_seen_ms?: unknown };
  if (parsed.status === "online") return { status: "online", last_seen_ms: null };
  if (parsed.status === "offline" && (parsed.last_seen_ms === null || typeof parsed.last_seen_ms === "number")) {
    return { status: "offline", last_seen_ms: parsed.last_seen_ms };
  }
  throw new Error(`unexpected ${message.slice(0, 80)}`);
}

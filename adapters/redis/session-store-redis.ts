/**
 * SessionStoreRedis: which gateway holds which device's connection, and the short dedup
 * cache, in Redis (core/ports/session-store.ts is the contract).
 *
 * Key layout (`prefix` defaults to "chat:"):
 * - `<prefix>session:{<user_id>}`: a hash per user, field = connection_id, value =
 *   `<expires_at_ms>|<{"device_id","gateway_id"} as JSON>`. The user ID is the hash tag, so a
 *   user's connections live in one slot.
 * - `<prefix>cache:<key>`: a string with a PX TTL, one per cache key.
 *
 * Rules:
 * - Time is the Redis server's (TIME), never a gateway's, so gateways with skewed clocks agree
 *   on what has expired. An entry is live while its expires_at_ms is after the server's now.
 * - Redis 7.0 has no per-field TTL, so each entry carries its own expiry and the hash key as a
 *   whole expires (PEXPIREAT) when its latest entry does: memory never outlives the live set by
 *   more than one TTL. `register` is one Lua script (atomic): it drops the user's lapsed
 *   fields, writes the entry and moves the key's expiry to the latest one it keeps.
 * - `lookup` of any number of users is one script per user (TIME and HGETALL on the node that
 *   holds the user), auto-pipelined: one write and one round trip per node; lapsed fields are
 *   filtered out here and dropped by the next register.
 * - `unregister` is an HDEL; the key's expiry stays where it is, which is only an upper bound.
 * - The cache is plain SET PX / GET, in its own key space, so it never meets the sessions.
 * - The client is the caller's: close() stops this adapter but does not quit the connection.
 */
import type { RedisClient } from "./client.js";
import type { SessionEntry } from "../../core/model.js";
import type { SessionStore } from "../../core/ports/session-store.js";
import { assert } from "../../core/result.js";

export type SessionStoreRedisOptions = {
  readonly redis: RedisClient;
  /** Prepended to every key; keep `{` and `}` out of it (they would make it the hash tag). */
  readonly prefix?: string;
};

const PREFIX_DEFAULT = "chat:";

/**
 * KEYS[1] the user's session hash; ARGV connection_id, entry JSON, ttl_ms. Answers 1 when
 * the connection had no live entry before (created), 0 when it was refreshed.
 */
const REGISTER_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[3])
local keep_until = expires
local created = 1
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] == ARGV[1] then
    local at = tonumber(string.match(fields[i + 1], '^(%d+)|'))
    if at ~= nil and at > now then created = 0 end
  else
    local at = tonumber(string.match(fields[i + 1], '^(%d+)|'))
    if at == nil or at <= now then
      redis.call('HDEL', KEYS[1], fields[i])
    elseif at > keep_until then
      keep_until = at
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', expires) .. '|' .. ARGV[2])
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', keep_until))
return created
`;

/**
 * KEYS[1] the user's session hash. Answers {seconds, microseconds, field, value, ...}: the
 * fields read on the clock of the node that holds them (the clock register used there).
 */
const LOOKUP_LUA = `
local t = redis.call('TIME')
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, t[2])
table.insert(reply, 1, t[1])
return reply
`;

type SessionCommands = {
  sessionRegister(key: string, connection_id: string, entry: string, ttl_ms: number): Promise<number>;
  sessionLookup(key: string): Promise<string[]>;
};

type StoredEntry = { readonly device_id: string; readonly gateway_id: string };

export class SessionStoreRedis implements SessionStore {
  private readonly redis: RedisClient & SessionCommands;
  private readonly prefix: string;
  private closed = false;

  constructor(options: SessionStoreRedisOptions) {
    this.prefix = options.prefix ?? PREFIX_DEFAULT;
    assert(!/[{}]/.test(this.prefix), `SessionStoreRedis: prefix '${this.prefix}' must not contain { or }`);
    options.redis.defineCommand("sessionRegister", { numberOfKeys: 1, lua: REGISTER_LUA });
    options.redis.defineCommand("sessionLookup", { numberOfKeys: 1, lua: LOOKUP_LUA });
    this.redis = options.redis as RedisClient & SessionCommands;
  }

  /** The hash that holds `user_id`'s connections. */
  sessionKey(user_id: string): string {
    return `${this.prefix}session:{${user_id}}`;
  }

  /** The string that holds cache `key`. */
  cacheKey(key: string): string {
    return `${this.prefix}cache:${key}`;
  }

  async register(entry: SessionEntry, ttl_ms: number): Promise<boolean> {
    this.assertOpen("register");
    assert(Number.isFinite(ttl_ms) && ttl_ms > 0, `SessionStoreRedis.register: ttl_ms must be positive, got ${ttl_ms}`);
    const stored: StoredEntry = { device_id: entry.device_id, gateway_id: entry.gateway_id };
    return (await this.redis.sessionRegister(this.sessionKey(entry.user_id), entry.connection_id, JSON.stringify(stored), Math.ceil(ttl_ms))) === 1;
  }

  async unregister(user_id: string, connection_id: string): Promise<void> {
    this.assertOpen("unregister");
    await this.redis.hdel(this.sessionKey(user_id), connection_id);
  }

  async lookup(user_ids: readonly string[]): Promise<Map<string, SessionEntry[]>> {
    this.assertOpen("lookup");
    const found = new Map<string, SessionEntry[]>();
    const asked = [...new Set(user_ids)];
    if (asked.length === 0) return found;
    // One script per user, sent together (auto-pipelining: one write per node). Not one
    // MULTI-less pipeline of TIME + HGETALLs: on a Redis Cluster the users live on different
    // nodes, and each user's expiries were written on its own node's clock.
    const replies = await Promise.all(asked.map((user_id) => this.redis.sessionLookup(this.sessionKey(user_id))));
    asked.forEach((user_id, index) => {
      const flat = replies[index];
      assert(flat !== undefined && flat.length >= 2 && flat.length % 2 === 0, "SessionStoreRedis.lookup: a reply is TIME then field/value pairs");
      const now_ms = serverMs([flat[0] as string, flat[1] as string]);
      const live: SessionEntry[] = [];
      for (let i = 2; i < flat.length; i += 2) {
        const entry = decodeEntry(user_id, flat[i] as string, flat[i + 1] as string, now_ms);
        if (entry !== null) live.push(entry);
      }
      if (live.length > 0) found.set(user_id, live);
    });
    return found;
  }

  async cacheGet(key: string): Promise<string | null> {
    this.assertOpen("cacheGet");
    return this.redis.get(this.cacheKey(key));
  }

  async cacheSet(key: string, value: string, ttl_ms: number): Promise<void> {
    this.assertOpen("cacheSet");
    assert(Number.isFinite(ttl_ms) && ttl_ms > 0, `SessionStoreRedis.cacheSet: ttl_ms must be positive, got ${ttl_ms}`);
    await this.redis.set(this.cacheKey(key), value, "PX", Math.ceil(ttl_ms));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`SessionStoreRedis.${method}: the store is closed`);
  }
}

/** TIME's [seconds, microseconds] as milliseconds. */
export function serverMs(time: readonly [string, string]): number {
  return Number(time[0]) * 1_000 + Math.floor(Number(time[1]) / 1_000);
}

/**
 * A stored field as an entry, or null if it has lapsed. A field this code did not write is a
 * corrupted store, not bad input from a peer: it throws, naming the key and field.
 */
function decodeEntry(user_id: string, connection_id: string, value: string, now_ms: number): SessionEntry | null {
  const bar = value.indexOf("|");
  const expires_at_ms = Number(value.slice(0, bar));
  if (bar <= 0 || !Number.isSafeInteger(expires_at_ms)) {
    throw new Error(`SessionStoreRedis.lookup: session of ${user_id}, connection ${connection_id}: value '${value.slice(0, 80)}' has no expiry`);
  }
  if (expires_at_ms <= now_ms) return null;
  const stored = JSON.parse(value.slice(bar + 1)) as Partial<StoredEntry>;
  if (typeof stored.device_id !== "string" || typeof stored.gateway_id !== "string") {
    throw new Error(`SessionStoreRedis.lookup: session of ${user_id}, connection ${connection_id}: device_id or gateway_id missing`);
  }
  return { user_id, device_id: stored.device_id, gateway_id: stored.gateway_id, connection_id };
}

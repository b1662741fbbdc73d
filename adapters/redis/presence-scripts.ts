/**
 * The Redis side of PresenceRedis: the key layout and the Lua scripts that change it. Every
 * change to a user's presence is one script, so it is atomic across gateways: of two gateways
 * that see the same lapse, one publishes the transition and the other finds nothing to do.
 *
 * Keys (`P` is the prefix, `B` the user's bucket, FNV-1a of the user ID modulo `buckets`):
 * - `P presence:{bB}:user:<user_id>` hash: `online` ("1"/"0", the status last published) and
 *   `last_seen` (ms: the last moment known online: latest heartbeat, or close of a live
 *   connection). Kept without TTL, so last_seen outlives the connections; one per user seen.
 * - `P presence:{bB}:live:<user_id>` sorted set: the user's live connections (beat within their
 *   TTL, not closed), score = lapse time in ms. The user is online while it holds a member
 *   whose score is after now. Redis deletes it when it empties.
 * - `P presence:{bB}:conn:<len(user_id)>:<user_id>:<connection_id>` string, PXAT = the
 *   connection's lapse time: `L|<lapse_ms>` while live, `C|<lapse_ms>` once closed. The closed
 *   form is the tombstone: a heartbeat still in flight when the connection closed finds it and
 *   changes nothing, until the connection would have lapsed (the presence core's rule).
 * - `P presence:{bB}:lapses` sorted set per bucket: user_id -> its earliest live lapse, for the
 *   sweepers. Every script that changes a user's live set rewrites the user's entry.
 * - Channel `P presence:{bB}:channel:<user_id>`: each online <-> offline transition of the user,
 *   published by the script that made it, as JSON {"status","last_seen_ms"} (PUBLISH on one
 *   server, SPUBLISH on a Redis Cluster: the channel shares the bucket's slot for that).
 * The bucket is the hash tag, so each script's keys share one slot (and one Redis Cluster
 * node): buckets spread users over up to `buckets` nodes.
 *
 * Rules inside the scripts:
 * - Time is the server's TIME, in ms; a connection with lapse time L is live while now < L
 *   (core/presence: lapse_ms > now). The value stored with each key carries L, so the 1 ms that
 *   Redis's own expiry (now > L) lags behind changes nothing.
 * - Every script first lapses what is due for its user (and publishes offline if that was the
 *   last connection), then applies its change (and publishes online/offline). So a heartbeat
 *   that arrives after a lapse no sweeper has handled yet yields offline then online, exactly
 *   as the presence core does; and a user's transitions alternate on its channel.
 * - Numbers leave Lua through string.format('%.0f'): Lua's own tostring switches to exponent
 *   notation past 14 digits.
 */

/** Helpers every script starts with. KEYS[1] user hash, KEYS[2] live set, KEYS[3] bucket lapses; ARGV[1] user_id, ARGV[2] channel. */
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ms(n) return string.format('%.0f', n) end
local function publish_if_changed()
  local online = redis.call('ZCARD', KEYS[2]) > 0
  local was = redis.call('HGET', KEYS[1], 'online') == '1'
  if online == was then return 0 end
  local message
  if online then
    redis.call('HSET', KEYS[1], 'online', '1')
    message = '{"status":"online","last_seen_ms":null}'
  else
    redis.call('HSET', KEYS[1], 'online', '0')
    message = '{"status":"offline","last_seen_ms":' .. (redis.call('HGET', KEYS[1], 'last_seen') or 'null') .. '}'
  end
  redis.call('PUBLISH', ARGV[2], message)
  return 1
end
local function lapse(now)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms(now))
  return publish_if_changed()
end
local function reindex()
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if first[2] then
    redis.call('ZADD', KEYS[3], first[2], ARGV[1])
  else
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
end
`;

/** + KEYS[4] the connection's key; ARGV[3] connection_id, ARGV[4] ttl_ms. Answers 1 if the beat counted, 0 if a tombstone refused it. */
export const HEARTBEAT_LUA = `${PRELUDE}
local now = now_ms()
lapse(now)
local record = redis.call('GET', KEYS[4])
if record then
  local kind, at = string.match(record, '^(%a)|(%d+)$')
  if kind == 'C' and tonumber(at) > now then
    reindex()
    return 0
  end
end
local lapse_at = ms(now + tonumber(ARGV[4]))
redis.call('SET', KEYS[4], 'L|' .. lapse_at, 'PXAT', lapse_at)
redis.call('ZADD', KEYS[2], lapse_at, ARGV[3])
redis.call('HSET', KEYS[1], 'last_seen', ms(now))
publish_if_changed()
reindex()
return 1
`;

/** + KEYS[4] the connection's key; ARGV[3] connection_id. Answers 1 if a live connection closed. */
export const DISCONNECT_LUA = `${PRELUDE}
local now = now_ms()
lapse(now)
local at = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not at then
  reindex()
  return 0
end
at = ms(tonumber(at))
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('SET', KEYS[4], 'C|' .. at, 'PXAT', at)
redis.call('HSET', KEYS[1], 'last_seen', ms(now))
publish_if_changed()
reindex()
return 1
`;

/** Lapses what is due for one user (a sweeper found it in its bucket). Answers 1 if it published. */
export const SETTLE_LUA = `${PRELUDE}
local changed = lapse(now_ms())
reindex()
return changed
`;

/** KEYS[1] user hash, KEYS[2] live set; read-only. Answers {1} if online, {0, last_seen or nil} if not. */
export const STATUS_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZCOUNT', KEYS[2], '(' .. string.format('%.0f', now), '+inf') > 0 then
  return {1}
end
return {0, redis.call('HGET', KEYS[1], 'last_seen')}
`;

/** KEYS[1] a bucket's lapses; ARGV[1] the most users to answer. Answers the users due now. */
export const DUE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now), 'LIMIT', 0, tonumber(ARGV[1]))
`;

/** The commands PresenceRedis defines on its client (ioredis defineCommand: EVALSHA, EVAL on NOSCRIPT). */
export type PresenceCommands = {
  presenceHeartbeat(user: string, live: string, lapses: string, conn: string, user_id: string, channel: string, connection_id: string, ttl_ms: number): Promise<number>;
  presenceDisconnect(user: string, live: string, lapses: string, conn: string, user_id: string, channel: string, connection_id: string): Promise<number>;
  presenceSettle(user: string, live: string, lapses: string, user_id: string, channel: string): Promise<number>;
  presenceStatus(user: string, live: string): Promise<[number, string | null] | [number]>;
  presenceDue(lapses: string, batch_max: number): Promise<string[]>;
};

export const PRESENCE_SCRIPTS: ReadonlyArray<{ readonly name: keyof PresenceCommands; readonly keys: number; readonly lua: string }> = [
  { name: "presenceHeartbeat", keys: 4, lua: HEARTBEAT_LUA },
  { name: "presenceDisconnect", keys: 4, lua: DISCONNECT_LUA },
  { name: "presenceSettle", keys: 3, lua: SETTLE_LUA },
  { name: "presenceStatus", keys: 2, lua: STATUS_LUA },
  { name: "presenceDue", keys: 1, lua: DUE_LUA },
];

/** Where one user's presence lives. */
export type PresenceKeys = {
  readonly user: string;
  readonly live: string;
  readonly lapses: string;
  readonly channel: string;
  connection(connection_id: string): string;
};

/** FNV-1a (32 bits) over the UTF-16 code units: a stable, cheap spread of users over buckets. */
export function bucketOf(user_id: string, buckets: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < user_id.length; i++) {
    hash ^= user_id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % buckets;
}

export function lapsesKey(prefix: string, bucket: number): string {
  return `${prefix}presence:{b${bucket}}:lapses`;
}

/** In the user's bucket's slot, so that a script may SPUBLISH to it on a Redis Cluster. */
export function channelOf(prefix: string, bucket: number, user_id: string): string {
  return `${prefix}presence:{b${bucket}}:channel:${user_id}`;
}

/**
 * The scripts for a Redis Cluster: the same, publishing with SPUBLISH (sharded pub/sub: the
 * notice stays on the shard that owns the channel's slot instead of crossing every node's bus).
 */
export function shardedScripts(): typeof PRESENCE_SCRIPTS {
  return PRESENCE_SCRIPTS.map((script) => ({ ...script, lua: script.lua.replaceAll("redis.call('PUBLISH'", "redis.call('SPUBLISH'") }));
}

export function presenceKeys(prefix: string, buckets: number, user_id: string): PresenceKeys {
  const bucket = bucketOf(user_id, buckets);
  const base = `${prefix}presence:{b${bucket}}`;
  return {
    user: `${base}:user:${user_id}`,
    live: `${base}:live:${user_id}`,
    lapses: lapsesKey(prefix, bucket),
    channel: channelOf(prefix, bucket, user_id),
    // The length keeps (user "a:b", connection "c") apart from (user "a", connection "b:c").
    connection: (connection_id) => `${base}:conn:${user_id.length}:${user_id}:${connection_id}`,
  };
}

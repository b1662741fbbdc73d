/**
 * LeaseStoreRedis: machine-number leases in Redis (core/ports/lease-store.ts is the contract;
 * core/lease decides when to call it).
 *
 * Keys: `<prefix>lease:{<pool>}:<n>` for each number n in [first, first + count), a string
 * holding the holder's token with a PX TTL. The pool name is the hash tag, so all of a pool's
 * keys share one slot and the scripts stay atomic on a Redis Cluster too; every key a script
 * touches is passed in KEYS.
 *
 * Rules:
 * - Expiry is Redis's own (PX, on the server's clock). A key that is there is held, whoever
 *   holds it: acquire takes only numbers whose key has gone, so a restarted holder (new token)
 *   waits out its own earlier lease like anyone's.
 * - acquire first looks for a lease already under the caller's token (an earlier acquire of
 *   this very holder that timed out on its side but applied): it takes that one back rather
 *   than leave a number idle for a TTL. Nobody else can have held it meanwhile.
 * - acquire then starts its scan at a random number, so that holders starting together do not all
 *   race for the same first key.
 * - renew and release compare the token first (one script each): a holder whose lease lapsed
 *   and was taken by another can neither extend nor delete the other's lease.
 */
import { randomInt } from "node:crypto";
import type { RedisClient } from "./client.js";
import { MACHINE_MAX } from "../../core/ids/snowflake.js";
import type { LeaseAcquireOutcome, LeaseStore } from "../../core/ports/lease-store.js";
import { assert } from "../../core/result.js";

export type LeaseStoreRedisOptions = {
  readonly redis: RedisClient;
  /** Prepended to every key; keep `{` and `}` out of it. */
  readonly prefix?: string;
  /** The pool's name: every issuer of one cluster shares one pool. */
  readonly pool?: string;
  /** The pool's numbers: [first, first + count), within 0..1023. */
  readonly first?: number;
  readonly count?: number;
};

/** KEYS: the pool's keys in number order; ARGV token, ttl_ms, start index. Returns {index} or {-1, soonest pttl}. */
const ACQUIRE_LUA = `
local n = #KEYS
local start = tonumber(ARGV[3])
local soonest = -1
for i = 0, n - 1 do
  if redis.call('GET', KEYS[i + 1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i + 1], ARGV[2])
    return {i}
  end
end
for i = 0, n - 1 do
  local index = (start + i) % n
  if redis.call('SET', KEYS[index + 1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {index} end
  local left = redis.call('PTTL', KEYS[index + 1])
  if left >= 0 and (soonest < 0 or left < soonest) then soonest = left end
end
return {-1, soonest}
`;

/** KEYS[1] the lease; ARGV token, ttl_ms. */
const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** KEYS[1] the lease; ARGV token. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type LeaseCommands = {
  leaseAcquire(...args: (string | number)[]): Promise<[number] | [number, number]>;
  leaseRenew(key: string, token: string, ttl_ms: number): Promise<number>;
  leaseRelease(key: string, token: string): Promise<number>;
};

export class LeaseStoreRedis implements LeaseStore {
  private readonly redis: RedisClient & LeaseCommands;
  private readonly keys: readonly string[];
  private readonly first: number;

  constructor(options: LeaseStoreRedisOptions) {
    const prefix = options.prefix ?? "chat:";
    const pool = options.pool ?? "machines";
    this.first = options.first ?? 0;
    const count = options.count ?? MACHINE_MAX + 1 - this.first;
    assert(!/[{}]/.test(prefix) && !/[{}]/.test(pool), `LeaseStoreRedis: prefix and pool must not contain { or }`);
    assert(Number.isInteger(this.first) && Number.isInteger(count) && this.first >= 0 && count >= 1 && this.first + count - 1 <= MACHINE_MAX, `LeaseStoreRedis: numbers [${this.first}, ${this.first + count}) must lie within 0..${MACHINE_MAX}`);
    this.keys = Array.from({ length: count }, (_, i) => `${prefix}lease:{${pool}}:${this.first + i}`);
    options.redis.defineCommand("leaseAcquire", { lua: ACQUIRE_LUA });
    options.redis.defineCommand("leaseRenew", { numberOfKeys: 1, lua: RENEW_LUA });
    options.redis.defineCommand("leaseRelease", { numberOfKeys: 1, lua: RELEASE_LUA });
    this.redis = options.redis as RedisClient & LeaseCommands;
  }

  async acquire(token: string, ttl_ms: number): Promise<LeaseAcquireOutcome> {
    assert(Number.isInteger(ttl_ms) && ttl_ms > 0, `LeaseStoreRedis.acquire: ttl_ms must be a positive integer, got ${ttl_ms}`);
    const reply = await this.redis.leaseAcquire(this.keys.length, ...this.keys, token, ttl_ms, randomInt(this.keys.length));
    if (reply[0] >= 0) return { acquired: true, machine: this.first + reply[0] };
    // -1: every key was there but none had a TTL (only a hand-made key does that); retry later.
    const soonest = reply[1] ?? -1;
    return { acquired: false, wait_ms: soonest < 0 ? ttl_ms : soonest };
  }

  async renew(machine: number, token: string, ttl_ms: number): Promise<boolean> {
    return (await this.redis.leaseRenew(this.keyOf(machine), token, ttl_ms)) === 1;
  }

  async release(machine: number, token: string): Promise<void> {
    await this.redis.leaseRelease(this.keyOf(machine), token);
  }

  async holders(): Promise<Map<number, string>> {
    const values = await this.redis.mget(...this.keys);
    const found = new Map<number, string>();
    values.forEach((token, i) => {
      if (token !== null) found.set(this.first + i, token);
    });
    return found;
  }

  private keyOf(machine: number): string {
    const key = this.keys[machine - this.first];
    assert(key !== undefined, `LeaseStoreRedis: machine ${machine} is not in this pool`);
    return key;
  }
}

/**
 * GatewayRegistryRedis: gateway discovery in Redis (core/ports/gateway-registry.ts is the
 * contract).
 *
 * Keys (`P` the prefix, `R` the registry's name, one per cluster; the hash tag keeps both in
 * one slot, so the scripts are atomic on a Redis Cluster too):
 * - `P gateways:{R}:lapse` sorted set: gateway_id -> lapse time (ms, Redis's clock).
 * - `P gateways:{R}:entry` hash: gateway_id -> the entry as JSON.
 *
 * Both keys expire with their latest entry (PEXPIRE NX, then GT), so a cluster that is gone
 * leaves nothing behind.
 *
 * Rules: time is the server's TIME, so gateways and routers with skewed clocks agree on what
 * has lapsed. Reading drops what has lapsed (both keys), so entries of gateways that died
 * never pile up. Entries are checked when read (another node wrote them): a malformed one is
 * reported and skipped, never trusted.
 */
import type { RedisClient } from "./client.js";
import { gatewayEntryProblem, type GatewayEntry, type GatewayRegistry } from "../../core/ports/gateway-registry.js";
import { assert } from "../../core/result.js";

export type GatewayRegistryRedisOptions = {
  readonly redis: RedisClient;
  readonly prefix?: string;
  /** The registry's name: gateways and routers of one cluster share it. */
  readonly registry?: string;
  /** Told of each malformed entry read (it is skipped). */
  readonly on_malformed?: (gateway_id: string, problem: string) => void;
};

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS lapse, entry; ARGV gateway_id, entry JSON, ttl_ms. */
const REGISTER_LUA = `${NOW}
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[3])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for i = 1, 2 do
  redis.call('PEXPIRE', KEYS[i], ARGV[3], 'NX')
  redis.call('PEXPIRE', KEYS[i], ARGV[3], 'GT')
end
return 1`;

/** KEYS lapse, entry; ARGV gateway_id. */
const DEREGISTER_LUA = `redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`;

/** KEYS lapse, entry. Returns the live entries' JSON. */
const LIVE_LUA = `${NOW}
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))`;

type RegistryCommands = {
  gatewayRegister(lapse: string, entry: string, gateway_id: string, json: string, ttl_ms: number): Promise<number>;
  gatewayDeregister(lapse: string, entry: string, gateway_id: string): Promise<number>;
  gatewayLive(lapse: string, entry: string): Promise<(string | null)[]>;
};

export class GatewayRegistryRedis implements GatewayRegistry {
  private readonly redis: RedisClient & RegistryCommands;
  private readonly lapse_key: string;
  private readonly entry_key: string;
  private readonly on_malformed: (gateway_id: string, problem: string) => void;

  constructor(options: GatewayRegistryRedisOptions) {
    const prefix = options.prefix ?? "chat:";
    const registry = options.registry ?? "gateways";
    assert(!/[{}]/.test(prefix) && !/[{}]/.test(registry), "GatewayRegistryRedis: prefix and registry must not contain { or }");
    this.lapse_key = `${prefix}gateways:{${registry}}:lapse`;
    this.entry_key = `${prefix}gateways:{${registry}}:entry`;
    this.on_malformed = options.on_malformed ?? (() => undefined);
    options.redis.defineCommand("gatewayRegister", { numberOfKeys: 2, lua: REGISTER_LUA });
    options.redis.defineCommand("gatewayDeregister", { numberOfKeys: 2, lua: DEREGISTER_LUA });
    options.redis.defineCommand("gatewayLive", { numberOfKeys: 2, lua: LIVE_LUA });
    this.redis = options.redis as RedisClient & RegistryCommands;
  }

  async register(entry: GatewayEntry, ttl_ms: number): Promise<void> {
    const problem = gatewayEntryProblem(entry);
    assert(problem === null, `GatewayRegistryRedis.register: ${problem}`);
    assert(Number.isInteger(ttl_ms) && ttl_ms > 0, `GatewayRegistryRedis.register: ttl_ms must be a positive integer, got ${ttl_ms}`);
    const json = JSON.stringify({ gateway_id: entry.gateway_id, address: entry.address, region: entry.region, load: entry.load });
    await this.redis.gatewayRegister(this.lapse_key, this.entry_key, entry.gateway_id, json, ttl_ms);
  }

  async deregister(gateway_id: string): Promise<void> {
    await this.redis.gatewayDeregister(this.lapse_key, this.entry_key, gateway_id);
  }

  async live(): Promise<GatewayEntry[]> {
    const found: GatewayEntry[] = [];
    for (const json of await this.redis.gatewayLive(this.lapse_key, this.entry_key)) {
      if (json === null) continue;
      let entry: GatewayEntry;
      try {
        entry = JSON.parse(json) as GatewayEntry;
      } catch {
        this.on_malformed("?", `not JSON: ${json.slice(0, 80)}`);
        continue;
      }
      const problem = entry === null || typeof entry !== "object" ? "not an object" : gatewayEntryProblem(entry);
      if (problem !== null) {
        this.on_malformed(String((entry as { gateway_id?: unknown } | null)?.gateway_id ?? "?"), problem);
        continue;
      }
      found.push({ gateway_id: entry.gateway_id, address: entry.address, region: entry.region, load: entry.load });
    }
    return found.sort((a, b) => (a.gateway_id < b.gateway_id ? -1 : a.gateway_id > b.gateway_id ? 1 : 0));
  }
}

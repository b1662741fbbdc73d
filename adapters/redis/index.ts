/**
 * The Redis adapters (production): sessions and the dedup cache, presence with pub/sub. Both
 * take an ioredis client opened with `connectRedis` (auto-pipelining on).
 */
export { connectRedis, connectRedisCluster, isCluster, redisClusterNodesFromEnv, redisUrlFromEnv, type RedisClient, type RedisConnectOptions } from "./client.js";
export { SessionStoreRedis, type SessionStoreRedisOptions } from "./session-store-redis.js";
export { PresenceRedis, type PresenceRedisOptions } from "./presence-redis.js";
export { LeaseStoreRedis, type LeaseStoreRedisOptions } from "./lease-store-redis.js";
export { GatewayRegistryRedis, type GatewayRegistryRedisOptions } from "./gateway-registry-redis.js";
export { publishSignOut, subscribeSignOuts, decodeSignOut, SIGN_OUT_CHANNEL } from "./sign-outs-redis.js";

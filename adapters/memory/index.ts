/**
 * The memory adapters: every port in process, for tests, the simulator's reference and the
 * parts of the embedded node that need no durability.
 */
export { BlobStoreMemory, type BlobStoreMemoryOptions } from "./blob-store-memory.js";
export { ClockManual, ClockSystem } from "./clock-memory.js";
export { DirectoryMemory } from "./directory-memory.js";
export { GatewayLinkMemory, type GatewayHandler } from "./gateway-link-memory.js";
export { LogMemory, type LogGroupSnapshot, type LogMemoryOptions } from "./log-memory.js";
export { MessageStoreMemory } from "./message-store-memory.js";
export { PushMemory, type PushMemoryOptions, type RecordedPush } from "./push-memory.js";
export { RandomSeeded, RandomSystem } from "./random-memory.js";
export { SessionStoreMemory, type SessionStoreMemoryOptions } from "./session-store-memory.js";
// The Presence and PendingStore memory adapters (presence-memory.ts, pending-store-memory.ts) are exported here by their author.
export { PresenceMemory, presenceSchedulerTimeout, type PresenceMemoryOptions, type PresenceScheduler } from "./presence-memory.js";
export { PendingStoreMemory } from "./pending-store-memory.js";
export { LeaseStoreMemory } from "./lease-store-memory.js";
export { GatewayRegistryMemory } from "./gateway-registry-memory.js";

/**
 * SessionStore: which gateway holds which device's connection (Redis in production), plus
 * the short-lived dedup cache in front of the durable dedup record.
 *
 * Contract (adapters/contract/session-store.contract.ts checks it):
 * - register adds or refreshes an entry that lives `ttl_ms` after its last register, and
 *   answers whether the entry was missing (new, expired, or lost with the store's keys):
 *   a gateway that finds its live connection's entry missing resyncs it at once, since
 *   routers could not find the device while it was gone.
 * - lookup answers the live entries of each user asked (users with none are absent).
 * - unregister removes one connection's entry; removing an absent one is fine.
 * - the cache keeps a value for `ttl_ms`; it may lose it earlier (it is only a cache), so
 *   nothing may depend on it for correctness.
 */
import type { SessionEntry } from "../model.js";

export interface SessionStore {
  /** true when there was no live entry for this connection before (it was created, not refreshed). */
  register(entry: SessionEntry, ttl_ms: number): Promise<boolean>;
  unregister(user_id: string, connection_id: string): Promise<void>;
  lookup(user_ids: readonly string[]): Promise<Map<string, SessionEntry[]>>;
  cacheGet(key: string): Promise<string | null>;
  cacheSet(key: string, value: string, ttl_ms: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * SessionStoreMemory: which gateway holds which device's connection, and the short-lived
 * dedup cache, in process (embedded node and tests). Time comes from the Clock it is given,
 * so tests and the simulator expire entries by moving a ClockManual.
 *
 * Rules:
 * - An entry is keyed by (user_id, connection_id) and lives while now < its last register
 *   plus its ttl_ms; registering again replaces the entry and restarts its TTL.
 * - Expired entries are invisible at once and dropped lazily: on lookup of their user, and by
 *   a sweep every `sweep_every_writes` writes, so that memory stays bounded by the live set.
 * - The cache holds at most `cache_entries_max` keys and drops the least recently set first;
 *   the port allows a cache to lose keys early, so eviction is correct, only slower.
 * - If the clock steps back, entries live longer; never shorter than their TTL.
 */
import type { SessionStore } from "../../core/ports/session-store.js";
import type { Clock } from "../../core/ports/clock.js";
import type { SessionEntry } from "../../core/model.js";
import { assert } from "../../core/result.js";

export type SessionStoreMemoryOptions = {
  readonly cache_entries_max?: number;
  readonly sweep_every_writes?: number;
};

const CACHE_ENTRIES_MAX_DEFAULT = 100_000;
const SWEEP_EVERY_WRITES_DEFAULT = 1_000;

type Expiring<T> = { readonly value: T; readonly expires_at_ms: number };

export class SessionStoreMemory implements SessionStore {
  private readonly clock: Clock;
  private readonly cache_entries_max: number;
  private readonly sweep_every_writes: number;
  /** user_id -> connection_id -> entry. */
  private readonly sessions = new Map<string, Map<string, Expiring<SessionEntry>>>();
  private readonly cache = new Map<string, Expiring<string>>();
  private writes_since_sweep = 0;
  private closed = false;

  constructor(clock: Clock, options: SessionStoreMemoryOptions = {}) {
    this.clock = clock;
    this.cache_entries_max = options.cache_entries_max ?? CACHE_ENTRIES_MAX_DEFAULT;
    this.sweep_every_writes = options.sweep_every_writes ?? SWEEP_EVERY_WRITES_DEFAULT;
    assert(Number.isInteger(this.cache_entries_max) && this.cache_entries_max > 0, "SessionStoreMemory: cache_entries_max must be a positive integer");
    assert(Number.isInteger(this.sweep_every_writes) && this.sweep_every_writes > 0, "SessionStoreMemory: sweep_every_writes must be a positive integer");
  }

  async register(entry: SessionEntry, ttl_ms: number): Promise<boolean> {
    this.assertOpen("register");
    assert(Number.isFinite(ttl_ms) && ttl_ms > 0, `SessionStoreMemory.register: ttl_ms must be positive, got ${ttl_ms}`);
    let connections = this.sessions.get(entry.user_id);
    if (connections === undefined) {
      connections = new Map();
      this.sessions.set(entry.user_id, connections);
    }
    const before = connections.get(entry.connection_id);
    const missing = before === undefined || before.expires_at_ms <= this.clock.now();
    connections.set(entry.connection_id, { value: { ...entry }, expires_at_ms: this.clock.now() + ttl_ms });
    this.wrote();
    return missing;
  }

  async unregister(user_id: string, connection_id: string): Promise<void> {
    this.assertOpen("unregister");
    const connections = this.sessions.get(user_id);
    if (connections === undefined) return;
    connections.delete(connection_id);
    if (connections.size === 0) this.sessions.delete(user_id);
  }

  async lookup(user_ids: readonly string[]): Promise<Map<string, SessionEntry[]>> {
    this.assertOpen("lookup");
    const now_ms = this.clock.now();
    const found = new Map<string, SessionEntry[]>();
    for (const user_id of user_ids) {
      const connections = this.sessions.get(user_id);
      if (connections === undefined) continue;
      const live: SessionEntry[] = [];
      for (const [connection_id, item] of connections) {
        if (item.expires_at_ms > now_ms) live.push({ ...item.value });
        else connections.delete(connection_id);
      }
      if (connections.size === 0) this.sessions.delete(user_id);
      if (live.length > 0) found.set(user_id, live);
    }
    return found;
  }

  async cacheGet(key: string): Promise<string | null> {
    this.assertOpen("cacheGet");
    const item = this.cache.get(key);
    if (item === undefined) return null;
    if (item.expires_at_ms > this.clock.now()) return item.value;
    this.cache.delete(key);
    return null;
  }

  async cacheSet(key: string, value: string, ttl_ms: number): Promise<void> {
    this.assertOpen("cacheSet");
    assert(Number.isFinite(ttl_ms) && ttl_ms > 0, `SessionStoreMemory.cacheSet: ttl_ms must be positive, got ${ttl_ms}`);
    // Delete first so that the key moves to the end of the Map's insertion order.
    this.cache.delete(key);
    this.cache.set(key, { value, expires_at_ms: this.clock.now() + ttl_ms });
    while (this.cache.size > this.cache_entries_max) {
      const oldest = this.cache.keys().next();
      if (oldest.done === true) break;
      this.cache.delete(oldest.value);
    }
    this.wrote();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sessions.clear();
    this.cache.clear();
  }

  /** Live session entries plus cache keys held now, expired ones included until swept. */
  sizeForTests(): { readonly sessions: number; readonly cache: number } {
    let sessions = 0;
    for (const connections of this.sessions.values()) sessions += connections.size;
    return { sessions, cache: this.cache.size };
  }

  private wrote(): void {
    this.writes_since_sweep++;
    if (this.writes_since_sweep < this.sweep_every_writes) return;
    this.writes_since_sweep = 0;
    this.sweep();
  }

  /** Drops every expired entry; O(entries), amortised over `sweep_every_writes` writes. */
  private sweep(): void {
    const now_ms = this.clock.now();
    for (const [user_id, connections] of this.sessions) {
      for (const [connection_id, item] of connections) {
        if (item.expires_at_ms <= now_ms) connections.delete(connection_id);
      }
      if (connections.size === 0) this.sessions.delete(user_id);
    }
    for (const [key, item] of this.cache) {
      if (item.expires_at_ms <= now_ms) this.cache.delete(key);
    }
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`SessionStoreMemory.${method}: the store is closed`);
  }
}

/**
 * Presence: who is online, from heartbeats with a TTL, and subscribe-on-view fan-out (Redis
 * keys with TTLs and pub/sub in production; the presence core in process).
 *
 * Contract (adapters/contract/presence.contract.ts checks it):
 * - A user is online while at least one of its connections has beaten within the TTL and
 *   has not disconnected; offline as soon as its last connection disconnects or lapses.
 * - A listener subscribed to a user hears every online/offline transition of that user
 *   after subscribing, and only those of users it subscribed to.
 * - last_seen is the time of the user's last transition to offline (null if never online).
 */
export type PresenceState = { readonly status: "online" | "offline"; readonly last_seen_ms: number | null };
export type PresenceChange = { readonly user_id: string } & PresenceState;
export type PresenceListener = (change: PresenceChange) => void;

export interface Presence {
  heartbeat(user_id: string, connection_id: string, ttl_ms: number): Promise<void>;
  disconnect(user_id: string, connection_id: string): Promise<void>;
  status(user_ids: readonly string[]): Promise<Map<string, PresenceState>>;
  /** Hears transitions of `user_id`; returns the function that stops listening. */
  subscribe(user_id: string, listener: PresenceListener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

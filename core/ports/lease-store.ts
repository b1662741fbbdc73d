/**
 * LeaseStore: where Snowflake issuers lease their machine numbers (core/lease is the holder's
 * side). A lease is a key per number holding the holder's token, with a TTL counted by the
 * store. The store never hands out a number whose key is still there, whoever holds it.
 */

export type LeaseAcquireOutcome =
  | { readonly acquired: true; readonly machine: number }
  /** Every number of the pool is held; the soonest lease runs out in `wait_ms` (if not renewed). */
  | { readonly acquired: false; readonly wait_ms: number };

export interface LeaseStore {
  /** Takes a free number of the pool for `token`, for `ttl_ms`; atomic across callers. */
  acquire(token: string, ttl_ms: number): Promise<LeaseAcquireOutcome>;
  /** Extends the lease by `ttl_ms` from now if the store still holds it under `token`; false otherwise. */
  renew(machine: number, token: string, ttl_ms: number): Promise<boolean>;
  /** Frees the number if it is still held under `token` (a stale release frees nothing). */
  release(machine: number, token: string): Promise<void>;
  /** Who holds what now (diagnostics and tests): number -> token. */
  holders(): Promise<Map<number, string>>;
}
